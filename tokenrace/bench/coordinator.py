"""``tokenrace bench SCENARIO --redis URL``: one bench plan dealt to ``tokenrace worker`` processes
on any machines, through Redis (keys and messages in :mod:`.dist`); their records merged into the
usual output. The same surface as :class:`~.runner.BenchRunner` for the session and the progress display.

The plan is split as ``load.workers`` splits it over local processes (:class:`~.runner.Share`): one
share per worker present, each taken by one worker through the consumer group. Before each step
every share's worker waits at a gate; the bench then says go to all, and each starts
``START_MARGIN_NS`` after hearing it (no clock is compared between machines). A share whose worker
stops answering for the lease, fails, or that no worker takes, has its unfinished requests recorded
as failed with that reason, and the report says so.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ..config.models import ProviderConfig
from ..errors import TokenraceError
from ..events import Failed
from ..metrics import StreamAccumulator, StreamResult
from ..redisconn import Shielded, connect, safe_url
from .dist import (DEFAULT_CLAIM_S, DEFAULT_LEASE_S, START_MARGIN_NS, Keys, dumps, ensure_group, message,
                   new_job_id, present_workers, unpack)
from .loop import LAG_INTERVAL_S, LAG_WARN_P99_MS
from .runner import BenchResult, BenchRunner, GroupStats, Job, RecordHook, Share, record_warnings
from .scenario import LoadStep, Scenario
from .workers import PoolLag, RecordMerger, merge_lag


class NoWorkers(TokenraceError):
    """No (or too few) idle workers on the Redis server within the wait."""


@dataclass
class _Share:
    index: int
    worker: str | None = None            # who took it (its hello)
    last_seen: float = 0.0               # monotonic, on this machine
    at_gate: asyncio.Event = field(default_factory=asyncio.Event)
    gate_step: int = -1
    final: dict[str, Any] | None = None
    error: str | None = None             # failed, lost or never taken: why
    got: set[tuple[str, int, int, int]] = field(default_factory=set)    # (provider, step, prompt, rep) recorded
    failed: int = 0                      # unfinished requests recorded as failed

    @property
    def ended(self) -> bool:
        return self.final is not None or self.error is not None

    @property
    def label(self) -> str:
        return f"worker {self.worker}" if self.worker else f"share {self.index + 1} (not taken)"


class RedisPool(RecordMerger):
    def __init__(self, scenario: Scenario, providers: Sequence[ProviderConfig], url: str, *,
                 workers: int | None = None, wait_s: float = 30.0, lease_s: float = DEFAULT_LEASE_S,
                 claim_s: float = DEFAULT_CLAIM_S, defaults: dict[str, Any] | None = None,
                 keep_warmup: bool = False, on_record: RecordHook | None = None, prefix: str = "tokenrace",
                 lag_interval_s: float = LAG_INTERVAL_S, lag_warn_ms: float = LAG_WARN_P99_MS) -> None:
        names = [p.name for p in providers]
        if not providers or len(set(names)) != len(names):
            raise ValueError("a bench needs at least one provider and unique provider names")
        self.sc, self.providers, self.url, self.want = scenario, list(providers), url, workers
        self.wait_s, self.lease_s, self.claim_s = wait_s, lease_s, claim_s
        self.defaults, self.keep_warmup, self.on_record = defaults, keep_warmup, on_record
        self.keys, self.lag_interval_s, self.lag_warn_ms = Keys(prefix), lag_interval_s, lag_warn_ms
        # no client: the plan (jobs per step) and the shape of a record, as one process would make them
        self.plan = BenchRunner(scenario, providers, None, defaults=defaults)   # type: ignore[arg-type]
        self.records: list[dict] = []
        self.results: list[StreamResult] = []
        self.stats: dict[tuple[str, int], GroupStats] = {}
        self.lag = PoolLag(0)
        self.step: LoadStep | None = None
        self.stopping = False
        self.shares: list[_Share] = []
        self.job = ""
        self.r: Any = None
        self._ended = asyncio.Event()
        self.t0_ns, self.t0_wall = time.perf_counter_ns(), time.time()

    @property
    def count(self) -> int:
        return len(self.shares)

    def stop(self) -> None:
        """Stop now (Ctrl+C): every worker cancels its requests in flight and reports what finished."""
        if self.stopping:
            return
        self.stopping = True
        if not self.shares:
            self._ended.set()
        for sh in self.shares:
            if not sh.ended:
                asyncio.ensure_future(self._tell(sh.index, "stop"))

    async def _tell(self, share: int, kind: str, data: Any = None) -> None:
        with contextlib.suppress(Exception):        # Redis gone: the lease ends the share
            await self.r.xadd(self.keys.ctl(self.job, share), message(kind, data))

    # ---------------------------------------------------------------------------------- run
    async def run(self) -> BenchResult:
        self.t0_ns, self.t0_wall = time.perf_counter_ns(), time.time()
        self.init_stats()
        self.r = Shielded(await connect(self.url, block_ms=1000))
        tasks: list[asyncio.Task[Any]] = []
        try:
            await ensure_group(self.r, self.keys)
            count = await self._wait_for_workers()
            if count and not self.stopping:
                await self._deal(count)
                tasks = [asyncio.create_task(c) for c in (self._read(), self._keep_alive(), self._gates(), self._watch())]
                await self._until_ended(tasks)
        finally:
            for t in tasks:             # safe mid-command: every Redis call is Shielded
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._clean_up()
        return self._result()

    async def _until_ended(self, tasks: list[asyncio.Task[Any]]) -> None:
        """Until every share has ended; a task that fails (Redis gone) ends the bench with its error."""
        ended = asyncio.create_task(self._ended.wait())
        waiting: set[asyncio.Task[Any]] = {ended, *tasks}
        try:
            while not ended.done():
                done, waiting = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                for t in done:
                    if t is not ended and t.exception() is not None:
                        raise t.exception()     # type: ignore[misc]
        finally:
            ended.cancel()

    async def _wait_for_workers(self) -> int:
        deadline = time.monotonic() + self.wait_s
        while not self.stopping:
            present = await present_workers(self.r, self.keys)
            idle = [w for w in present if not w.get("job")]
            if idle and (self.want is None or len(idle) >= self.want):
                return self.want or len(idle)
            if time.monotonic() >= deadline:
                busy = [str(w.get("name")) for w in present if w.get("job")]
                need = f"{self.want} idle workers" if self.want else "an idle worker"
                raise NoWorkers(
                    f"no bench started: {need} wanted on Redis at {safe_url(self.url)}, {len(idle)} found in "
                    f"{self.wait_s:g} s" + (f" ({len(busy)} busy: {', '.join(busy)})" if busy else "") +
                    "; start them with `tokenrace worker --redis URL` (on any machine that reaches this Redis)")
            await asyncio.sleep(0.2)
        return 0

    async def _deal(self, count: int) -> None:
        self.job = new_job_id()
        self.shares = [_Share(k, last_seen=time.monotonic()) for k in range(count)]
        self.lag = PoolLag(count)
        # the plan only: providers (their keys, URLs, headers) stay in each worker's own config
        plan = {k: v for k, v in self.sc.as_run.items() if k not in ("providers", "defaults", "config")}
        spec = {"job": self.job, "count": count, "source": Path(self.sc.source).name, "scenario": plan,
                "providers": [{"name": p.name, "kind": p.kind, "model": p.model} for p in self.providers],
                "defaults": {"params": dict((self.defaults or {}).get("params") or {})},
                "keep_warmup": self.keep_warmup, "lag_interval_s": self.lag_interval_s, "lag_warn_ms": self.lag_warn_ms}
        ttl_ms = int(self.lease_s * 1000)
        await self.r.set(self.keys.job(self.job), dumps(spec), ex=7 * 86400)
        await self.r.set(self.keys.alive(self.job), b"1", px=ttl_ms)
        self._offers = [await self.r.xadd(self.keys.offers, message("offer", {"job": self.job, "share": k, "count": count}),
                                          maxlen=10_000, approximate=True) for k in range(count)]
        self._claim_deadline = time.monotonic() + self.claim_s

    async def _keep_alive(self) -> None:
        while True:
            with contextlib.suppress(Exception):
                await self.r.set(self.keys.alive(self.job), b"1", px=int(self.lease_s * 1000))
            await asyncio.sleep(min(1.0, self.lease_s / 4))

    async def _read(self) -> None:
        last: bytes | str = "0"
        up = self.keys.up(self.job)
        while True:
            got = await self.r.xread({up: last}, count=1000, block=1000)
            for _stream, entries in got or []:
                for entry_id, fields in entries:
                    last = entry_id
                    kind, data, share = unpack(fields)
                    if share is not None and 0 <= share < len(self.shares):
                        self._on(self.shares[share], kind, data)
            if got:
                await self.r.xtrim(up, minid=last)          # read: Redis need not keep it

    def _on(self, sh: _Share, kind: str, data: Any) -> None:
        sh.last_seen = time.monotonic()
        if sh.ended:
            if kind == "hello":         # taken after it was written off: tell that worker to stop
                asyncio.ensure_future(self._tell(sh.index, "stop"))
            return
        if kind == "hello":
            sh.worker = str(data["worker"])
        elif kind == "gate":
            sh.gate_step = int(data)
            sh.at_gate.set()
        elif kind == "rec":
            self._record(sh, data["rec"], data["result"])
        elif kind == "lag":
            self.lag.recent[sh.index] = data
        elif kind == "done":
            sh.final = data
            self._end(sh)
        elif kind == "error":
            self._lose(sh, str(data))

    def _record(self, sh: _Share, rec: dict, result: dict) -> None:
        if not rec["warmup"]:
            sh.got.add((rec["provider"], rec["step"], rec["prompt"], rec["repetition"]))
        self.merge(rec, result)

    def _end(self, sh: _Share) -> None:
        sh.at_gate.set()                                  # never leave the gate waiting on a gone worker
        if all(s.ended for s in self.shares):
            self._ended.set()

    async def _watch(self) -> None:
        while True:
            now = time.monotonic()
            for sh in self.shares:
                if sh.ended:
                    continue
                if sh.worker is None and now >= self._claim_deadline:
                    self._lose(sh, f"no worker took share {sh.index + 1} of {self.count} within {self.claim_s:g} s")
                    with contextlib.suppress(Exception):
                        await self.r.xdel(self.keys.offers, self._offers[sh.index])
                elif sh.worker is not None and now - sh.last_seen > self.lease_s:
                    self._lose(sh, f"worker {sh.worker} stopped answering (nothing heard for {self.lease_s:g} s)")
            await asyncio.sleep(0.25)

    async def _gates(self) -> None:
        """Before each step: every live share's worker is at the gate, then go for all."""
        for step in self.sc.steps:
            live = [sh for sh in self.shares if not sh.ended]
            for sh in live:
                while sh.gate_step < step.index and not sh.ended:
                    sh.at_gate.clear()
                    await sh.at_gate.wait()
            if step.index == self.sc.steps[0].index:
                self.warmup_over()
            self.step = step
            for sh in live:
                if not sh.ended:
                    await self._tell(sh.index, "go", {"step": step.index, "margin_ns": START_MARGIN_NS})

    # ---------------------------------------------------------------------------------- losses
    def _lose(self, sh: _Share, reason: str) -> None:
        """The share ends without its worker's end: its unfinished requests fail with ``reason``."""
        sh.error = reason
        asyncio.ensure_future(self._tell(sh.index, "stop"))   # if it is still there, it stops
        if not self.stopping:
            share = Share(sh.index, self.count)
            for step in self.sc.steps:
                for p in self.providers:
                    for job in self._planned(share, step):
                        if (p.name, step.index, job.prompt.index, job.repetition) not in sh.got:
                            self._fail(sh, p, job, step, reason)
        self._end(sh)

    def _planned(self, share: Share, step: LoadStep) -> list[Job]:
        jobs = self.plan.jobs(step)
        if step.kind == "concurrency":
            return share.concurrency_jobs(jobs, int(step.value))
        return [j for i, j in enumerate(jobs) if share.owns_arrival(i)]

    def _fail(self, sh: _Share, p: ProviderConfig, job: Job, step: LoadStep, reason: str) -> None:
        acc = StreamAccumulator(p.name, p.model, price=p.price,
                                prompt_tokens_estimate=self.plan.prompt_tokens[job.prompt.index])
        acc.add(Failed(p.name, 0, time.perf_counter_ns(), f"{p.name}: not measured: {reason}", "internal"))
        result = acc.result()
        rec = self.plan.make_record(result, acc, job, step, "")
        rec["worker"] = sh.worker
        sh.failed += 1
        self._record(sh, rec, result.to_dict())

    async def _clean_up(self) -> None:
        try:
            if self.job:
                for sh in self.shares:
                    if not sh.ended:
                        await self._tell(sh.index, "stop")
                await self.r.delete(self.keys.job(self.job), self.keys.alive(self.job), self.keys.up(self.job),
                                    *(self.keys.ctl(self.job, sh.index) for sh in self.shares))
                await self.r.xdel(self.keys.offers, *self._offers)
        except Exception:           # nothing more to say to Redis; its keys expire or stay small
            pass
        finally:
            await self.r.aclose()

    def _result(self) -> BenchResult:
        lag, step_lag, warnings = merge_lag([(sh.worker or f"share {sh.index + 1}", sh.label, sh.final)
                                             for sh in self.shares] or [("-", "no worker", None)],
                                            len(self.sc.steps), self.lag_interval_s, self.lag_warn_ms,
                                            "one worker")
        warnings += record_warnings(self.providers, self.records)
        for sh in self.shares:
            if sh.error:
                warnings.append(f"share {sh.index + 1} of {self.count} ended early: {sh.error}; "
                                f"its {sh.failed} unfinished requests are recorded as failed")
        partial = self.stopping or not self.shares or any((sh.final or {}).get("partial") for sh in self.shares)
        return BenchResult(self.sc, [p.public() for p in self.providers], list(self.records), list(self.results),
                           lag, step_lag, bool(partial), self.t0_wall, time.time(), warnings)
