"""One client, measured in a process of its own: ``python -m tokenrace.bench.probe CLIENT URL ...``.

Calibration runs every client this way so that each one's CPU is its whole process (start-up
included, read by the parent with ``os.wait4``) and no client's work delays another's reads. It
prints one JSON document: per request the simulator's request id, the client's TTFT clock start
and each content chunk's (arrival ns, text); the loop lag meanwhile; its own CPU when it was ready
to send and when it was done (the steady-state part).

Clients: ``floor`` (:mod:`.floor`), ``tokenrace`` (the bench runner, records written as bench
writes them), ``naive`` (plain aiohttp, clock started before ``session.post()``, chunks stamped
after ``json.loads``).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Awaitable, Callable

PROMPT = "Calibrate the clock."
BODY: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": PROMPT}], "stream": True,
                        "max_tokens": 64}

Measured = tuple[str, int, list[tuple[int, str]], bool]     # (request id, clock start ns, chunks, ok)


def cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


async def closed_loop(level: int, n: int, fn: Callable[[int], Awaitable[None]]) -> None:
    """``level`` workers take requests 0..n-1 in turn (a finished request makes room for the next)."""
    it = iter(range(n))

    async def worker() -> None:
        for i in it:
            await fn(i)
    await asyncio.gather(*(worker() for _ in range(min(level, n))))


async def run_floor(urls: list[str], level: int, n: int, new_connections: bool, warmup: int) -> list[Measured]:
    from .floor import FloorConnection, raw_request

    reqs = [raw_request(u, BODY) for u in urls]
    out: list[Measured] = []
    taken: list[Any] = []

    async def worker_loop() -> None:
        conns: dict[int, FloorConnection] = {}
        while True:
            try:
                i = next(counter)
            except StopIteration:
                break
            host, port, raw = reqs[i % len(reqs)]
            key = i % len(reqs)
            conn = conns.get(key)
            if conn is None or new_connections:
                conn = FloorConnection(host, port)
                await conn.open()        # a new connection: set up before the clock starts, as t_sent does
                if not new_connections:
                    conns[key] = conn
            r = await conn.request(raw)
            taken.append(r)
            if new_connections:
                conn.close()
        for c in conns.values():
            c.close()

    for i in range(warmup):              # as bench's warmup: first-time costs out of the figures
        host, port, raw = reqs[i % len(reqs)]
        conn = FloorConnection(host, port)
        await conn.request(raw)
        conn.close()
    counter = iter(range(n))
    await asyncio.gather(*(worker_loop() for _ in range(min(level, n))))
    for r in taken:                      # parsing after the run, off the clock
        rid, chunks = r.result()
        out.append((rid, r.t_sent, chunks, bool(chunks)))
    return out


async def run_tokenrace(urls: list[str], level: int, n: int, warmup: int) -> list[Measured]:
    from ..config.models import ProviderConfig, Timeouts
    from ..events import ReasoningDelta, TextDelta
    from ..providers.http import HTTPClient
    from .report import RecordWriter
    from .runner import BenchRunner
    from .scenario import LoadStep, PromptSpec, Scenario

    provs = [ProviderConfig(name=f"tokenrace{i}" if i else "tokenrace", kind="openai", model="m", base_url=u,
                            retries=0, timeout=Timeouts(connect=10, read=60, total=300))
             for i, u in enumerate(urls)]
    reps = -(-n // len(provs))
    sc = Scenario(name="calibrate", source="<calibrate>", base_dir=Path.cwd(),
                  prompts=(PromptSpec(0, ({"role": "user", "content": PROMPT},), PROMPT, "<calibrate>"),),
                  steps=(LoadStep(0, "concurrency", level),), repetitions=reps, params={"max_tokens": 64},
                  warmup=warmup)
    out: list[Measured] = []
    with tempfile.TemporaryDirectory() as tmp:
        writer = RecordWriter(Path(tmp))            # as bench does: one JSON line per finished request

        def on_record(rec: dict, acc: Any, events: Any) -> None:
            writer.write(rec)
            chunks = [(e.t_ns, e.text) for e in events if type(e) in (TextDelta, ReasoningDelta) and e.text]
            # t_sent: where the record's ttft_ms counts from
            out.append((rec["request_id"], acc.t_sent or 0, chunks, rec["status"] == "ok"))

        async with HTTPClient() as client:
            runner = BenchRunner(sc, provs, client, keep_events=True, on_record=on_record)
            await runner.run()
        writer.close()
    return out


async def run_naive(urls: list[str], level: int, n: int, warmup: int) -> list[Measured]:
    import aiohttp

    out: list[Measured] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        async def one(i: int) -> None:
            t0 = time.perf_counter_ns()             # the naive clock starts before session.post()
            async with session.post(f"{urls[i % len(urls)]}/chat/completions", json=BODY) as resp:
                rid, stamps = resp.headers.get("x-sim-request-id", ""), []
                async for line in resp.content:
                    if not line.startswith(b"data:"):
                        continue
                    data = line[5:].strip()
                    if data == b"[DONE]":
                        break
                    obj = json.loads(data)
                    t = time.perf_counter_ns()      # ... and stamps after parsing
                    choices = obj.get("choices") or [{}]
                    text = (choices[0].get("delta") or {}).get("content")
                    if text:
                        stamps.append((t, text))
            out.append((rid, t0, stamps, bool(stamps)))
        for i in range(warmup):
            await one(i)
        del out[:]
        await closed_loop(level, n, one)
    return out


def _preload(client: str) -> None:
    if client == "tokenrace":
        from ..providers import http, stream  # noqa: F401
        from . import report, runner  # noqa: F401
    elif client == "naive":
        import aiohttp  # noqa: F401
    else:
        from . import floor  # noqa: F401


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    from .loop import LagMonitor, loop_name

    urls = args.url
    _preload(args.client)                # imports are start-up: "steady" counts from here
    lag = LagMonitor()
    lag.start()
    ready = cpu_s()
    t0 = time.perf_counter()
    got: list[Measured] = []
    for r in range(args.rounds):
        warmup = args.warmup if r == 0 else 0
        if args.client == "floor":
            got += await run_floor(urls, args.level, args.requests, args.new_connections, warmup)
        elif args.client == "tokenrace":
            got += await run_tokenrace(urls, args.level, args.requests, warmup)
        else:
            got += await run_naive(urls, args.level, args.requests, warmup)
    wall = time.perf_counter() - t0
    await lag.stop()
    return {"client": args.client, "level": args.level, "cpu_ready_s": ready, "cpu_done_s": cpu_s(), "wall_s": wall,
            "loop": loop_name(), "lag": lag.summary(),
            "requests": got}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tokenrace.bench.probe")
    ap.add_argument("client", choices=("floor", "tokenrace", "naive"))
    ap.add_argument("url", nargs="+", help="base URL(s) (…/v1); request i goes to url[i % len]")
    ap.add_argument("--level", type=int, default=1)
    ap.add_argument("--requests", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=1, help="requests first, not measured (as bench's warmup)")
    ap.add_argument("--new-connections", action="store_true", help="floor: a new connection per request")
    ap.add_argument("--out", metavar="FILE", help="write the JSON document here (default: standard output)")
    ap.add_argument("--loop", choices=("auto", "asyncio", "uvloop"), default="auto",
                    help="auto: uvloop when installed, except for the naive client")
    args = ap.parse_args(argv)
    from .loop import run as run_on
    use_uvloop = args.loop == "uvloop" or (args.loop == "auto" and args.client != "naive")
    doc = run_on(_main(args), uvloop=use_uvloop)
    text = json.dumps(doc, separators=(",", ":"))
    if args.out:
        Path(args.out).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
