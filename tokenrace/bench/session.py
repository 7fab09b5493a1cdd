"""One bench run end to end: providers from the scenario, one shared HTTP client, the runner, Ctrl+C,
the output folder and the run history database."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, AsyncIterator

from ..config.models import Config, ProviderConfig
from ..errors import ConfigError
from ..providers.http import HTTPClient
from ..recording import Recorder
from ..runrequest import PARAMS, Limits, RequestError, check_params, select
from ..session import new_run_id
from ..store import RunStore
from .report import RecordWriter, write_outputs
from .runner import BenchResult, BenchRunner
from .scenario import Scenario, sim_provider_configs
from .workers import WorkerPool, resolve_workers

if TYPE_CHECKING:
    from .coordinator import RedisPool

log = logging.getLogger("tokenrace.bench")


@contextlib.asynccontextmanager
async def scenario_config(sc: Scenario, config_path: str | None = None) -> AsyncIterator[Config]:
    """The providers a scenario names: its simulator, its inline providers, its config file, else the
    usual config look-up. ``config_path`` (``-c``) wins over all of them."""
    if sc.simulator and not config_path:
        from ..runtime import simulator_config

        def scenario_sims(sim) -> Config:
            return Config(sim_provider_configs(sc, sim), defaults={}, source=None, builtin=True)

        make = scenario_sims if sc.sim_providers else None
        async with simulator_config([s.profile for s in sc.sim_providers] or None, make) as cfg:
            yield cfg
    elif sc.inline_providers and not config_path:
        yield Config(sc.inline_providers, defaults=sc.inline_defaults, source=sc.source)
    else:
        from ..runtime import open_config

        async with open_config(config_path or sc.config) as cfg:
            yield cfg


def select_providers(sc: Scenario, cfg: Config) -> tuple[ProviderConfig, ...]:
    """The scenario's providers and generic params, checked by the rules every race request follows."""
    try:
        providers = select(cfg, list(sc.provider_names) or None, Limits(max_providers=len(cfg.providers) or 1))
        check_params({k: v for k, v in sc.params.items() if k in PARAMS})
    except RequestError as e:
        raise ConfigError(e.message, file=sc.source, field=e.field) from None
    bad = [p for p in providers if p.unavailable]
    if bad:
        raise ConfigError("; ".join(f"{p.name}: {p.unavailable}" for p in bad) +
                          " (choose other providers with `providers: [...]` or set the variables)",
                          file=sc.source, field="providers")
    return providers


@dataclass
class BenchOutcome:
    result: BenchResult
    summary: dict[str, Any]
    out_dir: Path
    run_id: str
    history: str | None            # None: stored; else why not


@dataclass(frozen=True)
class Distributed:
    """``bench --redis``: the plan goes to ``tokenrace worker`` processes through this Redis."""

    url: str
    workers: int | None = None          # wait for this many idle workers (None: all there, at least one)
    wait_s: float = 30.0
    lease_s: float = 5.0


async def run_bench(sc: Scenario, out_dir: str | Path, *, config_path: str | None = None,
                    keep_warmup: bool = False, console: Any = None, history: bool = True,
                    handle_sigint: bool = True, on_runner: Any = None,
                    distributed: Distributed | None = None) -> BenchOutcome:
    """Run the scenario and write the output folder. With ``console`` (a rich Console) show progress."""
    out = Path(out_dir)
    run_id = new_run_id()
    async with scenario_config(sc, config_path) as cfg:
        providers = select_providers(sc, cfg)
        writer = RecordWriter(out)
        workers = resolve_workers(sc)
        try:
            if distributed is not None:         # workers elsewhere measure; this one deals, merges and writes
                from .coordinator import RedisPool
                pool = RedisPool(sc, providers, distributed.url, workers=distributed.workers,
                                 wait_s=distributed.wait_s, lease_s=distributed.lease_s, defaults=cfg.defaults,
                                 keep_warmup=keep_warmup, on_record=lambda rec, acc, ev: writer.write(rec))
                if on_runner is not None:
                    on_runner(pool)
                result = await _drive(pool, console, handle_sigint)
            elif sc.workers == 1:
                async with HTTPClient() as client:
                    runner: BenchRunner | WorkerPool = BenchRunner(
                        sc, providers, client, defaults=cfg.defaults, keep_warmup=keep_warmup,
                        on_record=lambda rec, acc, ev: writer.write(rec), redactor=cfg.redactor)
                    if on_runner is not None:
                        on_runner(runner)
                    result = await _drive(runner, console, handle_sigint)
            else:       # worker processes measure; this one serves an in-process simulator and writes files
                runner = WorkerPool(sc, providers, workers, defaults=cfg.defaults, keep_warmup=keep_warmup,
                                    on_record=lambda rec, acc, ev: writer.write(rec), redactor=cfg.redactor)
                if on_runner is not None:
                    on_runner(runner)
                result = await _drive(runner, console, handle_sigint)
            result.config_source = cfg.source or "built-in simulator"
        finally:
            writer.close()
    summary = write_outputs(out, result, records_written=True)
    stored = await store_history(run_id, result, summary, out) if history else "not requested (--no-history)"
    return BenchOutcome(result, summary, out, run_id, stored)


async def _drive(runner: "BenchRunner | WorkerPool | RedisPool", console: Any, handle_sigint: bool) -> BenchResult:
    loop = asyncio.get_running_loop()
    installed = False
    if handle_sigint:
        try:
            loop.add_signal_handler(signal.SIGINT, runner.stop)   # Ctrl+C: stop, keep what finished
            installed = True
        except (NotImplementedError, RuntimeError):               # pragma: no cover - Windows / not main thread
            pass
    view_task = None
    if console is not None:
        from .progress import ProgressView
        view_task = asyncio.create_task(ProgressView(runner, console).run())   # type: ignore[arg-type]
    try:
        return await runner.run()
    finally:
        if view_task is not None:
            view_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await view_task
        if installed:
            loop.remove_signal_handler(signal.SIGINT)


async def store_history(run_id: str, result: BenchResult, summary: dict[str, Any], out_dir: Path) -> str | None:
    """Put the run into the local run history database; None when stored, else the reason it was not."""
    sc = result.scenario
    prompt = sc.prompts[0].label if len(sc.prompts) == 1 else f"bench {sc.name}: {len(sc.prompts)} prompts"
    params = {**sc.params, "bench": {
        "name": sc.name, "out_dir": str(out_dir), "partial": result.partial, "steps": [s.to_dict() for s in sc.steps],
        "repetitions": sc.repetitions, "warmup": sc.warmup, "seed": sc.seed, "slo": sc.slo,
        "records": [{k: r.get(k) for k in ("provider", "prompt", "repetition", "step", "warmup")}
                    for r in result.records],
        "groups": summary["groups"]}}
    store = RunStore()
    try:
        await store.open()
    except Exception as e:   # the files are the result; the database is a convenience
        log.warning("could not store the run in the history database: %s", e)
        return f"could not store it: {e}"
    try:
        rec = Recorder(store, run_id, "bench")
        await rec.create(prompt, params, result.providers, created=result.started)
        # one result per request, in records.jsonl order (params.bench.records says which is which)
        await rec.finish("cancelled" if result.partial else "done", result.results)
        return None if rec.store is not None else "could not store it (see the log)"
    finally:
        with contextlib.suppress(Exception):
            await store.close()
