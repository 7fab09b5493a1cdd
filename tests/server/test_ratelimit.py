"""Run creation rate limit: a token bucket per client address, on a clock the tests move."""
from __future__ import annotations

import aiohttp
import pytest

from tokenrace.server import ServerSettings
from tokenrace.server.ratelimit import RateLimiter

from tests.server import Harness, provider, sim_fast  # noqa: F401  (fixtures)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def started(lim: RateLimiter, client: str) -> float:
    """What the server does: refuse while ``wait`` > 0, else start the run and charge it."""
    wait = lim.wait(client)
    if wait == 0.0:
        lim.charge(client)
    return wait


def test_bucket_burst_then_rate():
    clock = Clock()
    lim = RateLimiter(per_minute=6, burst=3, clock=clock)        # one token every 10 s
    assert [started(lim, "a") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = started(lim, "a")
    assert wait == pytest.approx(10.0) and lim.retry_after(wait) == 10
    assert started(lim, "b") == 0.0                               # another client has its own bucket
    clock.now += 4.0
    assert started(lim, "a") == pytest.approx(6.0)                # refused takes nothing
    clock.now += 6.0
    assert started(lim, "a") == 0.0 and started(lim, "a") > 0
    clock.now += 3600                                             # refills to the burst, never beyond
    assert [started(lim, "a") == 0.0 for _ in range(4)] == [True, True, True, False]


def test_runs_admitted_together_leave_a_debt():
    clock = Clock()
    lim = RateLimiter(per_minute=60, burst=1, clock=clock)       # one a second
    assert lim.wait("a") == 0.0 and lim.wait("a") == 0.0         # two requests checked before either started
    lim.charge("a")
    lim.charge("a")
    assert lim.wait("a") == pytest.approx(2.0)                    # the second one is paid by waiting
    clock.now += 2.0
    assert lim.wait("a") == 0.0


def test_table_of_clients_stays_bounded():
    clock = Clock()
    lim = RateLimiter(per_minute=60, burst=2, clock=clock, max_clients=100)
    for i in range(1000):
        started(lim, f"10.0.{i // 256}.{i % 256}")
        clock.now += 0.01
    assert len(lim) <= 100
    clock.now += 10                                               # all full again: forgotten on the next new one
    started(lim, "new")
    assert len(lim) == 1
    with pytest.raises(ValueError):
        RateLimiter(per_minute=0, burst=1)


async def test_post_runs_answers_429_with_retry_after(sim_fast, tmp_path):
    h = await Harness(sim_fast, tmp_path / "r.db", [provider(sim_fast, "fast-a")],
                      ServerSettings(max_runs_per_minute=6, run_burst=2)).start()
    clock = Clock()
    h.server.limiter.clock = clock
    body = {"prompt": "rate", "providers": ["fast-a"]}
    try:
        for _ in range(5):                                            # invalid requests take no token
            status, doc, _ = await h.request("POST", "/api/runs", json={"prompt": ""})
            assert status == 400
        for _ in range(2):
            status, doc, _ = await h.request("POST", "/api/runs", json=body)
            assert status == 201, doc
        status, doc, resp = await h.request("POST", "/api/runs", json=body)
        assert status == 429 and resp.headers["Content-Type"].startswith("application/json")
        assert resp.headers["Retry-After"] == "10"
        assert "at most 6 a minute" in doc["error"] and "--max-runs-per-minute" in doc["error"]
        # the streaming form of POST is limited the same way; reading the API is not
        status, doc, resp = await h.request("POST", "/api/runs", json=body, headers={"Accept": "text/event-stream"})
        assert status == 429 and "error" in doc
        assert (await h.request("GET", "/api/runs"))[0] == 200
        assert (await h.request("GET", "/api/providers"))[0] == 200

        # another address has its own bucket (all of 127.0.0.0/8 is loopback)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))) as other:
            async with other.post(h.base + "/api/runs", json=body) as r:
                assert r.status == 201, await r.text()

        clock.now += 9.9
        status, doc, resp = await h.request("POST", "/api/runs", json=body)
        assert status == 429 and resp.headers["Retry-After"] == "1"
        clock.now += 0.2
        status, doc, _ = await h.request("POST", "/api/runs", json=body)
        assert status == 201, doc
        assert len(await h.store.list_runs()) == 4
    finally:
        await h.stop()
