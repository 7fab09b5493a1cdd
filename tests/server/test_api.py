"""The HTTP API and both SSE channels against the real server on a loopback port."""
from __future__ import annotations

import json

from tokenrace.simulator import Fault, Profile, answer_tokens

from tests.server import harness, sim_fast, wait_for  # noqa: F401  (fixtures)

SSE_TYPE = "text/event-stream; charset=utf-8"


def expected_text(sim, profile: str, prompt: str, max_tokens: int = 512) -> str:
    return "".join(answer_tokens(sim.profiles[profile], prompt, max_tokens))


async def test_healthz_and_providers(harness):
    status, doc, _ = await harness.request("GET", "/healthz")
    assert status == 200 and doc["ok"] is True
    status, doc, _ = await harness.request("GET", "/api/providers")
    assert status == 200
    assert doc == [{"name": "fast-a", "kind": "openai", "model": "m-fast-a", "priced": False},
                   {"name": "fast-b", "kind": "anthropic", "model": "m-fast-b", "priced": False},
                   {"name": "steady", "kind": "gemini", "model": "m-steady", "priced": False},
                   {"name": "broken", "kind": "openai", "model": "m-broken", "priced": False}]


async def test_run_both_channels_to_the_end(harness, sim_fast):
    prompt = "compare the channels"
    run_id = await harness.create(prompt, ["fast-a", "fast-b"])
    combined = await harness.sse(f"/api/runs/{run_id}/events")
    one = await harness.sse(f"/api/runs/{run_id}/providers/fast-b/events")

    for res in (combined, one):
        assert res.status == 200
        assert res.headers["Content-Type"] == SSE_TYPE
        assert res.headers["Cache-Control"] == "no-store"
        assert res.headers["X-Accel-Buffering"] == "no"
        assert "Content-Encoding" not in res.headers
        assert res.raw.startswith(b"retry: ")
        assert res.ended and res.closed and res.events[-1].event == "end"
        ids = [int(e.id) for e in res.events]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        for e in res.events[:-1]:
            assert "provider" in json.loads(e.data)
        end = json.loads(res.events[-1].data)
        assert end == {"run": run_id, "status": "done"}

    # combined: every id 1..n, all providers; one done per provider
    assert [int(e.id) for e in combined.events] == list(range(1, len(combined.events) + 1))
    dones = {d["provider"]: d for d in combined.data("done")}
    assert set(dones) == {"fast-a", "fast-b"}
    for name in ("fast-a", "fast-b"):
        text = "".join(d.get("text", "") for d in combined.data("delta") if d["provider"] == name)
        assert text == dones[name]["text"] == expected_text(sim_fast, name, prompt)
        assert dones[name]["status"] == "ok"
    assert any("reasoning" in d for d in combined.data("delta") if d["provider"] == "fast-b")
    starts = combined.data("start")
    assert {s["provider"] for s in starts} == {"fast-a", "fast-b"}
    assert all(set(s) == {"provider", "model", "kind", "attempt", "t_ms"} for s in starts)
    metrics = combined.data("metrics")
    assert metrics and all(set(m) == {"provider", "status", "elapsed_ms", "ttft_ms", "tokens", "tokens_per_s", "token_source"}
                           for m in metrics)

    # the provider channel is the combined channel filtered: same frames, same ids
    assert {d["provider"] for d in one.data() if "provider" in d} == {"fast-b"}
    by_id = {e.id: e for e in combined.events}
    assert all(by_id[e.id] == e for e in one.events)
    assert [e.id for e in one.events] == [e.id for e in combined.events
                                           if e.event == "end" or json.loads(e.data).get("provider") == "fast-b"]


async def test_metrics_are_throttled(harness):
    run_id = await harness.create("throttle", ["steady"])
    res = await harness.sse(f"/api/runs/{run_id}/events")
    deltas = res.data("delta")
    metrics = res.data("metrics")
    duration_s = (deltas[-1]["t_ms"] - deltas[0]["t_ms"]) / 1000
    assert len(deltas) > 100
    assert 1 <= len(metrics) <= duration_s * 4 + 3


async def test_get_run_live_and_after(harness, sim_fast):
    run_id = await harness.create("live view", ["steady", "fast-a"])
    res_task = harness.sse(f"/api/runs/{run_id}/events", stop_at_event="delta")
    first = await res_task
    assert first.of("delta")
    status, live, _ = await harness.request("GET", f"/api/runs/{run_id}")
    assert status == 200 and live["status"] == "running" and live["prompt"] == "live view"
    assert live["providers"] == ["steady", "fast-a"]
    assert [r["provider"] for r in live["results"]] == ["steady", "fast-a"]
    assert any(r["status"] in ("waiting", "streaming") for r in live["results"])

    await harness.sse(f"/api/runs/{run_id}/events")          # until the end
    status, final, _ = await harness.request("GET", f"/api/runs/{run_id}")
    assert final["status"] == "done" and final["finished"] >= final["created"]
    r = {x["provider"]: x for x in final["results"]}
    assert r["steady"]["text"] == expected_text(sim_fast, "steady", "live view")
    assert r["steady"]["status"] == "ok" and r["steady"]["ttft_ms"] > 0
    assert set(r["fast-a"]) >= {"provider", "model", "status", "text", "reasoning", "error", "ttft_ms",
                                "tokens_per_s", "itl_ms", "output_tokens", "token_source", "e2e_ms"}

    status, runs, _ = await harness.request("GET", "/api/runs?limit=5")
    assert status == 200 and runs[0]["id"] == run_id
    assert set(runs[0]) >= {"id", "prompt", "created", "providers", "status"}


async def test_list_newest_first_and_limit(harness):
    ids = [await harness.create(f"p{i}", ["fast-a"]) for i in range(3)]
    for run_id in ids:
        await harness.sse(f"/api/runs/{run_id}/events")
    status, runs, _ = await harness.request("GET", "/api/runs?limit=2")
    assert status == 200 and [r["id"] for r in runs] == ids[::-1][:2]


async def test_post_streaming_response(harness, sim_fast):
    res = await harness.sse("/api/runs", method="POST", json_body={"prompt": "curl -N", "providers": ["fast-a"]},
                            headers={"Accept": "text/event-stream"})
    assert res.status == 201 and res.headers["Content-Type"] == SSE_TYPE
    run_id = res.headers["X-Run-Id"]
    assert res.headers["Location"] == f"/api/runs/{run_id}"
    assert res.ended and json.loads(res.events[-1].data)["run"] == run_id
    assert "".join(d["text"] for d in res.data("delta")) == expected_text(sim_fast, "fast-a", "curl -N")


async def test_error_of_one_provider_does_not_stop_the_others(harness, sim_fast):
    sim_fast.add_profile(Profile("broken", ttft_ms=10, itl_ms=5, answer_tokens=30,
                                 fault=Fault("error_after", after_tokens=5)))
    run_id = await harness.create("faulty", ["broken", "fast-a"])
    res = await harness.sse(f"/api/runs/{run_id}/events")
    errors = res.data("error")
    assert len(errors) == 1 and errors[0]["provider"] == "broken"
    assert set(errors[0]) == {"provider", "message", "kind", "http_status"}
    dones = {d["provider"]: d for d in res.data("done")}
    assert dones["broken"]["status"] == "error" and dones["broken"]["text"]
    assert dones["fast-a"]["status"] == "ok"
    # the error comes before that provider's done
    names = [(e.event, json.loads(e.data).get("provider")) for e in res.events]
    assert names.index(("error", "broken")) < names.index(("done", "broken"))


async def test_delete_cancels_and_keeps_text(harness):
    run_id = await harness.create("cancel me", ["steady"])
    first = await harness.sse(f"/api/runs/{run_id}/events", stop_after=8)
    assert first.of("delta")
    status, doc, _ = await harness.request("DELETE", f"/api/runs/{run_id}")
    assert status == 202
    res = await harness.sse(f"/api/runs/{run_id}/events")
    done = res.data("done")[0]
    assert done["status"] == "cancelled" and done["text"]
    assert done["text"] == "".join(d["text"] for d in res.data("delta"))
    assert json.loads(res.events[-1].data)["status"] == "cancelled"
    await wait_for(lambda: run_id not in harness.server.manager.runs)
    status, doc, _ = await harness.request("GET", f"/api/runs/{run_id}")
    assert doc["status"] == "cancelled" and doc["results"][0]["text"] == done["text"]
    status, doc, _ = await harness.request("DELETE", f"/api/runs/{run_id}")
    assert status == 409 and "not running" in doc["error"]


async def test_delete_right_after_create(harness):
    run_id = await harness.create("instant cancel", ["fast-a", "steady"])
    status, _, _ = await harness.request("DELETE", f"/api/runs/{run_id}")
    assert status == 202
    res = await harness.sse(f"/api/runs/{run_id}/events")
    assert res.ended and len(res.data("done")) == 2
    assert {d["status"] for d in res.data("done")} == {"cancelled"}


async def test_index_page_and_static(harness):
    async with harness.session.get(harness.base + "/") as resp:
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/html")
        assert b"tokenrace" in await resp.read()
        assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    async with harness.session.get(harness.base + "/static/no-such-file.js") as resp:
        assert resp.status == 404


# ---------------------------------------------------------------- every 4xx path
async def test_bad_requests(harness):
    cases = [
        (b"{not json", 400, "not valid JSON"),
        (b"\xff\xfe", 400, "not UTF-8"),
        (b"[1, 2]", 400, "JSON object"),
        (b'{"prompt": ""}', 400, "empty"),
        (b'{"prompt": "   "}', 400, "empty"),
        (b'{"prompt": 5}', 400, "must be a string"),
        (b'{"prompt": "x", "providers": ["nope"]}', 400, "unknown provider 'nope'"),
        (b'{"prompt": "x", "providers": "fast-a"}', 400, "list of provider names"),
        (b'{"prompt": "x", "providers": []}', 400, "no provider"),
        (b'{"prompt": "x", "providers": ["fast-a", "fast-a"]}', 400, "twice"),
        (b'{"prompt": "x", "params": []}', 400, "JSON object"),
        (b'{"prompt": "x", "params": {"max_tokens": "9"}}', 400, "wrong type"),
        (b'{"prompt": "x", "params": {"max_tokens": 0}}', 400, "at least 1"),
        (b'{"prompt": "x", "params": {"api_base": "http://evil"}}', 400, "unknown param"),
        (b'{"prompt": "x", "extra": 1}', 400, "unknown field"),
    ]
    for body, status, message in cases:
        got, doc, resp = await harness.request("POST", "/api/runs", data=body)
        assert got == status, (body, doc)
        assert resp.headers["Content-Type"].startswith("application/json")
        assert message in doc["error"], (body, doc)
    assert harness.server.manager.runs == {}


async def test_not_found_paths(harness):
    for method, path in [("GET", "/api/runs/nope"), ("GET", "/api/runs/nope/events"),
                         ("DELETE", "/api/runs/nope"), ("GET", "/api/nothing"),
                         ("GET", "/api/runs/nope/providers/fast-a/events")]:
        status, doc, _ = await harness.request(method, path)
        assert status == 404 and "error" in doc, (method, path)
    run_id = await harness.create("x", ["fast-a"])
    status, doc, _ = await harness.request("GET", f"/api/runs/{run_id}/providers/fast-b/events")
    assert status == 404 and "no provider 'fast-b'" in doc["error"]
    status, doc, _ = await harness.request("PUT", "/api/runs")
    assert status == 405 and "error" in doc
    status, doc, _ = await harness.request("GET", "/api/runs?limit=zero")
    assert status == 400 and "limit" in doc["error"]


async def test_limits(sim_fast, tmp_path):
    from tokenrace.server import ServerSettings
    from tests.server import Harness, provider
    settings = ServerSettings(max_prompt_chars=50, max_providers=2, max_concurrent_runs=1, max_body_bytes=2000)
    h = await Harness(sim_fast, tmp_path / "l.db", [provider(sim_fast, n) for n in ("fast-a", "fast-b", "steady")],
                      settings).start()
    try:
        status, doc, _ = await h.request("POST", "/api/runs", json={"prompt": "x" * 51})
        assert status == 413 and "limit is 50" in doc["error"]
        status, doc, _ = await h.request("POST", "/api/runs", json={"prompt": "x"})
        assert status == 400 and "at most 2 per run" in doc["error"]
        status, doc, _ = await h.request("POST", "/api/runs", data=b'{"prompt": "' + b"y" * 3000 + b'"}')
        assert status == 413 and "limit is 2000" in doc["error"]
        run_id = await h.create("first", ["steady"])
        status, doc, resp = await h.request("POST", "/api/runs", json={"prompt": "second", "providers": ["fast-a"]})
        assert status == 429 and "limit is 1" in doc["error"] and resp.headers["Retry-After"]
        await h.sse(f"/api/runs/{run_id}/events")
        await wait_for(lambda: not h.server.manager.runs)
        assert await h.create("third", ["fast-a"])
    finally:
        await h.stop()
