"""Fan-out: one callback per channel per loop turn, bytes shared by subscribers at one position,
direct writes by idle SSE writers, every hub rule kept."""
from __future__ import annotations

import asyncio

from tokenrace.server.hub import Batch, Hub
from tokenrace.sse import SSEDecoder

from tests.server import harness, sim_fast, wait_for  # noqa: F401


async def test_events_of_one_loop_turn_go_out_together_and_shared():
    ch = Hub().open("r")
    got: dict[int, list[Batch]] = {}
    subs = [ch.subscribe() for _ in range(3)] + [ch.subscribe(provider="b")]
    for i, sub in enumerate(subs):
        got[i] = []
        sub.push = got[i].append
    for i in range(5):                                  # one loop turn
        ch.publish("delta", {"provider": "a" if i % 2 else "b", "text": str(i)}, "a" if i % 2 else "b")
    assert ch.fanouts == 0 and all(not v for v in got.values())
    await asyncio.sleep(0)
    assert ch.fanouts == 1
    assert [len(v) for v in got.values()] == [1, 1, 1, 1]
    assert got[0][0] is got[1][0] is got[2][0]          # one bytes object for everyone at one position
    assert [e.id for e in SSEDecoder().feed(got[0][0].data)] == ["1", "2", "3", "4", "5"]
    assert [e.id for e in SSEDecoder().feed(got[3][0].data)] == ["1", "3", "5"]
    assert got[0][0].chunk == b"%x\r\n%b\r\n" % (len(got[0][0].data), got[0][0].data)
    subs[1].push = None                                 # a writer that is busy: woken, not pushed to
    waiter = asyncio.ensure_future(subs[1].wait(5))
    await asyncio.sleep(0)
    ch.publish("delta", {"provider": "a", "text": "x"}, "a")
    ch.publish("delta", {"provider": "a", "text": "y"}, "a")
    assert await waiter is True
    await asyncio.sleep(0)
    assert [e.id for e in SSEDecoder().feed(got[0][1].data)] == ["6", "7"] and len(got[1]) == 1
    assert subs[1].cursor == 5 and subs[1].take()[0].count(b"id: ") == 2


async def test_server_writes_live_events_directly(harness):
    run_id = await harness.create("direct", ["steady", "fast-a"])
    readers = [asyncio.create_task(harness.sse(f"/api/runs/{run_id}/events")) for _ in range(20)]
    await wait_for(lambda: harness.live_subscribers() == 20)
    ch = harness.server.hub.get(run_id)
    results = await asyncio.gather(*readers)
    assert ch.fanouts > 10                              # live events went out through the fan-out
    assert len({r.raw for r in results}) == 1 and results[0].ended
    late = await harness.sse(f"/api/runs/{run_id}/events")
    assert late.raw == results[0].raw                   # the same bytes as a replay from the history
    await wait_for(lambda: harness.live_subscribers() == 0)
