"""Runs a :class:`~tokenrace.bench.scenario.Scenario`: warmup, then each load step, every provider at once.

Load shapes, per provider: ``concurrency`` N keeps N requests in flight (closed loop: a finished
request makes room for the next); ``rate`` R sends requests at Poisson arrivals of R per second
(open loop: arrivals never wait for answers). Each request is one ``stream_provider`` call feeding
a ``StreamAccumulator``; its figures come from ``tokenrace.metrics`` only.

A :class:`LagMonitor` measures the event loop's own lag while the run goes on: when the client is
saturated its timestamps are late, and the report says so.
"""
from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Sequence, TypeVar

from ..config.models import ProviderConfig
from ..events import Headers, StreamEvent
from ..metrics import NS_PER_MS, StreamAccumulator, StreamResult, estimate_tokens, percentile, summarize
from ..providers.http import HTTPClient
from ..providers.stream import stream_provider
from ..request import ChatRequest
from ..secrets import Redactor
from .loop import LAG_INTERVAL_S, LAG_WARN_P99_MS, LagMonitor
from .scenario import LoadStep, PromptSpec, Scenario
from .summary import slo_ok

log = logging.getLogger("tokenrace.bench")
T = TypeVar("T")


RecordHook = Callable[[dict, StreamAccumulator, "list[StreamEvent] | None"], None]
StepGate = Callable[[LoadStep], Awaitable[int]]


@dataclass(frozen=True)
class Share:
    """This process's part of the plan when ``load.workers`` splits it over ``count`` processes.

    The plan (the seeded job order, the seeded Poisson arrivals) is the same whatever the count;
    job ``i`` of a closed-loop step belongs to slot ``i % C`` of the ``C`` slots, and slot ``s`` to
    worker ``s % count``, so the workers' concurrencies add up to ``C`` exactly; arrival ``i`` of a
    rate step belongs to worker ``i % count``.
    """

    index: int
    count: int

    def slots(self, concurrency: int) -> int:
        return len(range(self.index, concurrency, self.count))

    def concurrency_jobs(self, jobs: Sequence[T], concurrency: int) -> list[T]:
        return [j for i, j in enumerate(jobs) if (i % concurrency) % self.count == self.index]

    def owns_arrival(self, i: int) -> bool:
        return i % self.count == self.index


@dataclass(frozen=True)
class Job:
    prompt: PromptSpec
    repetition: int
    warmup: bool = False


@dataclass
class GroupStats:
    """Live figures of one provider in one step (for the progress display)."""

    total: int
    done: int = 0
    errors: int = 0
    ttft: list[float] = field(default_factory=list)
    rate: list[float] = field(default_factory=list)

    def p50(self, values: list[float]) -> float | None:
        return percentile(sorted(values), 50) if values else None

    def count(self, rec: dict[str, Any]) -> None:
        """One finished request (its record) into the live figures."""
        self.done += 1
        if rec["status"] != "ok":
            self.errors += 1
            return
        if rec["ttft_ms"] is not None:
            self.ttft.append(rec["ttft_ms"])
        if rec["tokens_per_s"] is not None:
            self.rate.append(rec["tokens_per_s"])


@dataclass
class BenchResult:
    scenario: Scenario
    providers: list[dict[str, str]]
    records: list[dict]
    results: list[StreamResult]          # the full result of each record (text included), same order
    lag: dict[str, Any]
    step_lag: list[dict[str, Any]]
    partial: bool
    started: float                       # wall clock, seconds since the epoch
    finished: float
    warnings: list[str]
    config_source: str | None = None     # where the providers came from (a file, or the simulator)


class BenchRunner:
    def __init__(self, scenario: Scenario, providers: Sequence[ProviderConfig], client: HTTPClient, *,
                 defaults: dict[str, Any] | None = None, keep_warmup: bool = False,
                 on_record: RecordHook | None = None, keep_events: bool = False,
                 lag_interval_s: float = LAG_INTERVAL_S, redactor: Redactor | None = None,
                 share: Share | None = None, step_gate: StepGate | None = None,
                 lag_warn_ms: float = LAG_WARN_P99_MS, t0: tuple[int, float] | None = None) -> None:
        names = [p.name for p in providers]
        if not providers or len(set(names)) != len(names):
            raise ValueError("a bench needs at least one provider and unique provider names")
        self.sc, self.providers, self.client = scenario, list(providers), client
        self.redactor = redactor
        self.defaults = dict((defaults or {}).get("params") or {})
        self.keep_warmup, self.on_record, self.keep_events = keep_warmup, on_record, keep_events
        self.requests = {p.index: ChatRequest(self._messages(p), dict(scenario.params)) for p in scenario.prompts}
        self.prompt_tokens = {i: sum(estimate_tokens(str(m.get("content") or "")) for m in r.messages)
                              for i, r in self.requests.items()}
        self.records: list[dict] = []
        self.results: list[StreamResult] = []
        self.stats: dict[tuple[str, int], GroupStats] = {}
        self.lag = LagMonitor(lag_interval_s, lag_warn_ms)
        # a worker process: its part of the plan, and the parent's go (a common start) before each step
        self.share, self.step_gate = share, step_gate
        self.lag_warn_ms = lag_warn_ms
        self._step_start_ns: int | None = None
        self.step: LoadStep | None = None
        self.stopping = False
        self._task: asyncio.Task | None = None
        self._step_windows: list[tuple[int, int]] = []
        self._step_start: int | None = None
        self.t0_ns = time.perf_counter_ns()
        self.t0_wall = time.time()
        self._t0 = t0                   # a worker: the parent's (perf_counter_ns, wall) so records line up

    def _messages(self, p: PromptSpec) -> tuple[dict, ...]:
        if self.sc.system and not any(m.get("role") == "system" for m in p.messages):
            return ({"role": "system", "content": self.sc.system},) + p.messages
        return p.messages

    # -- control ----------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop now (Ctrl+C): in-flight requests are cancelled and not recorded; the rest is kept."""
        if self.stopping:
            return
        self.stopping = True
        if self._task is not None and not self._task.done():
            self._task.cancel()

    async def run(self) -> BenchResult:
        self.t0_ns, self.t0_wall = self._t0 or (time.perf_counter_ns(), time.time())
        for step in self.sc.steps:
            for p in self.providers:
                self.stats[(p.name, step.index)] = GroupStats(self.sc.requests_per_step())
        for p in self.providers:
            self.stats[(p.name, -1)] = GroupStats(self.sc.warmup)
        self.lag.start()
        self._task = asyncio.create_task(self._run_all(), name="tokenrace-bench")
        if self.stopping:            # stopped before it started
            self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            if not self.stopping:
                raise
        finally:
            await self.lag.stop()
        return self.result()

    async def _run_all(self) -> None:
        if self.sc.warmup and (self.share is None or self.share.index == 0):    # as with one process
            await asyncio.gather(*(self._warmup(p) for p in self.providers))
        for step in self.sc.steps:
            self._step_start_ns = await self.step_gate(step) if self.step_gate is not None else None
            self.step, self._step_start = step, time.perf_counter_ns()
            await asyncio.gather(*(self._provider_step(p, step) for p in self.providers))
            self._step_windows.append((self._step_start, time.perf_counter_ns()))
        self.step = None

    # -- load shapes ------------------------------------------------------------------------
    def jobs(self, step: LoadStep) -> list[Job]:
        """Every prompt x repetition, in an order drawn from the seed (the same for every provider)."""
        jobs = [Job(p, rep) for rep in range(self.sc.repetitions) for p in self.sc.prompts]
        random.Random(f"{self.sc.seed}:order:{step.index}").shuffle(jobs)
        return jobs

    async def _warmup(self, p: ProviderConfig) -> None:
        prompts = self.sc.prompts
        for i in range(self.sc.warmup):
            await self._request(p, Job(prompts[i % len(prompts)], i, warmup=True), None, time.perf_counter_ns())

    async def _provider_step(self, p: ProviderConfig, step: LoadStep) -> None:
        plan = self.jobs(step)
        if step.kind == "concurrency":
            slots = int(step.value)
            if self.share is not None:
                plan, slots = self.share.concurrency_jobs(plan, slots), self.share.slots(slots)
            jobs = deque(plan)

            async def worker() -> None:
                while jobs:
                    await self._request(p, jobs.popleft(), step, time.perf_counter_ns())
            tasks = []
            try:
                for _ in range(min(slots, len(jobs))):
                    tasks.append(asyncio.create_task(worker()))
                    # one loop turn between slots: 256 requests starting at once would otherwise hold the
                    # loop (and every read and timer on it) for the time of all their set-ups together
                    await asyncio.sleep(0)
                await asyncio.gather(*tasks)
            finally:
                for t in tasks:
                    t.cancel()
            return
        # every worker draws the whole seeded plan and keeps its own arrivals: the union is the plan
        rng = random.Random(f"{self.sc.seed}:arrivals:{step.index}:{p.name}")
        loop = asyncio.get_running_loop()
        start_loop, start_ns = loop.time(), time.perf_counter_ns()
        if self._step_start_ns is not None:          # the parent's common start (perf_counter is system-wide)
            start_ns = self._step_start_ns
            start_loop += (start_ns - time.perf_counter_ns()) / 1e9
        offset, tasks = 0.0, []
        try:
            for i, job in enumerate(plan):
                offset += rng.expovariate(step.value)
                if self.share is not None and not self.share.owns_arrival(i):
                    continue
                delay = start_loop + offset - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                # the request was wanted at its arrival time: a late wake-up shows as queue_ms
                tasks.append(asyncio.create_task(self._request(p, job, step, start_ns + int(offset * 1e9))))
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()

    # -- one request ------------------------------------------------------------------------
    async def _request(self, p: ProviderConfig, job: Job, step: LoadStep | None, t_queued_ns: int) -> None:
        acc = StreamAccumulator(p.name, p.model, price=p.price,
                                prompt_tokens_estimate=self.prompt_tokens[job.prompt.index])
        events: list[StreamEvent] | None = [] if self.keep_events else None
        request_id = ""

        def emit(ev: StreamEvent) -> None:
            nonlocal request_id
            acc.add(ev)
            if events is not None:
                events.append(ev)
            if isinstance(ev, Headers) and ev.request_id:
                request_id = ev.request_id

        await stream_provider(self.client, p, self.requests[job.prompt.index], emit,
                              defaults=self.defaults, t_queued_ns=t_queued_ns, redactor=self.redactor)
        if acc.status == "cancelled":      # stopped by us: not a finished request
            return
        result = acc.result()
        rec = self.make_record(result, acc, job, step, request_id)
        self.stats[(p.name, step.index if step else -1)].count(rec)
        if job.warmup and not self.keep_warmup:
            return
        self.records.append(rec)
        self.results.append(result)
        if self.on_record is not None:
            try:
                self.on_record(rec, acc, events)
            except Exception:
                log.exception("bench record hook failed")

    def make_record(self, result: StreamResult, acc: StreamAccumulator, job: Job, step: LoadStep | None,
                    request_id: str) -> dict:
        r = result.to_dict()
        text, reasoning = r.pop("text"), r.pop("reasoning")

        def rel(t: int | None) -> float | None:
            return None if t is None else round((t - self.t0_ns) / NS_PER_MS, 3)

        rec: dict[str, Any] = {
            "provider": r.pop("provider"), "model": r.pop("model"),
            "prompt": job.prompt.index, "repetition": job.repetition,
            "step": None if step is None else step.index,
            "load_kind": None if step is None else step.kind,
            "load_value": None if step is None else step.value,
            "warmup": job.warmup, "status": r.pop("status"), "error": r.pop("error"),
            "error_kind": r.pop("error_kind"), "http_status": r.pop("http_status"), "request_id": request_id,
            "started_at": round(self.t0_wall + ((acc.t_queued or self.t0_ns) - self.t0_ns) / 1e9, 6),
            "t_queued_ms": rel(acc.t_queued), "t_sent_ms": rel(acc.t_sent), "t_first_ms": rel(acc.t_first),
            "t_last_ms": rel(acc.t_last), "t_end_ms": rel(acc.t_end),
        }
        rec.update(r)
        # the ITL distribution across requests needs each gap, not only each request's percentiles
        rec["itl_gaps_ms"] = [round(g, 3) for g in acc.itl_gaps_ms()]
        rec["text_chars"], rec["reasoning_chars"] = len(text), len(reasoning)
        rec["slo_ok"] = slo_ok(rec, self.sc.slo) if self.sc.slo else None
        if self.share is not None:
            rec["worker"] = self.share.index
        return rec

    # -- result -----------------------------------------------------------------------------
    def result(self) -> BenchResult:
        windows = list(self._step_windows)
        if self.step is not None and self._step_start is not None:      # interrupted mid-step
            windows.append((self._step_start, time.perf_counter_ns()))
        lag = self.lag.summary(windows)      # measured steps only: warmup and start-up excluded
        step_lag = [dict(self.lag.summary([w]), step=i) for i, w in enumerate(windows)]
        warnings = []
        if lag["saturated"] and self.share is None:      # a worker's is reported by the parent, naming it
            warnings.append(f"the client's event loop lagged: p99 {lag['p99_ms']:.1f} ms (max {lag['max_ms']:.1f} ms)"
                            f" > {self.lag_warn_ms:g} ms, so TTFT and ITL may be overstated by up to that much. "
                            f"The machine was busy, or the load is more than this client can drive: lower it or "
                            f"use a faster machine.")
        warnings += record_warnings(self.providers, self.records)
        return BenchResult(self.sc, [p.public() for p in self.providers], list(self.records), list(self.results),
                           lag, step_lag,
                           self.stopping, self.t0_wall, time.time(), warnings)


def record_warnings(providers: Sequence[ProviderConfig], records: Sequence[dict]) -> list[str]:
    """What the records say about each provider: every request failed; token counts are estimates."""
    out = []
    for p in providers:
        mine = [r for r in records if r["provider"] == p.name and not r["warmup"]]
        if mine and all(r["status"] != "ok" for r in mine):
            out.append(f"{p.name}: every request failed (first error: {mine[0]['error']})")
        if any(r["token_source"] == "estimate" and r["status"] == "ok" for r in mine):
            out.append(f"{p.name}: no usage reported; token counts and tokens/s are estimates")
    return out
