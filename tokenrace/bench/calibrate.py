"""Calibration: the tool's own measurement error, measured against the simulator's truth.

The simulator timestamps every chunk right after writing it (``perf_counter_ns``, CLOCK_MONOTONIC on
Linux, so the figures compare across processes on one machine). For each concurrency level we run
closed-loop streams with the floor (:mod:`.floor`: a raw Protocol that only stamps reads, the best a
Python client can do here), with tokenrace's engine as ``bench`` runs it, and with a naive client
(plain aiohttp that starts its clock before ``session.post()`` and stamps each chunk after
``json.loads``). Each client runs in a process of its own (:mod:`.probe`), so its CPU per request is
its whole process's (``os.wait4``, start-up included) and no client's work delays another's reads.
Every figure is shown beside the floor's at the same level. Each client first sends one request that is
not measured (as ``bench``'s warmup: a process's first-time costs are not the clock's error). Each
client's figures against the truth:

- TTFT error: measured TTFT - the simulator's TTFT (request received -> first answer chunk written).
  Includes the request's own trip and anything the client does before the request leaves.
- ITL error: each measured gap between consecutive content chunks - the same gap at the simulator.
- first-chunk lag (tokenrace only): first answer chunk stamped by us - the same chunk written by the
  simulator, i.e. measured TTFT - (truth first-chunk send time - our t_sent).

Errors are reported as absolute values: median and p99 per level, with the event-loop lag seen meanwhile.
CPU per request: the client process's user + system CPU over its requests, start-up included
("whole"), and from ready-to-send to done ("steady").
"""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Sequence

import aiohttp

from ..errors import UsageError
from ..metrics import NS_PER_MS, summarize

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
    client: str                            # floor | tokenrace | naive | a peer
    concurrency: int
    requests: int
    matched: int                           # requests compared with a truth
    ttft_err: dict[str, Any]               # summarize() of |error| in ms
    itl_err: dict[str, Any]
    to_received: dict[str, Any]            # the client's start of the request -> the simulator has it (ms)
    first_chunk_lag: dict[str, Any] | None
    lag: dict[str, Any]
    cpu_ms: float | None = None            # CPU per request, whole process (start-up included)
    cpu_steady_ms: float | None = None     # CPU per request, from ready to done
    loop: str = ""                         # the client's event loop (uvloop, asyncio)
    floor: dict[str, Any] = field(default_factory=dict)   # the floor's figures at this level, for beside

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


Measured = tuple[str, int, list, bool]      # (simulator request id, clock start ns, [(ns, text)], ok)
Peer = Callable[[str, int, int], Awaitable["PeerRun"]]


@dataclass
class PeerRun:
    """What a client measured at one level, and what it cost."""

    measured: list[Measured]
    cpu_s: float | None = None             # whole process
    steady_s: float | None = None
    lag: dict[str, Any] = field(default_factory=dict)
    loop: str = ""


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)   # start-up reads compiled modules, as an installed tool does
    return env


async def probe(client: str, urls: Sequence[str], level: int, n: int, *, rounds: int = 1,
                new_connections: bool = False, loop: str = "auto", warmup: int = 1, src: Path | None = None) -> PeerRun:
    """Run one client in a process of its own (:mod:`.probe`); its CPU from ``os.wait4`` (whole process).
    ``src``: another source tree of tokenrace to run (a before/after comparison)."""
    fd, out = tempfile.mkstemp(prefix="tokenrace-probe-", suffix=".json")
    os.close(fd)
    cmd = [sys.executable, "-m", "tokenrace.bench.probe", client, *urls, "--level", str(level), "--requests", str(n),
           "--rounds", str(rounds), "--loop", loop, "--warmup", str(warmup), "--out", out] + (["--new-connections"] if new_connections else [])

    env = _child_env()
    if src is not None:
        env["PYTHONPATH"] = str(src)

    def run() -> tuple[int, Any]:
        proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL,
                                cwd=str(src or Path(__file__).resolve().parents[2]))
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)     # reaped here, with its rusage
        return proc.returncode, usage

    try:
        code, usage = await asyncio.to_thread(run)
        if code != 0:
            raise RuntimeError(f"the {client} client exited with {code}")
        doc = json.loads(Path(out).read_text())
    finally:
        Path(out).unlink(missing_ok=True)
    measured = [(rid, t0, [tuple(c) for c in chunks], ok) for rid, t0, chunks, ok in doc["requests"]]
    return PeerRun(measured, usage.ru_utime + usage.ru_stime, doc["cpu_done_s"] - doc["cpu_ready_s"],
                   doc["lag"], doc["loop"])


def compare(client: str, level: int, run: PeerRun, truths: dict[str, Truth]) -> CalRow:
    """One client's figures against the simulator's truth."""
    ttft, itl, trip, first = [], [], [], []
    for rid, t0, chunks, ok in run.measured:
        tr = truths.get(rid)
        if tr is None or not ok or tr.ttft_ns is None or not chunks:
            continue
        ttft.append(abs((chunks[0][0] - t0 - tr.ttft_ns) / NS_PER_MS))
        trip.append((tr.t_received_ns - t0) / NS_PER_MS)
        first.append(abs(chunks[0][0] - tr.chunks[0][0]) / NS_PER_MS)
        itl += [abs(x) for x in _gap_errors(chunks, tr) or ()]
    n = len(run.measured) or 1
    return CalRow(client, level, len(run.measured), len(ttft), summarize(ttft), summarize(itl), summarize(trip),
                  summarize(first), _lag(run.lag),
                  None if run.cpu_s is None else round(run.cpu_s * 1000 / n, 3),
                  None if run.steady_s is None else round(run.steady_s * 1000 / n, 3), run.loop)


def _lag(d: dict) -> dict:
    return {k: d.get(k) for k in ("p50_ms", "p99_ms", "max_ms", "saturated")}


async def calibrate(levels: Sequence[int] = (1, 16, 64), *, naive: bool = True, min_requests: int = 20,
                    in_process: bool = False, progress: Callable[[str], None] | None = None,
                    floor_row: bool = False, peers: dict[str, Peer] | None = None) -> list[CalRow]:
    """Rows per level (tokenrace, naive, then any ``peers``; the floor first with ``floor_row``), each with
    the floor's figures beside it; ``min_requests`` per level and client, at least twice the level."""
    sim = _Sim(in_process)
    await sim.start()
    rows: list[CalRow] = []
    try:
        async with aiohttp.ClientSession() as session:
            url = sim.base_url()
            for level in levels:
                n = max(min_requests, 2 * level)
                clients: list[tuple[str, Peer]] = [("floor", lambda u, lv, k: probe("floor", [u], lv, k)),
                                                   ("tokenrace", lambda u, lv, k: probe("tokenrace", [u], lv, k))]
                if naive:
                    clients.append(("naive", lambda u, lv, k: probe("naive", [u], lv, k)))
                clients += list((peers or {}).items())
                level_rows = []
                for name, fn in clients:
                    if progress:
                        progress(f"concurrency {level}: {n} requests, {name}")
                    await sim.truths(session)                 # drop whatever came before
                    run = await fn(url, level, n)
                    level_rows.append(compare(name, level, run, await sim.truths(session)))
                floor = level_rows[0]
                for r in level_rows:
                    r.floor = {"ttft_p50": floor.ttft_err["p50"], "ttft_p99": floor.ttft_err["p99"],
                               "cpu_ms": floor.cpu_ms, "cpu_steady_ms": floor.cpu_steady_ms}
                rows += level_rows if floor_row else level_rows[1:]
    finally:
        await sim.stop()
    return rows


def format_table(rows: Sequence[CalRow]) -> str:
    """A markdown table: absolute errors in ms against the simulator's truth, each beside the floor's."""
    def f(v: Any) -> str:
        return "–" if v is None else f"{v:.2f}"

    def x(a: Any, b: Any) -> str:      # a ratio to the floor
        return f" ({a / b:.1f}×)" if a is not None and b else ""

    head = ("| concurrency | client | requests | TTFT err p50 (floor) | TTFT err p99 (floor) | ITL err p50 | ITL err p99 | "
            "start→sim p50 | first-chunk lag p99 | loop lag p99 | CPU/request whole (floor) | CPU/request steady |")
    lines = [head, "|---:|---|" + "---:|" * 10]
    for r in rows:
        fl = r.floor or {}
        fc = f(r.first_chunk_lag["p99"]) if r.first_chunk_lag else "–"
        lines.append(f"| {r.concurrency} | {r.client} | {r.matched}/{r.requests} | "
                     f"{f(r.ttft_err['p50'])} ({f(fl.get('ttft_p50'))}) | {f(r.ttft_err['p99'])} ({f(fl.get('ttft_p99'))}) | "
                     f"{f(r.itl_err['p50'])} | {f(r.itl_err['p99'])} | {f(r.to_received['p50'])} | {fc} | "
                     f"{f(r.lag['p99_ms'])} | {f(r.cpu_ms)} ({f(fl.get('cpu_ms'))}){x(r.cpu_ms, fl.get('cpu_ms'))} | "
                     f"{f(r.cpu_steady_ms)}{x(r.cpu_steady_ms, fl.get('cpu_steady_ms'))} |")
    lines += ["", "All in ms. TTFT err, ITL err: |measured - truth|; truth TTFT = the simulator's request received -> "
              "first answer chunk written, truth ITL = each gap between chunks as written. (floor): the floor "
              "client's figure at the same level, measured in the same run (a raw asyncio Protocol that only "
              "stamps reads: the best a Python client does on this machine). start→sim: the client's TTFT clock "
              "start (ours: request sent; naive: before session.post()) -> the simulator has the request. "
              "first-chunk lag: first content chunk stamped - that chunk's write time. loop lag: the client's "
              "event-loop lag meanwhile. CPU/request: the client process's user+system CPU per request, whole "
              "process with start-up (os.wait4), and steady (ready to done); each client in a process of its own. "
              "naive = plain aiohttp, clock started before session.post(), chunks stamped after json.loads."]
    return "\n".join(lines)
