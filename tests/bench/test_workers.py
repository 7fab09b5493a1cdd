"""``load.workers``: the plan split over processes exactly, seeds kept, records merged, each worker's lag.

Real worker processes against the in-process simulator over loopback.
"""
from __future__ import annotations

import itertools
import random
from collections import Counter

import pytest

from tests.bench import records, run, summary
from tokenrace.bench.runner import Share
from tokenrace.bench.scenario import parse_scenario
from tokenrace.bench.workers import resolve_workers
from tokenrace.errors import ConfigError

CLOSED = """\
prompts: ["one", "two", "three"]
params: {max_tokens: 8}
repetitions: 5
load: {concurrency: [3, 4], workers: 2}
seed: 7
"""

RATE = """\
prompts: ["one", "two"]
params: {max_tokens: 8}
repetitions: 10
load: {rate: 50, workers: WORKERS}
seed: 11
"""


def _peak(recs: list[dict]) -> int:
    edges = sorted([(r["t_queued_ms"], 1) for r in recs] + [(r["t_end_ms"], -1) for r in recs])
    level = peak = 0
    for _, d in edges:
        level += d
        peak = max(peak, level)
    return peak


def test_the_closed_loop_split_adds_up_to_the_concurrency_and_keeps_each_job_once():
    jobs = list(range(40))
    for conc, n in itertools.product((1, 2, 3, 7, 64), (1, 2, 3, 5)):
        shares = [Share(k, n) for k in range(n)]
        assert sum(s.slots(conc) for s in shares) == conc
        parts = [s.concurrency_jobs(jobs, conc) for s in shares]
        assert sorted(itertools.chain(*parts)) == jobs and all(p == sorted(p) for p in parts)
        for s, part in zip(shares, parts):        # jobs in proportion to slots: one per slot per round
            assert len(part) == sum(1 for i in jobs if (i % conc) % n == s.index)


async def test_closed_loop_over_two_workers_keeps_exactly_n_in_flight_and_merges_every_record(tmp_path):
    outcome = await run(tmp_path, CLOSED)
    recs = records(tmp_path / "out")
    assert len(recs) == 2 * 2 * 15 and all(r["status"] == "ok" for r in recs)
    assert Counter((r["provider"], r["step"], r["prompt"], r["repetition"]) for r in recs) == Counter(
        itertools.product(["alpha", "beta"], [0, 1], [0, 1, 2], range(5)))
    for name, step in itertools.product(["alpha", "beta"], [0, 1]):
        mine = [r for r in recs if r["provider"] == name and r["step"] == step]
        conc = (3, 4)[step]
        assert _peak(mine) == conc
        # job i of the seeded order (the one a single process runs) went to worker (i % conc) % 2
        jobs = [(p, rep) for rep in range(5) for p in range(3)]
        random.Random(f"7:order:{step}").shuffle(jobs)
        owner = {job: (i % conc) % 2 for i, job in enumerate(jobs)}
        assert all(r["worker"] == owner[(r["prompt"], r["repetition"])] for r in mine)
    doc = summary(tmp_path / "out")
    assert sorted((g["provider"], g["step"], g["requests"], g["ok"]) for g in doc["groups"]) == [
        ("alpha", 0, 15, 15), ("alpha", 1, 15, 15), ("beta", 0, 15, 15), ("beta", 1, 15, 15)]
    assert len(outcome.result.results) == len(recs) and doc["partial"] is False


@pytest.mark.parametrize("workers", [1, 3])
async def test_poisson_arrivals_follow_the_seeded_plan_whatever_the_number_of_workers(tmp_path, workers):
    await run(tmp_path, RATE.replace("WORKERS", str(workers)))
    recs = records(tmp_path / "out")
    assert len(recs) == 40
    for name in ("alpha", "beta"):
        mine = sorted((r for r in recs if r["provider"] == name), key=lambda r: r["t_queued_ms"])
        # the plan one process draws: job order from the seed, arrivals from the seed
        jobs = [(p, rep) for rep in range(10) for p in range(2)]
        random.Random("11:order:0").shuffle(jobs)
        rng = random.Random(f"11:arrivals:0:{name}")
        offsets = list(itertools.accumulate(rng.expovariate(50) for _ in range(20)))
        assert [(r["prompt"], r["repetition"]) for r in mine] == jobs
        # t_queued is the planned arrival on the common clock: exact up to the records' rounding (1 µs)
        t0 = mine[0]["t_queued_ms"] - offsets[0] * 1000
        assert all(abs(r["t_queued_ms"] - t0 - off * 1000) < 0.005 for r, off in zip(mine, offsets))
        if workers > 1:
            assert [r["worker"] for r in mine] == [i % workers for i in range(20)]


async def test_each_worker_reports_its_lag_and_a_saturated_one_is_named(tmp_path, monkeypatch):
    import tokenrace.bench.session as session
    from tokenrace.bench.workers import WorkerPool

    class Strict(WorkerPool):        # any lag counts as saturation: the report path, over real processes
        def __init__(self, *a, **kw):
            super().__init__(*a, lag_warn_ms=-1.0, **kw)

    monkeypatch.setattr(session, "WorkerPool", Strict)
    outcome = await run(tmp_path, CLOSED)
    lag = outcome.result.lag
    assert [w["worker"] for w in lag["workers"]] == [0, 1]
    assert all(w["samples"] > 0 and w["p99_ms"] is not None for w in lag["workers"])
    assert lag["saturated"] is True
    named = [w for w in outcome.result.warnings if w.startswith("worker ")]
    assert len(named) == 2 and "worker 1 of 2" in named[0] and "worker 2 of 2" in named[1]
    doc = summary(tmp_path / "out")
    assert doc["client"]["lag"]["saturated"] is True and len(doc["client"]["lag"]["workers"]) == 2


async def test_stopping_keeps_what_the_workers_finished(tmp_path):
    stopped = []

    def hook(pool):
        write = pool.on_record

        def on_record(rec, acc, events):
            write(rec, acc, events)
            if len(pool.records) == 4 and not stopped:
                stopped.append(True)
                pool.stop()
        pool.on_record = on_record

    outcome = await run(tmp_path, CLOSED.replace("repetitions: 5", "repetitions: 30"), on_runner=hook)
    recs = records(tmp_path / "out")
    assert outcome.result.partial and summary(tmp_path / "out")["partial"] is True
    assert 4 <= len(recs) < 2 * 2 * 90 and len(recs) == len(outcome.result.results)


def test_workers_field():
    base = 'prompts: ["x"]\nload: {concurrency: [2, 8], workers: %s}\n'
    assert parse_scenario(base % "3").workers == 3
    sc = parse_scenario(base % "auto")
    assert sc.workers == "auto" and 1 <= resolve_workers(sc) <= 8
    assert parse_scenario('prompts: ["x"]\nload: {workers: 2}\n').steps[0].value == 1
    assert parse_scenario('prompts: ["x"]\n').workers == 1
    for bad in ("0", "1.5", "many", "true", "65"):
        with pytest.raises(ConfigError) as e:
            parse_scenario(base % bad, "s.yaml")
        assert "load.workers" in str(e.value) and "s.yaml" in str(e.value)
