"""Retention: the run database keeps the newest runs (by count and age), never a running one."""
from __future__ import annotations

import asyncio
import time

from tokenrace.events import TextDelta
from tokenrace.metrics import compute
from tokenrace.server import ServerSettings
from tokenrace.store import RunStore

from tests.server import Harness, provider, sim_fast  # noqa: F401  (fixtures)

DAY = 86400.0


async def seed(store: RunStore, n: int, running: set[int] = frozenset(), now: float | None = None) -> list[str]:
    """``n`` runs, r00 the oldest (n days ago) to r{n-1} (1 day ago), each with events, messages, results."""
    now = time.time() if now is None else now
    ids = []
    for i in range(n):
        run_id = f"r{i:02d}"
        ids.append(run_id)
        await store.create_run(run_id, f"prompt {i}", {}, [{"name": "p", "kind": "openai", "model": "m"}],
                               source="serve", created=now - (n - i) * DAY)
        store.append_events(run_id, [TextDelta("p", k, k * 1000, f"text {k}") for k in range(3)])
        store.append_messages(run_id, [(k + 1, "delta", f'{{"provider":"p","text":"{k}"}}') for k in range(3)])
        if i not in running:
            await store.finish_run(run_id, "done", [compute([], provider="p")])
    await store.flush()
    return ids


def run_ids_in(rows: list[tuple]) -> set[str]:
    # runs: id first; results, events, messages: run_id first (events: n, run_id)
    return {r[2] if r[0] == "events" else r[1] for r in rows}


async def test_prune_by_count_and_age_never_running(tmp_path):
    async with RunStore(tmp_path / "p.db") as store:
        now = time.time()
        ids = await seed(store, 10, running={2, 8}, now=now)
        assert await store.prune(keep_runs=None, keep_days=None) == 0
        assert await store.prune(keep_runs=4, keep_days=None) == 5          # r00..r05 but r02, running
        left = [r["id"] for r in await store.list_runs(100)]
        assert sorted(left) == ["r02", "r06", "r07", "r08", "r09"]
        assert run_ids_in(await store.dump()) == set(left)                # results, events, messages too
        assert await store.prune(keep_runs=4, keep_days=None) == 0          # r02 still running: kept
        assert await store.prune(keep_runs=None, keep_days=2.5) == 2        # r06 (4 days), r07 (3 days)
        assert sorted(r["id"] for r in await store.list_runs(100)) == ["r02", "r08", "r09"]
        await store.finish_run("r02", "cancelled", [])
        assert await store.prune(keep_runs=1, keep_days=None) == 1          # r02 now finished; r08 running
        assert sorted(r["id"] for r in await store.list_runs(100)) == ["r08", "r09"]
        assert run_ids_in(await store.dump()) == {"r08", "r09"}
        assert ids[0] == "r00"


async def test_prune_many_in_batches_keeps_the_store_usable(tmp_path):
    async with RunStore(tmp_path / "many.db") as store:
        await seed(store, 1200)
        pruning = asyncio.ensure_future(store.prune(keep_runs=10, keep_days=None))
        # the store answers other calls while it prunes (batches are separate jobs)
        assert len(await store.list_runs(5)) == 5
        assert await pruning == 1190
        assert [r["id"] for r in await store.list_runs(100)] == [f"r{i:02d}" for i in range(1199, 1189, -1)]
        assert len(await store.dump()) == 10 * 8                           # run, result, 3 events, 3 messages


async def test_server_prunes_at_start_and_periodically(sim_fast, tmp_path):
    db = tmp_path / "server.db"
    async with RunStore(db) as store:
        await seed(store, 8)
    h = Harness(sim_fast, db, [provider(sim_fast, "fast-a")],
                ServerSettings(keep_runs=3, keep_days=None, prune_interval_s=0.05))
    await h.start()
    server = h.server
    try:
        status, runs, _ = await h.request("GET", "/api/runs")
        assert status == 200 and [r["id"] for r in runs] == ["r07", "r06", "r05"]       # pruned at start
        new = []
        for i in range(3):
            run_id = await h.create(f"new {i}", ["fast-a"])
            assert (await h.sse(f"/api/runs/{run_id}/events")).ended
            new.append(run_id)
        async with asyncio.timeout(10):                                 # the next periodic prune
            while len(await h.store.list_runs(100)) > 3:
                await asyncio.sleep(0.02)
        assert [r["id"] for r in await h.store.list_runs(100)] == new[::-1]
    finally:
        await h.stop()
    assert server.prune_task is None            # stopped with the server


async def test_keep_days_at_start(sim_fast, tmp_path):
    db = tmp_path / "days.db"
    async with RunStore(db) as store:
        await seed(store, 6)                                            # 6 .. 1 days old
    h = await Harness(sim_fast, db, [provider(sim_fast, "fast-a")],
                      ServerSettings(keep_runs=None, keep_days=2.5)).start()
    try:
        _, runs, _ = await h.request("GET", "/api/runs")
        assert [r["id"] for r in runs] == ["r05", "r04"]
    finally:
        await h.stop()
