"""Engine faults over real loopback HTTP: redirects, a 1-byte-a-second drip, DNS name errors, cancel
before the start, and figures of failed providers that are true (null where nothing was measured)."""
from __future__ import annotations

import time

import pytest_asyncio
from aiohttp import web

from tokenrace.config.models import Config, ProviderConfig, Secret, Timeouts
from tokenrace.events import Failed, Finished, Notice, is_terminal
from tokenrace.protocol import ProviderDone, RunEnd
from tokenrace.providers.stream import stream_provider
from tokenrace.race import Race
from tokenrace.request import ChatRequest
from tokenrace.runrequest import RunRequest
from tokenrace.session import RaceSession

from tests.hostile import DripServer, RecordingServer

SSE_OK = (b'data: {"choices":[{"index":0,"delta":{"content":"moved"},"finish_reason":"stop"}]}\n\n'
          b"data: [DONE]\n\n")


def cfg(base_url: str, kind: str = "openai", **kw) -> ProviderConfig:
    kw.setdefault("timeout", Timeouts(connect=5, read=10, total=30))
    kw.setdefault("retries", 0)
    return ProviderConfig(name=kw.pop("name", "p"), kind=kind, model="m", base_url=base_url, **kw)


async def one(client, provider: ProviderConfig) -> list:
    events: list = []
    await stream_provider(client, provider, ChatRequest.from_prompt("hi"), events.append)
    return events


@pytest_asyncio.fixture
async def elsewhere():
    s = await RecordingServer(body=SSE_OK).start()
    yield s
    await s.stop()


async def test_a_redirect_to_another_origin_is_not_followed_and_sends_no_credentials(http_client, elsewhere):
    for kind, status in (("openai", 307), ("anthropic", 308), ("openai", 302)):
        origin = await RecordingServer(status=status, redirect_to=elsewhere.url).start()
        try:
            p = cfg(origin.url + "/v1", kind, api_key=Secret("sk-redirect-KEY-0123456789"),
                    headers={"X-Custom-Secret": "custom-secret-value-42"})
            events = await one(http_client, p)
        finally:
            await origin.stop()
        assert origin.requests and "sk-redirect-KEY" in repr(origin.requests[0]["headers"])   # sent to base_url
        assert elsewhere.requests == [], "credentials went to another origin"
        fail = events[-1]
        assert isinstance(fail, Failed) and fail.kind == "http" and fail.http_status == status
        assert elsewhere.url.split("//")[1] in fail.message and "not followed" in fail.message
        assert fail.message.startswith("p: ")


async def test_a_same_origin_redirect_is_followed_with_method_body_and_key(http_client):
    seen: list[tuple[str, str, str, bytes]] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        seen.append((request.method, request.path, request.headers.get("Authorization", ""), await request.read()))
        if request.path.startswith("/old/"):
            return web.Response(status=307, headers={"Location": "/new" + request.path[4:]})
        return web.Response(body=SSE_OK, content_type="text/event-stream")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        events = await one(http_client, cfg(url + "/old/v1", api_key=Secret("sk-same-origin-key")))
    finally:
        await runner.cleanup()
    assert isinstance(events[-1], Finished) and events[-1].status == "ok"
    assert [(m, p) for m, p, _, _ in seen] == [("POST", "/old/v1/chat/completions"), ("POST", "/new/v1/chat/completions")]
    assert seen[1][2] == "Bearer sk-same-origin-key" and seen[1][3] == seen[0][3] and b'"hi"' in seen[1][3]


async def test_a_drip_of_bytes_is_cut_by_the_read_timeout_not_held_to_the_total(http_client):
    drip = await DripServer(every_s=0.2).start()
    try:
        t0 = time.monotonic()
        events = await one(http_client, cfg(drip.url + "/v1", timeout=Timeouts(connect=5, read=1.0, total=120)))
        took = time.monotonic() - t0
    finally:
        await drip.stop()
    fail = events[-1]
    assert isinstance(fail, Failed) and fail.kind == "timeout" and "no complete event for 1 s" in fail.message
    assert "".join(e.text for e in events if type(e).__name__ == "TextDelta") == "first"   # text kept
    assert 0.9 < took < 30, took        # ~1 s of no events; far from the 120 s total timeout


async def test_heartbeat_comments_count_as_progress(http_client):
    drip = await DripServer(every_s=0.2, comments=True).start()
    try:
        events = await one(http_client, cfg(drip.url + "/v1", timeout=Timeouts(connect=5, read=1.0, total=2.5)))
    finally:
        await drip.stop()
    fail = events[-1]
    assert isinstance(fail, Failed) and "total timeout (2.5 s)" in fail.message      # not the read timeout


async def test_a_name_that_does_not_resolve_is_not_retried(http_client):
    events = await one(http_client, cfg("http://no-such-host.invalid:9/v1", retries=3))
    assert not any(isinstance(e, Notice) for e in events), "a DNS name error was retried"
    fail = events[-1]
    assert isinstance(fail, Failed) and fail.kind == "connect" and "does not resolve" in fail.message
    assert fail.attempt == 1


async def test_failed_providers_report_true_figures(http_client, elsewhere):
    refused = cfg("http://127.0.0.1:9/v1", name="refused", retries=1)      # nothing listens on port 9
    missing = cfg(elsewhere.url + "/v1", name="missing", unavailable="missing environment variable K")
    race = Race(http_client, [refused, missing], ChatRequest.from_prompt("hi"))
    r_refused, r_missing = await race.run()
    for r in (r_refused, r_missing):
        assert r.status == "error" and r.e2e_ms is None and r.ttft_ms is None and r.connect_ms is None
        assert r.ttfb_ms is None and r.output_tokens is None and r.tokens_per_s is None
    assert r_refused.attempts == 2 and r_missing.attempts == 0


async def test_cancel_before_the_start_sends_nothing_and_ends_every_stream_once(http_client, elsewhere):
    providers = [cfg(elsewhere.url + "/v1", name=n) for n in ("a", "b")]
    race = Race(http_client, providers, ChatRequest.from_prompt("hi"))
    race.cancel()
    results = await race.run()
    assert elsewhere.requests == []
    assert [r.status for r in results] == ["cancelled", "cancelled"]
    for name in ("a", "b"):
        assert [is_terminal(e) for e in race.log[name]] == [True]


async def test_a_session_cancelled_before_it_runs_ends_like_any_run(http_client, elsewhere):
    providers = tuple(cfg(elsewhere.url + "/v1", name=n) for n in ("a", "b"))
    session = RaceSession(RunRequest("hi", providers), Config(providers), http_client, source="test")
    got: list = []
    session.listeners.append(lambda frame, msg: got.append((frame.id, msg)))
    assert session.cancel("changed my mind")
    await session.run()
    assert elsewhere.requests == []
    assert [i for i, _ in got] == list(range(1, len(got) + 1))             # one id sequence
    done = [m for _, m in got if isinstance(m, ProviderDone)]
    assert sorted(m.provider for m in done) == ["a", "b"] and all(m.result["status"] == "cancelled" for m in done)
    assert got[-1][1] == RunEnd(session.id, "cancelled", "changed my mind")
    assert not session.cancel() and session.status == "cancelled"
