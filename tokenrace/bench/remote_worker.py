"""``tokenrace worker --redis URL``: takes shares of distributed benches (``bench --redis``) from
Redis through the consumer group, measures them with the same :class:`~.runner.BenchRunner` as a
local bench, and sends each record back as its request finishes.

Providers come from the worker's own config (``--config``, else the usual look-up, else the
built-in simulator), never through Redis: a job names them, and each must be here with the same
kind and model. Records are redacted here with this config's secrets before they leave.
Durations are measured here; the bench never compares this machine's clock with its own.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from typing import Any, Callable

import yaml

from ..errors import ConfigError
from ..redisconn import RedisUnavailable, Shielded, connect, safe_url, why
from .dist import (BEAT_S, GROUP, PRESENCE_TTL_MS, Keys, dumps, ensure_group, loads, message, unpack)
from .runner import BenchRunner, Share
from .scenario import LoadStep, Scenario, parse_scenario

log = logging.getLogger("tokenrace.worker")


def default_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def job_scenario(spec: dict[str, Any]) -> Scenario:
    """The job's scenario as this worker runs it: the bench's plan, this worker's own providers."""
    doc = dict(spec["scenario"])
    for key in ("config", "defaults"):
        doc.pop(key, None)
    doc["providers"] = [p["name"] for p in spec["providers"]]
    load = doc.get("load")
    if isinstance(load, dict):
        doc["load"] = {k: v for k, v in load.items() if k != "workers"}
    source = f"{spec.get('source') or 'the scenario'} (as sent by the bench)"
    return parse_scenario(yaml.safe_dump(doc, sort_keys=False), source)


def check_providers(wanted: list[dict[str, Any]], mine: tuple[Any, ...], name: str, where: str) -> None:
    """Every provider the job names is here, with the same kind and model as on the bench."""
    have = {p.name: p for p in mine}
    for w in wanted:
        p = have.get(w["name"])
        if p is None:
            raise ConfigError(f"worker {name}: provider {w['name']!r} is not in its config ({where})")
        if (p.kind, p.model) != (w["kind"], w["model"]):
            raise ConfigError(f"worker {name}: provider {w['name']!r} is kind {p.kind}, model {p.model} here but "
                              f"kind {w['kind']}, model {w['model']} on the bench ({where})")


class _Outbox:
    """Messages to the bench, in order, in pipelines of XADDs: records, lag and beats wait up to
    ``COALESCE_S`` for company (fewer round trips on the measuring loop); gates, hello and the end go at once."""

    COALESCE_S = 0.05

    def __init__(self, r: Any, stream: str, share: int) -> None:
        self.r, self.stream, self.share = r, stream, share
        self.pending: list[dict[bytes, bytes]] = []
        self.kick = asyncio.Event()
        self.urgent = asyncio.Event()
        self.idle = asyncio.Event()
        self.idle.set()
        self.task = asyncio.create_task(self._loop())

    def put(self, kind: str, data: Any = None) -> None:
        self.pending.append(message(kind, data, self.share))
        self.idle.clear()
        if kind not in ("rec", "lag", "beat"):
            self.urgent.set()
        self.kick.set()

    async def _loop(self) -> None:
        while True:
            await self.kick.wait()
            if not self.urgent.is_set():
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self.urgent.wait(), self.COALESCE_S)
            self.kick.clear()
            self.urgent.clear()
            batch, self.pending = self.pending, []
            try:
                async with self.r.pipeline(transaction=False) as pipe:
                    for fields in batch:
                        pipe.xadd(self.stream, fields)
                    await pipe.execute()
            except Exception as e:          # the bench counts this share lost when it hears nothing more
                log.warning("could not send to the bench: %s", why(e))
            if not self.pending:
                self.idle.set()

    async def close(self, timeout: float = 10.0) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.idle.wait(), timeout)
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


class RemoteWorker:
    def __init__(self, url: str, *, name: str | None = None, config_path: str | None = None,
                 prefix: str = "tokenrace", max_jobs: int | None = None,
                 say: Callable[[str], None] = lambda line: None) -> None:
        self.url, self.name, self.config_path = url, name or default_name(), config_path
        self.keys, self.max_jobs, self.say = Keys(prefix), max_jobs, say
        self.job: str | None = None
        self.jobs_done = 0
        self.r: Any = None
        self.stopping = False
        self._runner: BenchRunner | None = None
        self._share_stopped = False         # the share in hand: told to stop, or its bench is gone
        self._bench_gone = False

    def stop(self) -> None:
        """Stop (Ctrl+C, SIGTERM): the share in hand ends as a stopped one, with what finished sent."""
        self.stopping = True
        self._stop_share()

    def _stop_share(self) -> None:
        self._share_stopped = True
        if self._runner is not None:
            self._runner.stop()

    async def run(self) -> None:
        self.r = Shielded(await connect(self.url, block_ms=1000))
        try:
            await ensure_group(self.r, self.keys)
            presence = asyncio.create_task(self._presence())
            try:
                self.say(f"tokenrace worker {self.name}: waiting for benches on {safe_url(self.url)} (Ctrl+C stops)")
                while not self.stopping and (self.max_jobs is None or self.jobs_done < self.max_jobs):
                    await self._take()
            finally:
                presence.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await presence
                await self.r.delete(self.keys.worker(self.name))
        finally:
            await self.r.aclose()

    async def _presence(self) -> None:
        while True:
            await self._announce()
            await asyncio.sleep(BEAT_S)

    async def _announce(self) -> None:
        """This worker is here (busy with ``job`` or idle); at once when that changes, else every second."""
        info = {"name": self.name, "host": socket.gethostname(), "pid": os.getpid(), "job": self.job}
        try:
            await self.r.set(self.keys.worker(self.name), dumps(info), px=PRESENCE_TTL_MS)
        except Exception as e:
            log.warning("could not renew this worker's presence: %s", why(e))

    async def _take(self) -> None:
        got = await self.r.xreadgroup(GROUP, self.name, {self.keys.offers: ">"}, count=1, block=1000)
        for _stream, entries in got or []:
            for entry_id, fields in entries:
                await self.r.xack(self.keys.offers, GROUP, entry_id)
                _kind, offer, _ = unpack(fields)
                if not await self.r.exists(self.keys.alive(offer["job"])):
                    continue                    # its bench is gone: an offer nobody waits for
                self.job = offer["job"]
                await self._announce()
                try:
                    await self._serve(offer["job"], int(offer["share"]), int(offer["count"]))
                finally:
                    self.job = None
                    self.jobs_done += 1
                    await self._announce()

    async def _serve(self, job: str, share: int, count: int) -> None:
        out = _Outbox(self.r, self.keys.up(job), share)
        self._share_stopped, self._bench_gone = self.stopping, False
        out.put("hello", {"worker": self.name, "host": socket.gethostname(), "pid": os.getpid()})
        tasks = [asyncio.create_task(self._beat(out, job))]
        self.say(f"tokenrace worker {self.name}: share {share + 1} of {count} of bench job {job}")
        try:
            raw = await self.r.get(self.keys.job(job))
            if raw is None:
                raise ConfigError(f"worker {self.name}: job {job} is gone from Redis")
            spec = loads(raw)
            result = await self._measure(job, spec, Share(share, count), out, tasks)
            out.put("done", {"lag": result.lag, "step_lag": result.step_lag, "partial": result.partial})
        except ConfigError as e:
            text = str(e)
            out.put("error", text if text.startswith("worker ") else f"worker {self.name}: {text}")
        except (RedisUnavailable, OSError) as e:
            out.put("error", f"worker {self.name}: {why(e)}")
        except Exception as e:      # told to the bench, which names the worker; logged here in full
            log.exception("worker %s: share %d of job %s failed", self.name, share, job)
            out.put("error", f"worker {self.name}: {type(e).__name__}: {why(e)}")
        finally:
            self._runner = None
            for t in tasks:                 # safe mid-command: every Redis call is Shielded
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await out.close()
            if self._bench_gone:            # nobody reads what is left: the job's keys go
                with contextlib.suppress(Exception):
                    await self.r.delete(self.keys.up(job), self.keys.ctl(job, share), self.keys.job(job))

    async def _measure(self, job: str, spec: dict[str, Any], share: Share, out: _Outbox,
                       tasks: list[asyncio.Task[Any]]) -> Any:
        from ..providers.http import HTTPClient
        from .session import scenario_config, select_providers

        sc = job_scenario(spec)
        loop = asyncio.get_running_loop()
        go: dict[int, asyncio.Future[int]] = {}

        async def gate(step: LoadStep) -> int:
            fut = go.setdefault(step.index, loop.create_future())
            out.put("gate", step.index)
            return await fut

        def on_record(rec: dict, acc: Any, events: Any) -> None:
            rec["worker"] = self.name
            out.put("rec", {"rec": rec, "result": runner.results[-1].to_dict()})
            runner.records.clear()              # the bench keeps them
            runner.results.clear()

        async with scenario_config(sc, self.config_path) as cfg:
            check_providers(spec["providers"], cfg.providers, self.name, cfg.source or "the built-in simulator")
            providers = select_providers(sc, cfg)
            async with HTTPClient() as client:
                runner = BenchRunner(sc, providers, client, defaults=spec.get("defaults"),
                                     keep_warmup=bool(spec.get("keep_warmup")), on_record=on_record,
                                     redactor=cfg.redactor, share=share, step_gate=gate,
                                     lag_interval_s=float(spec["lag_interval_s"]), lag_warn_ms=float(spec["lag_warn_ms"]))
                self._runner = runner
                if self._share_stopped:
                    runner.stop()
                tasks.append(asyncio.create_task(self._listen(job, share.index, go)))
                tasks.append(asyncio.create_task(self._report_lag(out, runner)))
                return await runner.run()

    async def _listen(self, job: str, share: int, go: dict[int, asyncio.Future[int]]) -> None:
        """The bench's word for this share: go (a step's start, ``margin_ns`` from hearing it) and stop."""
        last = "0"
        loop = asyncio.get_running_loop()
        while True:
            got = await self.r.xread({self.keys.ctl(job, share): last}, block=1000)
            for _stream, entries in got or []:
                for entry_id, fields in entries:
                    last = entry_id
                    kind, data, _ = unpack(fields)
                    if kind == "go":
                        fut = go.setdefault(int(data["step"]), loop.create_future())
                        if not fut.done():
                            fut.set_result(time.perf_counter_ns() + int(data["margin_ns"]))
                    elif kind == "stop":
                        self._stop_share()

    async def _beat(self, out: _Outbox, job: str) -> None:
        """Alive to the bench; and when the bench is gone, stop: nobody would read the records."""
        while True:
            await asyncio.sleep(BEAT_S)
            out.put("beat")
            try:
                alive = await self.r.exists(self.keys.alive(job))
            except Exception:
                continue
            if not alive:
                if not self._bench_gone:
                    self.say(f"tokenrace worker {self.name}: the bench of job {job} is gone; stopping its share")
                self._bench_gone = True
                self._stop_share()

    @staticmethod
    async def _report_lag(out: _Outbox, runner: BenchRunner) -> None:
        while True:
            await asyncio.sleep(0.5)
            out.put("lag", runner.lag.recent_p99())

