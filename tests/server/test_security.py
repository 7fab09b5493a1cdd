"""Access token, cookie, Host and Origin checks, CORS, and no API key anywhere it could leak."""
from __future__ import annotations

import json
import logging

from tokenrace.config.models import Secret
from tokenrace.server import Server, ServerSettings
from tokenrace.server.auth import COOKIE, is_loopback

from tests.conftest import Reply
from tests.server import Harness, harness, provider, sim_fast, wait_for  # noqa: F401

TOKEN = "tok-5ecret-for-tests-0123456789"
KEY = "sk-test-LEAK-CHECK-123"


async def test_token_required_when_set(sim_fast, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    h = await Harness(sim_fast, tmp_path / "t.db", [provider(sim_fast, "fast-a")],
                      ServerSettings(token=TOKEN)).start()
    try:
        for method, path in [("GET", "/api/providers"), ("GET", "/api/runs"), ("POST", "/api/runs"),
                             ("GET", "/api/runs/x/events"), ("DELETE", "/api/runs/x"), ("GET", "/")]:
            status, doc, _ = await h.request(method, path)
            assert status == 401, (method, path)
        status, doc, _ = await h.request("GET", "/api/providers", headers={"Authorization": "Bearer nope"})
        assert status == 401 and "Authorization: Bearer" in doc["error"]
        status, doc, _ = await h.request("GET", "/healthz")
        assert status == 200

        h.headers = {"Authorization": f"Bearer {TOKEN}"}
        run_id = await h.create("authorized", ["fast-a"])
        res = await h.sse(f"/api/runs/{run_id}/events")
        assert res.ended

        # the page: visiting ?token= sets an HttpOnly SameSite cookie and drops the token from the URL
        h.headers = {}
        async with h.session.get(f"{h.base}/?token={TOKEN}", allow_redirects=False) as resp:
            assert resp.status == 302 and resp.headers["Location"] == "/"
            cookie = resp.headers["Set-Cookie"]
            assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        async with h.session.get(f"{h.base}/?run=abc&token={TOKEN}", allow_redirects=False) as resp:
            assert resp.status == 302 and resp.headers["Location"] == "/?run=abc"   # a run link survives
        assert (await h.request("GET", "/api/providers"))[0] == 200          # the session keeps the cookie
        res = await h.sse(f"/api/runs/{run_id}/events")                       # EventSource sends cookies
        assert res.status == 200 and res.ended
    finally:
        await h.stop()
    assert not any(TOKEN in r.getMessage() for r in caplog.records)


async def test_non_loopback_generates_token(sim_fast, tmp_path):
    from tokenrace.config.models import Config
    from tokenrace.store import RunStore
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.2")
    async with RunStore(":memory:") as store:
        server = Server(Config(providers=(provider(sim_fast, "fast-a"),)), store, ServerSettings(host="0.0.0.0", port=0))
        assert server.generated_token and len(server.settings.token) >= 24
        await server.start()
        try:
            import aiohttp
            async with aiohttp.ClientSession() as s:
                async with s.get(f"http://127.0.0.1:{server.port}/api/providers") as r:
                    assert r.status == 401
                async with s.get(f"http://127.0.0.1:{server.port}/api/providers",
                                 headers={"Authorization": f"Bearer {server.settings.token}"}) as r:
                    assert r.status == 200
        finally:
            await server.stop()


async def test_host_header_checked_without_token(harness):
    status, doc, _ = await harness.request("GET", "/api/providers", headers={"Host": "evil.example:8765"})
    assert status == 403 and "Host" in doc["error"]
    status, _, _ = await harness.request("GET", "/api/providers", headers={"Host": f"localhost:{harness.server.port}"})
    assert status == 200


async def test_cors_closed_by_default(harness):
    evil = {"Origin": "http://evil.example"}
    status, _, resp = await harness.request("GET", "/api/providers", headers=evil)
    assert "Access-Control-Allow-Origin" not in resp.headers
    status, doc, _ = await harness.request("OPTIONS", "/api/runs", headers=evil)
    assert status == 403
    status, doc, _ = await harness.request("POST", "/api/runs", headers=evil, json={"prompt": "csrf"})
    assert status == 403 and "--allow-origin" in doc["error"]
    assert harness.server.manager.runs == {}
    own = {"Origin": f"http://127.0.0.1:{harness.server.port}"}
    status, doc, _ = await harness.request("POST", "/api/runs", headers=own, json={"prompt": "same origin",
                                                                                   "providers": ["fast-a"]})
    assert status == 201


async def test_cors_allowed_origin(sim_fast, tmp_path):
    origin = "http://localhost:5173"
    h = await Harness(sim_fast, tmp_path / "c.db", [provider(sim_fast, "fast-a")],
                      ServerSettings(allow_origins=(origin,))).start()
    try:
        status, _, resp = await h.request("OPTIONS", "/api/runs", headers={
            "Origin": origin, "Access-Control-Request-Method": "POST"})
        assert status == 204 and resp.headers["Access-Control-Allow-Origin"] == origin
        assert "POST" in resp.headers["Access-Control-Allow-Methods"]
        status, doc, resp = await h.request("POST", "/api/runs", headers={"Origin": origin},
                                            json={"prompt": "cors", "providers": ["fast-a"]})
        assert status == 201 and resp.headers["Access-Control-Allow-Origin"] == origin
        res = await h.sse(f"/api/runs/{doc['id']}/events", headers={"Origin": origin})
        assert res.headers["Access-Control-Allow-Origin"] == origin and res.ended
    finally:
        await h.stop()


async def test_api_key_leaks_nowhere(sim_fast, replay, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    # a provider that echoes the key in its error body, and one that streams normally
    replay.reply = Reply(json.dumps({"error": {"message": f"Incorrect API key provided: {KEY}",
                                               "type": "invalid_request_error"}}).encode(),
                         content_type="application/json", status=401)
    echo = provider(sim_fast, "fast-a", name="echo", api_key=Secret(KEY))
    echo = type(echo)(**{**echo.__dict__, "base_url": replay.url + "/v1"})
    keyed = provider(sim_fast, "fast-a", name="keyed", api_key=Secret(KEY), headers={"X-Extra-Key": KEY})
    db = tmp_path / "leak.db"
    h = await Harness(sim_fast, db, [keyed, echo]).start()
    seen: list[bytes] = []
    try:
        for path in ("/healthz", "/api/providers"):
            async with h.session.get(h.base + path) as r:
                seen.append(await r.read())
        async with h.session.post(h.base + "/api/runs", json={"prompt": "leak?"}) as r:
            body = await r.read()
            seen.append(body)
            run_id = json.loads(body)["id"]
        combined = await h.sse(f"/api/runs/{run_id}/events")
        seen += [combined.raw, (await h.sse(f"/api/runs/{run_id}/providers/echo/events")).raw,
                 (await h.sse(f"/api/runs/{run_id}/providers/keyed/events")).raw]
        for path in (f"/api/runs/{run_id}", "/api/runs"):
            async with h.session.get(h.base + path) as r:
                seen.append(await r.read())
        streamed = await h.sse("/api/runs", method="POST", json_body={"prompt": "again"},
                               headers={"Accept": "text/event-stream"})
        seen.append(streamed.raw)

        # the key did reach the providers, and the echoed error was redacted
        assert replay.requests[0]["headers"]["Authorization"] == f"Bearer {KEY}"
        dones = {d["provider"]: d for d in combined.data("done")}
        assert dones["keyed"]["status"] == "ok"
        assert dones["echo"]["status"] == "error" and "***" in dones["echo"]["error"]
        await wait_for(lambda: not h.server.manager.runs)
        rows = await h.store.dump()
        assert rows and not any(KEY in str(row) for row in rows)
    finally:
        await h.stop()
    for blob in seen:
        assert KEY.encode() not in blob
    for f in tmp_path.glob("leak.db*"):
        assert KEY.encode() not in f.read_bytes()
    for r in caplog.records:
        assert KEY not in r.getMessage() and KEY not in str(r.args)
