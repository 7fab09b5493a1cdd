"""Bounded subscribers, slow readers, heartbeats, clean disconnects; the hub on its own."""
from __future__ import annotations

import asyncio
import gc
import json
import logging
import socket
import time

import pytest

from tokenrace.server import HubLimits, ServerSettings
from tokenrace.server.hub import Channel, Hub
from tokenrace.simulator import Profile
from tokenrace.sse import SSEDecoder

from tests.server import Harness, harness, provider, read_sse, sim_fast, wait_for  # noqa: F401


@pytest.mark.parametrize("limit", ["backlog", "flush_timeout"])
async def test_slow_subscriber_dropped_others_unaffected(harness, caplog, limit):
    """Events are published straight into a hub channel of the real server, paced so the normal
    subscriber keeps up (deterministic on a busy machine); the other client never reads."""
    caplog.set_level(logging.WARNING, logger="tokenrace.server")
    if limit == "backlog":
        harness.server.hub.limits = HubLimits(max_lag_bytes=64 * 1024, check_every=4)
        harness.settings.flush_timeout_s = 30
    else:
        harness.settings.flush_timeout_s = 0.5
    ch = harness.server.hub.open("bulk-run")
    loop = asyncio.get_running_loop()
    slow = socket.socket()
    try:
        # a client that never reads, with a tiny receive window ...
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.setblocking(False)
        await loop.sock_connect(slow, ("127.0.0.1", harness.server.port))
        await loop.sock_sendall(slow, b"GET /api/runs/bulk-run/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        await wait_for(lambda: harness.live_subscribers() == 1)
        (slow_sub,) = ch.subscribers
        # ... and a small send buffer on the server side (loopback autotuning would absorb megabytes)
        slow_sub.on_drop.__self__.h.request.connection.stream.socket.setsockopt(
            socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        normal = asyncio.create_task(harness.sse("/api/runs/bulk-run/events", timeout=30))
        await wait_for(lambda: harness.live_subscribers() == 2)
        (normal_sub,) = ch.subscribers - {slow_sub}
        text = "w" * 1000
        for i in range(300):                   # 300 kB
            ch.publish("delta", {"provider": "p", "text": text}, "p")
            await wait_for(lambda: normal_sub.cursor == ch.last_id or normal_sub.closed, timeout=10,
                           interval=0.001)
        ch.publish("end", {"run": "bulk-run", "status": "done"})
        ch.close()
        res = await normal
        assert res.ended and len(res.of("delta")) == 300 and not normal_sub.reason
        await wait_for(lambda: harness.live_subscribers() == 0, timeout=10)
        assert slow_sub.closed
        reason = "too slow" if limit == "backlog" else "read nothing for 0.5 s"
        assert sum(1 for r in caplog.records if "dropping a subscriber" in r.getMessage()) == 1
        assert any(reason in r.getMessage() for r in caplog.records)
        # the server closed the slow client's connection before it had everything
        got = b""
        async with asyncio.timeout(10):
            while chunk := await loop.sock_recv(slow, 1 << 20):
                got += chunk
        assert b"event: end" not in got and b"event: delta" in got
    finally:
        slow.close()


async def test_disconnects_leave_nothing_behind(harness):
    from tokenrace.server.hub import Subscriber
    from tokenrace.server.sse_handler import SSEWriter

    def leftovers() -> int:
        gc.collect()
        return sum(1 for o in gc.get_objects() if isinstance(o, (Subscriber, SSEWriter)))

    run_id = await harness.create("churn", ["steady"])
    await harness.sse(f"/api/runs/{run_id}/events", stop_after=2)
    await wait_for(lambda: harness.live_subscribers() == 0)
    tasks_before = len(asyncio.all_tasks())
    for i in range(500):                       # while the run streams (and after)
        path = f"/api/runs/{run_id}/events" if i % 2 else f"/api/runs/{run_id}/providers/steady/events"
        await harness.sse(path, stop_after=1)
    await harness.sse(f"/api/runs/{run_id}/events")        # to the end
    finished = await harness.server.manager.channel(run_id)
    for _ in range(500):
        await harness.sse(f"/api/runs/{run_id}/events", stop_after=3)
    await wait_for(lambda: harness.live_subscribers() == 0)
    assert not finished.subscribers
    await wait_for(lambda: leftovers() == 0)
    # the run's own tasks are gone too, so fewer or equal tasks than while it ran
    await wait_for(lambda: len(asyncio.all_tasks()) <= tasks_before)


async def test_heartbeat_comments_on_idle_stream(sim_fast, tmp_path):
    sim_fast.add_profile(Profile("sleepy", ttft_ms=400, itl_ms=5, answer_tokens=5))
    h = await Harness(sim_fast, tmp_path / "h.db", [provider(sim_fast, "sleepy")],
                      ServerSettings(heartbeat_s=0.05)).start()
    try:
        run_id = await h.create("zzz", ["sleepy"])
        res = await h.sse(f"/api/runs/{run_id}/events")
        assert res.raw.count(b": ping\n\n") >= 3 and res.ended
    finally:
        await h.stop()


async def test_overload_answers_200_with_retry(sim_fast, tmp_path):
    h = await Harness(sim_fast, tmp_path / "o.db", [provider(sim_fast, "steady")],
                      ServerSettings(hub=HubLimits(max_subscribers=1))).start()
    try:
        run_id = await h.create("busy", ["steady"])
        first = asyncio.create_task(h.sse(f"/api/runs/{run_id}/events"))
        await wait_for(lambda: h.live_subscribers() == 1)
        second = await h.sse(f"/api/runs/{run_id}/events")
        assert second.status == 200 and second.closed and b"retry: 5000" in second.raw and not second.events
        assert (await first).ended
    finally:
        await h.stop()


# ---------------------------------------------------------------- the hub alone (no tornado)
def _frames(data: bytes) -> list:
    return SSEDecoder().feed(data)


async def test_hub_replay_then_live_in_order():
    hub = Hub()
    ch = hub.open("r1")
    for i in range(5):
        ch.publish("delta", {"provider": "a" if i % 2 else "b", "text": str(i)}, "a" if i % 2 else "b")
    sub = ch.subscribe(last_event_id="2")
    only_a = ch.subscribe(provider="a")
    data, done = sub.take()
    assert [e.id for e in _frames(data)] == ["3", "4", "5"] and not done
    waiter = asyncio.ensure_future(sub.wait(5))
    await asyncio.sleep(0)
    ch.publish("delta", {"provider": "b", "text": "5"}, "b")
    assert await waiter is True
    ch.publish("end", {"run": "r1", "status": "done"}, None)
    ch.close()
    data, done = sub.take()
    assert [e.id for e in _frames(data)] == ["6", "7"] and done
    data, done = only_a.take()
    assert [e.id for e in _frames(data)] == ["2", "4", "7"] and done
    assert await sub.wait(0.01) is True           # closed channel: never blocks
    ch.unsubscribe(sub)
    ch.unsubscribe(only_a)
    assert hub.subscriber_count == 0


async def test_hub_wait_times_out_for_heartbeat():
    ch = Hub().open("r")
    sub = ch.subscribe()
    t = time.perf_counter()
    assert await sub.wait(0.02) is False
    assert time.perf_counter() - t >= 0.015


def test_hub_drops_lagging_subscriber_only():
    dropped = []
    ch = Hub(HubLimits(max_lag_events=10, check_every=1)).open("r")
    fast, slow = ch.subscribe(), ch.subscribe()
    slow.on_drop = dropped.append
    for i in range(30):
        ch.publish("delta", {"provider": "a", "text": "x"}, "a")
        fast.take()
    assert slow.closed and dropped and "too slow" in dropped[0]
    assert not fast.closed and fast.cursor == 30
    assert ch.subscribers == {fast}


def test_hub_replay_does_not_count_as_lag():
    ch = Hub(HubLimits(max_lag_events=5, check_every=1)).open("r")
    for _ in range(100):
        ch.publish("delta", {"provider": "a", "text": "x"}, "a")
    late = ch.subscribe()
    ch.publish("delta", {"provider": "a", "text": "y"}, "a")
    assert not late.closed and late.backlog() == (1, len(ch.history[-1].frame))


@pytest.mark.parametrize("bad", ["101", "x", "", " 7 "])
def test_hub_reset_and_id_parsing(bad):
    ch = Hub().open("r")
    for _ in range(10):
        ch.publish("delta", {"provider": "a", "text": "x"}, "a")
    sub = ch.subscribe(last_event_id=bad)
    if bad in ("", " 7 "):
        assert sub.prefix == b"" and sub.cursor == (7 if bad.strip() else 0)
    else:
        (ev,) = _frames(sub.prefix)
        assert ev.event == "reset" and ev.id == "0" and "reason" in json.loads(ev.data)
        assert sub.cursor == 0


def test_finished_channels_are_bounded():
    hub = Hub(HubLimits(keep_finished=3))
    for i in range(10):
        ch = hub.open(f"r{i}")
        ch.publish("end", {"run": f"r{i}", "status": "done"})
        ch.close()
    assert sorted(hub.channels) == ["r7", "r8", "r9"]


def test_channel_load_checks_ids():
    ch = Channel("r")
    ch.load([(1, "start", "a", "{}"), (2, "end", None, "{}")])
    assert ch.last_id == 2
    with pytest.raises(ValueError):
        Channel("r").load([(2, "start", "a", "{}")])
