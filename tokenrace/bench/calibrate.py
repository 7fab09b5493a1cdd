"""Calibration: the tool's own measurement error, measured against the simulator's truth.

The simulator timestamps every chunk right after writing it (``perf_counter_ns``, CLOCK_MONOTONIC on
Linux, so the figures compare across processes on one machine). For each concurrency level we run
closed-loop streams with tokenrace's engine, then the same number with a naive client (plain aiohttp
that starts its clock before ``session.post()`` and stamps each chunk after ``json.loads``), and
compare each client's figures with the truth:

- TTFT error: measured TTFT - the simulator's TTFT (request received -> first answer chunk written).
  Includes the request's own trip and anything the client does before the request leaves.
- ITL error: each measured gap between consecutive content chunks - the same gap at the simulator.
- first-chunk lag (tokenrace only): first answer chunk stamped by us - the same chunk written by the
  simulator, i.e. measured TTFT - (truth first-chunk send time - our t_sent).

Errors are reported as absolute values: median and p99 per level, with the event-loop lag seen meanwhile.
"""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Sequence

import aiohttp

from ..config.models import ProviderConfig, Timeouts
from ..errors import UsageError
from ..events import ReasoningDelta, TextDelta
from ..metrics import NS_PER_MS, summarize
from ..providers.http import HTTPClient
from .runner import BenchRunner, LagMonitor
from .scenario import LoadStep, PromptSpec, Scenario

if TYPE_CHECKING:      # loaded only when the simulator runs in this process
    from ..simulator import Simulator

# a provider-like pace (50 tokens/s per stream): at 256 streams that is 12,800 chunks/s for the client
PROFILE: dict[str, Any] = dict(name="calib", ttft_ms=50.0, itl_ms=20.0, jitter_ms=0.0, answer_tokens=16, tokens_per_chunk=1)
PROMPT = "Calibrate the clock."
MAX_LEVEL = 256


@dataclass
class Truth:
    t_received_ns: int
    ttft_ns: int | None
    chunks: list[tuple[int, str]]          # (t_ns written, text) of every content chunk


@dataclass
class CalRow:
    client: str                            # tokenrace | naive
    concurrency: int
    requests: int
    matched: int                           # requests compared with a truth
    ttft_err: dict[str, Any]               # summarize() of |error| in ms
    itl_err: dict[str, Any]
    to_received: dict[str, Any]            # the client's start of the request -> the simulator has it (ms)
    first_chunk_lag: dict[str, Any] | None
    lag: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def parse_levels(text: str) -> list[int]:
    try:
        levels = [int(x) for x in str(text).split(",") if x.strip()]
    except ValueError:
        raise UsageError(f"--concurrency {text!r}: expected numbers such as 1,16,64") from None
    if not levels or any(not 1 <= n <= MAX_LEVEL for n in levels):
        raise UsageError(f"--concurrency: each level must be 1..{MAX_LEVEL}")
    return levels


def _truth_of(d: Any) -> Truth:
    if isinstance(d, dict):
        return Truth(d["t_received_ns"], d.get("ttft_ns"),
                     [(c["t_ns"], c["text"] + c["reasoning"]) for c in d["chunks"] if c["tokens"]])
    return Truth(d.t_received_ns, d.ttft_ns, [(c.t_ns, c.text + c.reasoning) for c in d.chunks if c.tokens])


class _Sim:
    """The simulator, in this process (truth read directly) or in a child process (truth over HTTP)."""

    def __init__(self, in_process: bool) -> None:
        self.in_process, self.url = in_process, ""
        self.sim: Simulator | None = None
        self.proc: subprocess.Popen[str] | None = None

    async def start(self) -> None:
        if self.in_process:
            from ..simulator import Profile, Simulator
            self.sim = Simulator([Profile(**PROFILE)])
            await self.sim.start()
            self.url = self.sim.url
            return
        code = ("import asyncio,sys\nfrom tokenrace.simulator import Profile, Simulator\n"
                "async def main():\n    s = Simulator([Profile(**%r)]); await s.start(); print(s.url, flush=True)\n"
                "    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)\n    await s.stop()\n"
                "asyncio.run(main())\n" % (PROFILE,))
        self.proc = proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE, text=True,
                                            cwd=str(Path(__file__).resolve().parents[2]))
        assert proc.stdout is not None          # stdout=PIPE
        line = await asyncio.get_running_loop().run_in_executor(None, proc.stdout.readline)
        if not line.startswith("http"):
            raise RuntimeError("the simulator process did not start")
        self.url = line.strip()

    def base_url(self) -> str:
        return f"{self.url}/{PROFILE['name']}/v1"

    async def truths(self, session: aiohttp.ClientSession) -> dict[str, Truth]:
        if self.sim is not None:
            out = {t.request_id: _truth_of(t) for t in self.sim.truths}
            self.sim.clear_truths()
            return out
        async with session.get(f"{self.url}/_sim/requests?profile={PROFILE['name']}") as resp:
            data = await resp.json()
        return {d["request_id"]: _truth_of(d) for d in data}

    async def stop(self) -> None:
        if self.sim is not None:
            await self.sim.stop()
        if self.proc is not None:
            if self.proc.stdin is not None:     # stdin=PIPE: closing it tells the child to stop
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def _gap_errors(measured: Sequence[tuple[int, str]], truth: Truth) -> list[float] | None:
    """Per-gap ITL error (ms); None when the chunks cannot be paired one to one."""
    if len(measured) != len(truth.chunks) or "".join(t for _, t in measured) != "".join(t for _, t in truth.chunks):
        return None
    a, s = [t for t, _ in measured], [t for t, _ in truth.chunks]
    return [((a[i + 1] - a[i]) - (s[i + 1] - s[i])) / NS_PER_MS for i in range(len(a) - 1)]


async def _ours(sim: _Sim, client: HTTPClient, level: int, n: int) -> tuple[list, dict]:
    prov = ProviderConfig(name="tokenrace", kind="openai", model="m", base_url=sim.base_url(), retries=0,
                          timeout=Timeouts(connect=10, read=60, total=300))
    sc = Scenario(name="calibrate", source="<calibrate>", base_dir=Path.cwd(),
                  prompts=(PromptSpec(0, ({"role": "user", "content": PROMPT},), PROMPT, "<calibrate>"),),
                  steps=(LoadStep(0, "concurrency", level),), repetitions=n, params={"max_tokens": 64})
    got: list = []
    runner = BenchRunner(sc, [prov], client, keep_events=True,
                         on_record=lambda rec, acc, events: got.append((rec, acc, events)))
    res = await runner.run()
    return got, res.lag


async def _naive(url: str, session: aiohttp.ClientSession, level: int, n: int) -> tuple[list, dict]:
    body = {"model": "m", "messages": [{"role": "user", "content": PROMPT}], "stream": True, "max_tokens": 64}
    out: list = []

    async def one() -> None:
        t0 = time.perf_counter_ns()             # the naive clock starts before session.post()
        async with session.post(f"{url}/chat/completions", json=body) as resp:
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
        out.append((rid, t0, stamps))

    lag = LagMonitor()
    lag.start()
    try:
        await _closed_loop(level, n, one)
    finally:
        await lag.stop()
    return out, lag.summary()


async def _closed_loop(level: int, n: int, fn: Callable[[], Awaitable[None]]) -> None:
    left = [n]

    async def worker() -> None:
        while left[0] > 0:
            left[0] -= 1
            await fn()
    await asyncio.gather(*(worker() for _ in range(min(level, n))))


def _lag(d: dict) -> dict:
    return {k: d.get(k) for k in ("p50_ms", "p99_ms", "max_ms", "saturated")}


async def calibrate(levels: Sequence[int] = (1, 16, 64), *, naive: bool = True, min_requests: int = 20,
                    in_process: bool = False, progress: Callable[[str], None] | None = None) -> list[CalRow]:
    """Rows per level (tokenrace, then naive); ``min_requests`` per level, at least twice the level."""
    sim = _Sim(in_process)
    await sim.start()
    rows: list[CalRow] = []
    try:
        async with HTTPClient() as client, aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0)) as session:     # no pool cap: only the clock differs
            for level in levels:
                n = max(min_requests, 2 * level)
                if progress:
                    progress(f"concurrency {level}: {n} requests each client")
                got, lag = await _ours(sim, client, level, n)
                truths = await sim.truths(session)
                ttft, itl, first, trip = [], [], [], []
                for rec, acc, events in got:
                    tr = truths.get(rec["request_id"])
                    if tr is None or rec["status"] != "ok" or tr.ttft_ns is None or rec["ttft_ms"] is None:
                        continue
                    ttft.append(abs(rec["ttft_ms"] - tr.ttft_ns / NS_PER_MS))
                    trip.append((tr.t_received_ns - acc.t_sent) / NS_PER_MS)
                    first_answer = next(t for t, text in tr.chunks if text)
                    first.append(abs(rec["ttft_ms"] - (first_answer - acc.t_sent) / NS_PER_MS))
                    chunks = [(e.t_ns, e.text) for e in events if isinstance(e, (TextDelta, ReasoningDelta)) and e.text]
                    itl += [abs(x) for x in _gap_errors(chunks, tr) or ()]
                rows.append(CalRow("tokenrace", level, len(got), len(ttft), summarize(ttft), summarize(itl),
                                   summarize(trip), summarize(first), _lag(lag)))
                if not naive:
                    continue
                got_n, lag_n = await _naive(sim.base_url(), session, level, n)
                truths = await sim.truths(session)
                ttft, itl, trip = [], [], []
                for rid, t0, stamps in got_n:
                    tr = truths.get(rid)
                    if tr is None or tr.ttft_ns is None or not stamps:
                        continue
                    ttft.append(abs((stamps[0][0] - t0 - tr.ttft_ns) / NS_PER_MS))
                    trip.append((tr.t_received_ns - t0) / NS_PER_MS)
                    itl += [abs(x) for x in _gap_errors(stamps, tr) or ()]
                rows.append(CalRow("naive", level, len(got_n), len(ttft), summarize(ttft), summarize(itl),
                                   summarize(trip), None, _lag(lag_n)))
    finally:
        await sim.stop()
    return rows


def format_table(rows: Sequence[CalRow]) -> str:
    """A markdown table: absolute errors in ms against the simulator's truth."""
    def f(v: Any) -> str:
        return "–" if v is None else f"{v:.2f}"

    head = ("| concurrency | client | requests | TTFT err p50 | TTFT err p99 | ITL err p50 | ITL err p99 | "
            "start→sim p50 | start→sim p99 | first-chunk lag p99 | loop lag p99 | loop lag max |")
    lines = [head, "|" + "---:|---|" + "---:|" * 10]
    for r in rows:
        fc = f(r.first_chunk_lag["p99"]) if r.first_chunk_lag else "–"
        lines.append(f"| {r.concurrency} | {r.client} | {r.matched}/{r.requests} | {f(r.ttft_err['p50'])} | "
                     f"{f(r.ttft_err['p99'])} | {f(r.itl_err['p50'])} | {f(r.itl_err['p99'])} | "
                     f"{f(r.to_received['p50'])} | {f(r.to_received['p99'])} | {fc} | "
                     f"{f(r.lag['p99_ms'])} | {f(r.lag['max_ms'])} |")
    lines += ["", "All in ms. TTFT err, ITL err: |measured - truth|; truth TTFT = the simulator's request received -> "
              "first answer chunk written, truth ITL = each gap between chunks as written. start→sim: the "
              "client's TTFT clock start (ours: request sent; naive: before session.post()) -> the simulator "
              "has the request. first-chunk lag: our first-answer timestamp - that chunk's write time. "
              "loop lag: the client's event-loop lag meanwhile. naive = plain aiohttp, clock started before "
              "session.post(), chunks stamped after json.loads."]
    return "\n".join(lines)
