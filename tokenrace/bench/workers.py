"""``load.workers: N | auto``: one bench plan over N processes, each with its own event loop (uvloop
where installed), connection pool and lag monitor; their records merged into one output.

The parent (:class:`WorkerPool`, which stands in for a :class:`~.runner.BenchRunner` for the session
and the progress display) starts ``python -m tokenrace.bench.workers FD`` N times and talks to each
over a private socket pair: length-prefixed pickles. It sends each worker the scenario, the
providers and its :class:`~.runner.Share` of the plan; before each step it waits for every worker,
then gives them one common start (``perf_counter_ns`` is system-wide, so a Poisson plan's arrival
times are the same in every process). Workers send each record as its request finishes, their lag
meanwhile, and their lag summary at the end; the parent says when any of them was saturated.

Workers start in a session of their own, so a terminal's Ctrl+C reaches only the parent, which
tells them to stop (what finished is kept, as with one process).
"""
from __future__ import annotations

import asyncio
import os
import pickle
import socket
import struct
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

from ..config.models import ProviderConfig
from ..metrics import StreamResult
from ..secrets import Redactor
from .loop import LAG_INTERVAL_S, LAG_WARN_P99_MS
from .runner import BenchResult, GroupStats, RecordHook, Share, record_warnings
from .scenario import LoadStep, Scenario

START_MARGIN_NS = 20_000_000        # a step starts this far after the go, so every worker has it in time
LAG_REPORT_S = 0.5
_HEAD = struct.Struct("!I")


def resolve_workers(sc: Scenario) -> int:
    """The number of worker processes ``load.workers`` asks for (``auto``: one per usable CPU, at
    most the largest closed-loop concurrency)."""
    if sc.workers != "auto":
        return int(sc.workers)
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:          # pragma: no cover - macOS, Windows
        cpus = os.cpu_count() or 1
    conc = [int(s.value) for s in sc.steps if s.kind == "concurrency"]
    return max(1, min([cpus] + ([max(conc)] if conc and len(conc) == len(sc.steps) else [])))


async def _send(writer: asyncio.StreamWriter, msg: Any) -> None:
    data = pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)
    writer.write(_HEAD.pack(len(data)) + data)
    await writer.drain()


async def _recv(reader: asyncio.StreamReader) -> Any:
    head = await reader.readexactly(_HEAD.size)
    return pickle.loads(await reader.readexactly(_HEAD.unpack(head)[0]))


class RecordMerger:
    """What a pool of measuring processes keeps: their records merged in arrival order, and the live
    figures of each provider and step (for the progress display)."""

    sc: Scenario
    providers: list[ProviderConfig]
    on_record: RecordHook | None
    records: list[dict]
    results: list[StreamResult]
    stats: dict[tuple[str, int], GroupStats]

    def init_stats(self) -> None:
        for step in self.sc.steps:
            for p in self.providers:
                self.stats[(p.name, step.index)] = GroupStats(self.sc.requests_per_step())
        for p in self.providers:
            self.stats[(p.name, -1)] = GroupStats(self.sc.warmup)

    def warmup_over(self) -> None:
        """Every worker is at the first step's gate: the warmup counts as done (its records may not come)."""
        for p in self.providers:
            st = self.stats[(p.name, -1)]
            st.done = max(st.done, st.total)

    def merge(self, rec: dict, result: dict) -> None:
        st = self.stats.get((rec["provider"], rec["step"] if rec["step"] is not None else -1))
        if st is not None:
            st.count(rec)
        self.records.append(rec)
        self.results.append(StreamResult.from_dict(result))
        if self.on_record is not None:
            self.on_record(rec, None, None)   # type: ignore[arg-type]   # no accumulator across processes


class PoolLag:
    """What the progress display asks of a runner's lag monitor: the worst worker's recent p99."""

    def __init__(self, count: int) -> None:
        self.recent = [None] * count  # type: list[float | None]

    def recent_p99(self, n: int = 50) -> float | None:
        vals = [v for v in self.recent if v is not None]
        return max(vals) if vals else None


@dataclass
class _Worker:
    index: int
    proc: subprocess.Popen[bytes]
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    at_gate: asyncio.Event = field(default_factory=asyncio.Event)
    gate_step: int = -1
    final: dict[str, Any] | None = None
    error: str | None = None


class WorkerPool(RecordMerger):
    """Runs a scenario over worker processes; the same surface as :class:`~.runner.BenchRunner`."""

    def __init__(self, scenario: Scenario, providers: Sequence[ProviderConfig], count: int, *,
                 defaults: dict[str, Any] | None = None, keep_warmup: bool = False,
                 on_record: RecordHook | None = None, redactor: Redactor | None = None,
                 lag_interval_s: float = LAG_INTERVAL_S, lag_warn_ms: float = LAG_WARN_P99_MS) -> None:
        names = [p.name for p in providers]
        if not providers or len(set(names)) != len(names):
            raise ValueError("a bench needs at least one provider and unique provider names")
        if count < 1:
            raise ValueError("load.workers must be at least 1")
        self.sc, self.providers, self.count = scenario, list(providers), count
        self.defaults, self.keep_warmup, self.on_record, self.redactor = defaults, keep_warmup, on_record, redactor
        self.lag_interval_s, self.lag_warn_ms = lag_interval_s, lag_warn_ms
        self.records: list[dict] = []
        self.results: list[StreamResult] = []
        self.stats: dict[tuple[str, int], GroupStats] = {}
        self.lag = PoolLag(count)
        self.step: LoadStep | None = None
        self.stopping = False
        self.workers: list[_Worker] = []
        self.t0_ns, self.t0_wall = time.perf_counter_ns(), time.time()

    def stop(self) -> None:
        """Stop now (Ctrl+C): every worker cancels its requests in flight and reports what finished."""
        if self.stopping:
            return
        self.stopping = True
        for w in self.workers:
            if w.final is None:
                asyncio.ensure_future(self._tell(w, ("stop",)))

    async def _tell(self, w: _Worker, msg: Any) -> None:
        try:
            await _send(w.writer, msg)
        except (ConnectionError, RuntimeError):      # the worker is gone: its end is reported
            pass

    async def run(self) -> BenchResult:
        self.t0_ns, self.t0_wall = time.perf_counter_ns(), time.time()
        self.init_stats()
        try:
            await self._start()
            readers = [asyncio.create_task(self._read(w)) for w in self.workers]
            gates = asyncio.create_task(self._gates())
            await asyncio.gather(*readers)
            gates.cancel()
        finally:
            await self._close()
        return self._result()

    async def _start(self) -> None:
        env = dict(os.environ)
        env.pop("PYTHONDONTWRITEBYTECODE", None)        # a worker's start-up reads compiled modules
        for k in range(self.count):
            mine, theirs = socket.socketpair()
            proc = subprocess.Popen([sys.executable, "-m", "tokenrace.bench.workers", str(theirs.fileno())],
                                    pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, env=env,
                                    start_new_session=True)
            theirs.close()
            reader, writer = await asyncio.open_unix_connection(sock=mine)
            w = _Worker(k, proc, reader, writer)
            self.workers.append(w)
            await _send(writer, {
                "scenario": self.sc, "providers": self.providers, "defaults": self.defaults,
                "keep_warmup": self.keep_warmup, "redactor": self.redactor, "share": Share(k, self.count),
                "t0": (self.t0_ns, self.t0_wall), "lag_interval_s": self.lag_interval_s,
                "lag_warn_ms": self.lag_warn_ms})
        if self.stopping:
            self.stopping = False
            self.stop()

    async def _gates(self) -> None:
        """Before each step: every live worker is at the gate, then one common start for all."""
        for step in self.sc.steps:
            live = [w for w in self.workers if w.final is None and w.error is None]
            for w in live:
                while w.gate_step < step.index and w.final is None and w.error is None:
                    w.at_gate.clear()
                    await w.at_gate.wait()
            if step.index == self.sc.steps[0].index:        # every worker at the first gate
                self.warmup_over()
            self.step = step
            start = time.perf_counter_ns() + START_MARGIN_NS
            for w in live:
                if w.final is None:
                    await self._tell(w, ("go", step.index, start))

    async def _read(self, w: _Worker) -> None:
        try:
            while True:
                msg = await _recv(w.reader)
                kind = msg[0]
                if kind == "rec":
                    self.merge(msg[1], msg[2])
                elif kind == "gate":
                    w.gate_step = msg[1]
                    w.at_gate.set()
                elif kind == "lag":
                    self.lag.recent[w.index] = msg[1]
                elif kind == "done":
                    w.final = msg[1]
                    break
                elif kind == "error":
                    w.error = msg[1]
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            w.error = w.error or "exited before it reported its end"
        finally:
            w.at_gate.set()                               # never leave the gate waiting on a gone worker

    async def _close(self) -> None:
        for w in self.workers:
            w.writer.close()
        for w in self.workers:
            try:
                await asyncio.wait_for(asyncio.to_thread(w.proc.wait), 10)
            except asyncio.TimeoutError:
                w.proc.kill()
                await asyncio.to_thread(w.proc.wait)

    def _result(self) -> BenchResult:
        lag, step_lag, warnings = merge_lag([(w.index, f"worker {w.index + 1} of {self.count}", w.final)
                                             for w in self.workers], len(self.sc.steps),
                                            self.lag_interval_s, self.lag_warn_ms, f"{self.count} workers")
        warnings += record_warnings(self.providers, self.records)
        for w in self.workers:
            if w.error:
                warnings.append(f"worker {w.index + 1} of {self.count} failed: {w.error}; its requests in flight "
                                f"are missing")
        partial = self.stopping or any(w.error or (w.final or {}).get("partial") for w in self.workers)
        return BenchResult(self.sc, [p.public() for p in self.providers], list(self.records), list(self.results),
                           lag, step_lag, bool(partial), self.t0_wall, time.time(), warnings)


def merge_lag(finals: Sequence[tuple[int | str, str, dict[str, Any] | None]], steps: int, interval_s: float,
              warn_ms: float, capacity: str) -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
    """Workers' lag summaries (``(id, label, final report or None)``) as one: the worst worker's
    figures, saturated when any was; and a warning for each saturated worker."""
    lags: list[dict[str, Any]] = [
        dict(final["lag"], worker=wid) if final else
        {"worker": wid, "samples": 0, "p50_ms": None, "p99_ms": None, "max_ms": None, "saturated": False,
         "interval_ms": interval_s * 1000} for wid, _label, final in finals]
    worst = max(lags, key=lambda d: d["p99_ms"] or -1.0)
    lag = dict(worst, saturated=any(d["saturated"] for d in lags), workers=lags)
    step_lag = []
    for i in range(steps):
        per = [s for _w, _l, final in finals if final for s in final["step_lag"] if s["step"] == i]
        if per:
            step_lag.append(dict(max(per, key=lambda d: d["p99_ms"] or -1.0), saturated=any(s["saturated"] for s in per)))
    warnings: list[str] = []
    for (_w, label, _f), d in zip(finals, lags):
        if d["saturated"]:
            warnings.append(f"{label}: its event loop lagged: p99 {d['p99_ms']:.1f} ms (max {d['max_ms']:.1f} ms) > "
                            f"{warn_ms:g} ms, so TTFT and ITL of its requests may be overstated by up to that much. "
                            f"The machine was busy, or the load is more than {capacity} can drive: lower it, or use "
                            f"more workers or a faster machine.")
    return lag, step_lag, warnings


# -- the worker process ----------------------------------------------------------------------

async def _worker(fd: int) -> None:
    from ..providers.http import HTTPClient
    from .runner import BenchRunner

    sock = socket.socket(fileno=fd)
    reader, writer = await asyncio.open_unix_connection(sock=sock)
    spec = await _recv(reader)
    go: dict[int, asyncio.Future[int]] = {}
    loop = asyncio.get_running_loop()

    async def gate(step: LoadStep) -> int:
        fut = go.setdefault(step.index, loop.create_future())
        await _send(writer, ("gate", step.index))
        return await fut

    def on_record(rec: dict, acc: Any, events: Any) -> None:
        res = runner.results[-1]            # appended just before this hook is called
        data = pickle.dumps(("rec", rec, res.to_dict()), protocol=pickle.HIGHEST_PROTOCOL)
        writer.write(_HEAD.pack(len(data)) + data)
        runner.records.clear()              # the parent keeps them
        runner.results.clear()

    async with HTTPClient() as client:
        runner = BenchRunner(spec["scenario"], spec["providers"], client, defaults=spec["defaults"],
                             keep_warmup=spec["keep_warmup"], on_record=on_record, redactor=spec["redactor"],
                             lag_interval_s=spec["lag_interval_s"], share=spec["share"], step_gate=gate,
                             lag_warn_ms=spec["lag_warn_ms"], t0=spec["t0"])

        async def listen() -> None:
            try:
                while True:
                    msg = await _recv(reader)
                    if msg[0] == "go":
                        fut = go.setdefault(msg[1], loop.create_future())
                        if not fut.done():
                            fut.set_result(msg[2])
                    elif msg[0] == "stop":
                        runner.stop()
            except (asyncio.IncompleteReadError, ConnectionError):
                runner.stop()               # the parent is gone: stop, nobody is listening

        async def report_lag() -> None:
            while True:
                await asyncio.sleep(LAG_REPORT_S)
                await _send(writer, ("lag", runner.lag.recent_p99()))

        tasks = [asyncio.create_task(listen()), asyncio.create_task(report_lag())]
        try:
            result = await runner.run()
        finally:
            for t in tasks:
                t.cancel()
        await _send(writer, ("done", {"lag": result.lag, "step_lag": result.step_lag, "partial": result.partial}))
    writer.close()


async def _worker_reporting(fd: int) -> int:
    try:
        await _worker(fd)
    except Exception as e:           # told to the parent, which names the worker; never a traceback here
        try:
            sock = socket.socket(fileno=fd)
            data = pickle.dumps(("error", f"{type(e).__name__}: {e}"))
            sock.sendall(_HEAD.pack(len(data)) + data)
        except OSError:
            pass
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    from .loop import run

    argv = sys.argv[1:] if argv is None else argv
    return run(_worker_reporting(int(argv[0])))


if __name__ == "__main__":
    sys.exit(main())
