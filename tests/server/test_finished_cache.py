"""Finished runs' channels are kept in memory within a byte budget; evicted ones replay from the store."""
from __future__ import annotations

import gc
import sqlite3
import tracemalloc

import pytest

from tokenrace.server import HubLimits, ServerSettings
from tokenrace.server.hub import Channel, Hub
from tokenrace.simulator import Profile, Simulator

from tests.server import Harness, provider

BIG = Profile("big", ttft_ms=5, itl_ms=1, tokens_per_chunk=25, answer_tokens=2500)


def fill(ch: Channel, events: int, text: str) -> None:
    for i in range(events):
        ch.publish("delta", {"provider": "p", "text": text, "t_ms": float(i)}, "p")
    ch.publish("end", {"run": ch.run_id, "status": "done"})


def test_finished_channels_bounded_by_bytes_lru():
    budget = 1_000_000
    hub = Hub(HubLimits(keep_finished=1000, keep_finished_bytes=budget))
    sizes = {}
    for i in range(12):
        ch = hub.open(f"r{i}")
        fill(ch, 300, "x" * 200)
        ch.close()
        sizes[ch.run_id] = ch.footprint         # about the same for every channel here
        assert hub.finished_bytes <= budget
        if i == 1:
            assert hub.get("r0") is not None    # a replay makes r0 the most recently used
    fits = budget // max(sizes.values())
    assert 3 <= fits <= 8
    assert sorted(hub.channels, key=lambda k: int(k[1:])) == [f"r{i}" for i in range(12 - fits, 12)]
    assert hub.finished_bytes == sum(sizes[k] for k in hub.channels)

    hub = Hub(HubLimits(keep_finished=1000, keep_finished_bytes=budget))
    for i in range(fits + 1):
        ch = hub.open(f"r{i}")
        fill(ch, 300, "x" * 200)
        ch.close()
        if i == fits - 1:
            hub.get("r0")
    assert "r0" in hub.channels and "r1" not in hub.channels     # least recently used first out

    # a live channel is not counted and never evicted; one larger than the whole budget is not kept
    live = hub.open("live")
    fill(live, 5_000, "y" * 200)
    assert "live" in hub.channels and hub.finished_bytes <= budget
    live.close()
    assert "live" not in hub.channels and hub.finished_bytes <= budget


@pytest.mark.parametrize("text", ["ascii " * 8, "汉字和emoji😀" * 4, "é" * 300])
def test_footprint_tracks_real_memory(text):
    """The budget counts what a history really holds once the store has written it (measured with
    tracemalloc), within 15 %."""
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE messages (data TEXT)")
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        ch = Channel("m")
        fill(ch, 5_000, text)
        ch.close()
        # as RunStore does: binding a str makes sqlite3 cache its UTF-8 form inside it
        db.executemany("INSERT INTO messages VALUES (?)", [(m.data,) for m in ch.history])
        db.execute("DELETE FROM messages")
        gc.collect()
        real = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
        db.close()
    assert 0.85 * real <= ch.footprint <= 1.15 * real, (ch.footprint, real)


async def test_evicted_runs_replay_completely_from_the_store(tmp_path):
    sim = Simulator((BIG,))
    await sim.start()
    budget = 700_000                 # each run holds ~280 kB: two fit
    h = Harness(sim, tmp_path / "cache.db", [provider(sim, "big", name="big-a"), provider(sim, "big", name="big-b")],
                ServerSettings(hub=HubLimits(keep_finished_bytes=budget)))
    await h.start()
    try:
        live: dict[str, bytes] = {}
        for i in range(6):
            run_id = await h.create(f"large answer {i}", params={"max_tokens": 4000})
            res = await h.sse(f"/api/runs/{run_id}/events")
            assert res.ended and {d["status"] for d in res.data("done")} == {"ok"}
            live[run_id] = res.raw
            assert h.server.hub.finished_bytes <= budget
        hub = h.server.hub
        evicted = [r for r in live if r not in hub.channels]
        assert evicted == list(live)[:len(evicted)] and 2 <= len(evicted) <= 5   # far below keep_finished
        for run_id in evicted:
            replay = await h.sse(f"/api/runs/{run_id}/events")
            assert replay.raw == live[run_id]       # byte for byte what was streamed live
            one = await h.sse(f"/api/runs/{run_id}/providers/big-b/events", headers={"Last-Event-ID": "5"})
            assert one.ended and all(int(e.id) > 5 for e in one.events)
            assert hub.finished_bytes <= budget
    finally:
        await h.stop()
        await sim.stop()
