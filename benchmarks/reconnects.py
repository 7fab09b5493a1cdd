"""Forced reconnects alternating between two `serve --redis` processes: gaps, duplicates, drops.

    python benchmarks/reconnects.py                  # 1,000 reconnects
    python benchmarks/reconnects.py --reconnects 200 --json

A throw-away redis-server, two `tokenrace serve --redis` processes A and B (each with its own
database, as on two machines) and the simulator in this process. Runs are started on A, one after
another; a reader takes 1 to 6 events at a time and reconnects with ``Last-Event-ID``, alternating
B, A, B ... until ``--reconnects`` reconnects were made. For every run it checks: ids are exactly
1..n (a gap or a duplicate is counted), no ``reset``, the stream ends with ``end`` (a stream the
server closed early is a drop), each provider's streamed text equals its ``done`` text and the
simulator's answer, and the events are byte for byte those of one uninterrupted read on A.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cluster import RedisServer, Serve, cpu_pressure  # noqa: E402
from fanout import pct  # noqa: E402

PROMPT = "reconnect {n}"


async def read(session, url: str, last: str | None, k: int):
    """Up to ``k`` events (then disconnect); (events, ended, closed_early)."""
    from tokenrace.sse import SSEDecoder
    dec = SSEDecoder()
    headers = {"Last-Event-ID": last} if last is not None else {}
    events = []
    async with session.get(url, headers=headers) as resp:
        if resp.status != 200:
            raise RuntimeError(f"{url}: HTTP {resp.status}")
        async for chunk in resp.content.iter_any():
            for ev in dec.feed(chunk):
                events.append(ev)
                if ev.event == "end":
                    return events, True, False
                if len(events) >= k:
                    return events, False, False
    return events, False, True


async def main_async(args: argparse.Namespace) -> dict:
    import aiohttp

    from tokenrace.simulator import Profile, Simulator, answer_tokens

    profiles = (Profile("long", ttft_ms=20, itl_ms=6, answer_tokens=300),
                Profile("short", ttft_ms=10, itl_ms=9, answer_tokens=120))
    sim = Simulator(profiles)
    await sim.start()
    redis = RedisServer()
    home = tempfile.mkdtemp(prefix="tokenrace-reconnects-")
    cfg = Path(home) / "tokenrace.yaml"
    lines = ["providers:"]
    for p in profiles:
        lines += [f"  - name: {p.name}", "    kind: openai", f"    model: m-{p.name}",
                  f"    base_url: {sim.base_url(p.name, 'openai')}", "    retries: 0"]
    cfg.write_text("\n".join(lines) + "\ndefaults: {params: {max_tokens: 512}}\n")
    common = ("--port", "0", "-c", str(cfg), "--redis", redis.url, "--max-runs-per-minute", "100000",
              "--run-burst", "1000")
    a = b = None
    rng = random.Random(args.seed)
    out = {"reconnects": 0, "runs": 0, "events": 0, "gaps": 0, "duplicates": 0, "drops": 0, "resets": 0,
           "text_mismatches": 0, "not_identical": 0}
    times: list[float] = []
    try:
        a = await Serve.start(*common, "--db", os.path.join(home, "a.db"), home=home)
        b = await Serve.start(*common, "--db", os.path.join(home, "b.db"), home=home)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as s:
            while out["reconnects"] < args.reconnects:
                prompt = PROMPT.format(n=out["runs"])
                async with s.post(a.url + "api/runs", json={"prompt": prompt}) as r:
                    run_id = (await r.json())["id"]
                got, last, turn = [], None, 0
                while True:
                    server = (b, a)[turn % 2]
                    t0 = time.perf_counter()
                    evs, ended, early = await read(s, f"{server.url}api/runs/{run_id}/events", last,
                                                   rng.randint(1, 6))
                    times.append((time.perf_counter() - t0) * 1000)
                    got.extend(evs)
                    out["drops"] += early
                    if ended or early and not evs:
                        break
                    if evs:
                        last = evs[-1].id
                    turn += 1
                    out["reconnects"] += 1
                out["runs"] += 1
                out["events"] += len(got)
                ids = [int(e.id) for e in got]
                out["resets"] += sum(1 for e in got if e.event == "reset")
                out["duplicates"] += len(ids) - len(set(ids))
                out["gaps"] += sum(1 for x, y in zip(ids, ids[1:]) if y > x + 1) + (1 if ids and ids[0] != 1 else 0)
                full, _, _ = await read(s, f"{a.url}api/runs/{run_id}/events", None, 1 << 30)
                if [(e.id, e.event, e.data) for e in got] != [(e.id, e.event, e.data) for e in full]:
                    out["not_identical"] += 1
                dones = {json.loads(e.data)["provider"]: json.loads(e.data)["text"] for e in got if e.event == "done"}
                for p in profiles:
                    streamed = "".join(json.loads(e.data).get("text", "") for e in got
                                       if e.event == "delta" and json.loads(e.data)["provider"] == p.name)
                    want = "".join(answer_tokens(p, prompt, 512))
                    if not (streamed == dones.get(p.name) == want):
                        out["text_mismatches"] += 1
    finally:
        for srv in (a, b):
            if srv is not None:
                await srv.stop()
        redis.stop()
        await sim.stop()
    out.update(reconnect_p50_ms=pct(times, 50), reconnect_p99_ms=pct(times, 99), load_avg=os.getloadavg()[0],
               cpu_pressure_pct=cpu_pressure())
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reconnects", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    r = asyncio.run(main_async(args))
    if args.json:
        print(json.dumps(r, indent=2))
        return 0
    print(f"{r['reconnects']} forced reconnects alternating between two `serve --redis` processes over "
          f"{r['runs']} runs ({r['events']:,} events); {platform.machine()} x{os.cpu_count()}, "
          f"load average {r['load_avg']:.1f}, CPU pressure {r['cpu_pressure_pct']}% (PSI some avg60)")
    print(f"gaps {r['gaps']}, duplicates {r['duplicates']}, drops {r['drops']}, resets {r['resets']}, "
          f"text mismatches {r['text_mismatches']}, runs not byte-identical to one read {r['not_identical']}")
    print(f"one reconnect (connect, resume, read 1-6 events): p50 {r['reconnect_p50_ms']:.1f} ms, "
          f"p99 {r['reconnect_p99_ms']:.1f} ms")
    bad = sum(r[k] for k in ("gaps", "duplicates", "drops", "resets", "text_mismatches", "not_identical"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
