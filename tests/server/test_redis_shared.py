"""`serve --redis`: two server processes' worth of Server objects in one test process, one real Redis.

Every process serves every run: replay and live events from a mirror (XRANGE, then one XREAD reader
per run), Last-Event-ID across processes, the shared run index, records, threads and cancels.
"""
from __future__ import annotations

import asyncio
import json
import random

import aiohttp

import pytest

from tokenrace.server import ServerSettings
from tokenrace.server.hub import Channel
from tokenrace.server.redis_bridge import RedisBridge, RedisUnavailable
from tokenrace.simulator import Profile, answer_tokens

from tests.server import Harness, provider, sim_fast, wait_for  # noqa: F401


def key(e):
    return (e.id, e.event, e.data)


def add_slow(sim_fast, *harnesses) -> None:
    """A provider that streams for about 12 s, on every given server."""
    sim_fast.add_profile(Profile("slow", ttft_ms=20, itl_ms=30, answer_tokens=400))
    for h in harnesses:
        cfg = h.server.manager.config
        h.server.manager.config = type(cfg)(providers=cfg.providers + (provider(sim_fast, "slow"),),
                                            defaults=cfg.defaults)


async def read_until_cut(h, path: str) -> tuple[list, bool]:
    """Events until the server closes the stream; True when aiohttp saw the chunked body cut short
    (a close right after a whole chunk may also read as a clean end)."""
    from tokenrace.sse import SSEDecoder
    dec, events = SSEDecoder(), []
    try:
        async with asyncio.timeout(20):
            async with h.session.get(h.base + path) as resp:
                async for chunk in resp.content.iter_any():
                    events.extend(dec.feed(chunk))
    except aiohttp.ClientPayloadError:
        return events, True
    return events, False


@pytest.fixture
async def pair(sim_fast, tmp_path, redis_url):
    """A and B: two servers with their own databases (as on two machines) sharing one Redis."""
    providers = [provider(sim_fast, "fast-a"), provider(sim_fast, "fast-b", "anthropic"),
                 provider(sim_fast, "steady", "gemini")]
    a = Harness(sim_fast, tmp_path / "a.db", providers, ServerSettings(redis_url=redis_url, lease_s=2))
    b = Harness(sim_fast, tmp_path / "b.db", providers, ServerSettings(redis_url=redis_url, lease_s=2))
    await a.start()
    await b.start()
    yield a, b
    await a.stop()
    await b.stop()


async def test_run_on_a_read_on_b_with_reconnects_alternating(pair, sim_fast):
    a, b = pair
    prompt = "shared resume"
    run_id = await a.create(prompt, ["steady", "fast-a"])
    rng = random.Random(11)
    got, last, reconnects = [], None, 0
    while True:
        h = (b, a)[reconnects % 2]
        headers = {"Last-Event-ID": last} if last is not None else {}
        res = await h.sse(f"/api/runs/{run_id}/events", headers=headers, stop_after=rng.randint(1, 5))
        assert res.status == 200 and not res.of("reset"), res.raw[:300]
        got.extend(res.events)
        if res.ended:
            break
        last = res.events[-1].id
        reconnects += 1
    assert reconnects >= 30
    assert [int(e.id) for e in got] == list(range(1, len(got) + 1))     # no gap, no duplicate
    on_a = await a.sse(f"/api/runs/{run_id}/events")
    on_b = await b.sse(f"/api/runs/{run_id}/events")
    assert on_a.raw == on_b.raw                                          # byte for byte
    assert [key(e) for e in got] == [key(e) for e in on_a.events]
    text = "".join(json.loads(e.data).get("text", "") for e in got
                   if e.event == "delta" and json.loads(e.data)["provider"] == "steady")
    assert text == "".join(answer_tokens(sim_fast.profiles["steady"], prompt, 512))
    one_b = await b.sse(f"/api/runs/{run_id}/providers/fast-a/events", headers={"Last-Event-ID": "3"})
    one_a = await a.sse(f"/api/runs/{run_id}/providers/fast-a/events", headers={"Last-Event-ID": "3"})
    assert one_b.raw == one_a.raw and one_b.ended


async def test_one_reader_per_run_per_process(pair):
    a, b = pair
    run_id = await a.create("many readers", ["steady"])
    readers = [asyncio.create_task(b.sse(f"/api/runs/{run_id}/events")) for _ in range(25)]
    await wait_for(lambda: b.live_subscribers() == 25, timeout=10)
    mirrors = [t for t in asyncio.all_tasks() if t.get_name() == f"tokenrace-mirror-{run_id}"]
    assert len(mirrors) == 1 and list(b.server.shared.mirrors.live) == [run_id]
    results = await asyncio.gather(*readers)
    assert all(r.ended for r in results) and len({r.raw for r in results}) == 1
    assert results[0].raw == (await a.sse(f"/api/runs/{run_id}/events")).raw
    await wait_for(lambda: not b.server.shared.mirrors.live)                 # the reader ends with the run


async def test_index_records_and_threads_from_every_process(pair):
    a, b = pair
    first = await a.create("first turn", ["fast-a", "fast-b"])
    status, live, _ = await b.request("GET", f"/api/runs/{first}")
    assert status == 200 and live["id"] == first and live["prompt"] == "first turn"
    assert (await b.sse(f"/api/runs/{first}/events")).ended
    await wait_for(lambda: not a.server.manager.runs)
    _, on_a, _ = await a.request("GET", f"/api/runs/{first}")
    _, on_b, _ = await b.request("GET", f"/api/runs/{first}")
    assert on_b["status"] == "done" and on_b["results"] == on_a["results"]
    # a follow-up asked on B continues A's run: B reads the conversation from Redis
    status, doc, _ = await b.request("POST", "/api/runs", json={"prompt": "second turn", "parent": first})
    assert status == 201, doc
    second = doc["id"]
    assert (await a.sse(f"/api/runs/{second}/events")).ended
    for h in (a, b):
        _, runs, _ = await h.request("GET", "/api/runs")
        assert [r["id"] for r in runs[:2]] == [second, first]
        _, thread, _ = await h.request("GET", f"/api/runs/{second}/thread")
        assert [r["id"] for r in thread["runs"]] == [first, second]
        assert thread["runs"][0]["results"][0]["text"] == on_a["results"][0]["text"]


async def test_cancel_sent_to_another_process(pair, sim_fast):
    a, b = pair
    add_slow(sim_fast, a, b)
    run_id = await a.create("cancel me elsewhere", ["slow"])
    part = await b.sse(f"/api/runs/{run_id}/events", stop_at_event="delta")
    assert part.of("delta")
    status, doc, _ = await b.request("DELETE", f"/api/runs/{run_id}")
    assert status == 202, doc
    res = await b.sse(f"/api/runs/{run_id}/events", headers={"Last-Event-ID": part.events[-1].id})
    end = json.loads(res.events[-1].data)
    assert end["status"] == "cancelled" and end["reason"] == "cancelled by request"
    assert res.data("done")[0]["status"] == "cancelled"


async def test_history_trimmed_in_redis_gets_reset_then_what_is_kept(sim_fast, tmp_path, redis_url):
    sim_fast.add_profile(Profile("long", ttft_ms=5, itl_ms=1, answer_tokens=600))
    providers = [provider(sim_fast, "long")]
    a = await Harness(sim_fast, tmp_path / "a.db", providers,
                      ServerSettings(redis_url=redis_url, redis_maxlen=50)).start()
    b = await Harness(sim_fast, tmp_path / "b.db", providers, ServerSettings(redis_url=redis_url)).start()
    try:
        run_id = await a.create("a long answer", params={"max_tokens": 1000})
        full = await a.sse(f"/api/runs/{run_id}/events")
        assert full.ended and len(full.events) > 400
        await wait_for(lambda: not a.server.manager.runs, timeout=10)     # all of it is in Redis
        res = await b.sse(f"/api/runs/{run_id}/events")
        assert res.events[0].event == "reset" and "trimmed" in json.loads(res.events[0].data)["reason"]
        kept = res.events[1:]
        first = int(kept[0].id)
        assert first > 1 and [key(e) for e in kept] == [key(e) for e in full.events[first - 1:]]
        assert res.data("done")[0]["text"] == full.data("done")[0]["text"]     # done has the whole text
        # a resume point inside what is kept continues exactly; an older one gets the reset
        mid = str(first + 5)
        again = await b.sse(f"/api/runs/{run_id}/events", headers={"Last-Event-ID": mid})
        assert [key(e) for e in again.events] == [key(e) for e in full.events[first + 5:]]
        old = await b.sse(f"/api/runs/{run_id}/events", headers={"Last-Event-ID": "2"})
        assert old.events[0].event == "reset" and [key(e) for e in old.events[1:]] == [key(e) for e in kept]
    finally:
        await a.stop()
        await b.stop()


async def test_unreachable_redis_is_a_clear_error(sim_fast, tmp_path):
    from tests.conftest import _free_port
    url = f"redis://user:hunter2secret@127.0.0.1:{_free_port()}/0"
    h = Harness(sim_fast, tmp_path / "x.db", [provider(sim_fast, "fast-a")], ServerSettings(redis_url=url))
    with pytest.raises(RedisUnavailable) as err:
        await h.start()
    assert "cannot reach Redis at redis://127.0.0.1:" in str(err.value) and "hunter2" not in str(err.value)
    await h.stop()


def test_no_redis_import_without_redis():
    import subprocess
    import sys
    code = ("import sys, tokenrace.server.app, tokenrace.commands.serve_cmd, tokenrace.server.runs;"
            "print('redis' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
    assert RedisBridge("redis://:pw@h:1/2").where == "redis://h:1/2"


async def test_owner_stalled_past_its_lease_loses_the_run(pair, sim_fast):
    """A stops renewing its lease (as if its loop hung): B ends A's run interrupted; A's next XADD is
    refused, so A stops the run too and leaves B's record alone; A lists itself again once it renews."""
    a, b = pair
    add_slow(sim_fast, a, b)
    run_id = await a.create("stall", ["slow"])
    part = await b.sse(f"/api/runs/{run_id}/events", stop_at_event="delta")
    lease = a.server.manager.lease
    lease.task.cancel()
    await asyncio.wait([lease.task])
    res = await b.sse(f"/api/runs/{run_id}/events", headers={"Last-Event-ID": part.events[-1].id}, timeout=20)
    end = json.loads(res.events[-1].data)
    assert end["status"] == "interrupted" and "lease expired" in end["reason"]
    await wait_for(lambda: run_id not in a.server.manager.runs, timeout=10)
    _, doc, _ = await b.request("GET", f"/api/runs/{run_id}")
    assert doc["status"] == "interrupted" and doc["results"][0]["error_kind"] == "interrupted"
    r = b.server.shared.redis
    assert lease.proc.encode() not in await r.smembers(lease.procs_key)
    lease.task = asyncio.create_task(lease._loop())
    async with asyncio.timeout(10):
        while lease.proc.encode() not in await r.smembers(lease.procs_key):
            await asyncio.sleep(0.05)


async def test_a_mirror_whose_reader_stops_sends_its_readers_to_a_new_one(pair, sim_fast):
    """B's reader of A's run stops before the run's end: B's subscribers are disconnected (never left on
    a channel nothing feeds), and their reconnects continue exactly from a new mirror."""
    a, b = pair
    add_slow(sim_fast, a, b)
    run_id = await a.create("reader stops", ["slow"])
    first = await b.sse(f"/api/runs/{run_id}/events", stop_at_event="delta")
    await wait_for(lambda: b.live_subscribers() == 0)
    reader = asyncio.create_task(read_until_cut(b, f"/api/runs/{run_id}/events"))
    await wait_for(lambda: b.live_subscribers() == 1)
    m = b.server.shared.mirrors.live[run_id]
    assert not m.channel.closed
    while not m.task.done():         # redis-py's blocked XREAD may swallow a cancel: ask until it stops
        m.task.cancel()
        await asyncio.wait([m.task], timeout=0.5)
    events, _ = await reader                              # closed by the server, before any end
    assert events and events[-1].event != "end" and b.live_subscribers() == 0
    assert run_id not in b.server.shared.mirrors.live and b.server.hub.get(run_id) is not m.channel
    rest = await b.sse(f"/api/runs/{run_id}/events", headers={"Last-Event-ID": events[-1].id}, stop_after=10)
    assert not rest.of("reset")
    full = await a.sse(f"/api/runs/{run_id}/events", stop_after=len(events) + 10)
    assert [key(e) for e in events + rest.events] == [key(e) for e in full.events]
    assert (await a.request("DELETE", f"/api/runs/{run_id}"))[0] == 202
    assert first.events[0].id == "1"


async def test_a_hole_in_what_a_mirror_reads_drops_its_readers():
    """Entries trimmed before the mirror read them (it fell more than MAXLEN behind): no gap is served."""
    from tokenrace.server.hub import Hub
    from tokenrace.server.mirror import Mirror, Mirrors

    hub = Hub()
    mirrors = Mirrors(RedisBridge("redis://127.0.0.1:1/0"))
    mirrors.hub = hub
    ch = hub.attach(Channel("r"))
    m = mirrors.live["r"] = Mirror(ch, "k")

    def entry(i: int) -> tuple[bytes, dict[bytes, bytes]]:
        return f"0-{i}".encode(), {b"e": b"delta", b"p": b"a", b"d": b'{"provider":"a","text":"x"}'}

    assert mirrors._ingest(m, [entry(1), entry(2), entry(2), entry(3)]) and ch.last_id == 3   # overlap skipped
    sub = ch.subscribe()
    dropped: list[str] = []
    sub.on_drop = dropped.append
    assert not mirrors._ingest(m, [entry(7)])
    assert sub.closed and dropped and "trimmed" in dropped[0] and ch.last_id == 3
    assert "r" not in hub.channels and "r" not in mirrors.live
