"""Conversations over the API: a follow-up run has a parent; each provider gets its own history (checked
on what the simulator received), the thread reads back and exports, and survives a restart."""
from __future__ import annotations

from tokenrace.simulator import Fault, Profile

from tests.server import Harness, harness, provider, sim_fast, wait_for  # noqa: F401


async def run_to_end(h: Harness, body: dict) -> str:
    status, doc, _ = await h.request("POST", "/api/runs", json=body)
    assert status == 201, doc
    res = await h.sse(f"/api/runs/{doc['id']}/events")
    assert res.ended
    await wait_for(lambda: doc["id"] not in h.server.manager.runs)
    return doc["id"]


def received(h: Harness, profile: str) -> list[list[tuple[str, str]]]:
    return [t.history for t in h.sim.truths if t.profile == profile]


async def test_each_provider_gets_its_own_answers_back(harness):
    h = harness
    first = await run_to_end(h, {"prompt": "Name a colour.", "providers": ["fast-a", "fast-b"],
                                 "params": {"system": "Be brief."}})
    run1 = (await h.request("GET", f"/api/runs/{first}"))[1]
    answers = {r["provider"]: r["text"] for r in run1["results"]}
    assert answers["fast-a"] != answers["fast-b"] and run1["parent"] is None
    second = await run_to_end(h, {"prompt": "And another?", "providers": ["fast-a", "fast-b", "steady"],
                                  "parent": first})
    run2 = (await h.request("GET", f"/api/runs/{second}"))[1]
    assert run2["parent"] == first and run2["params"] == {"system": "Be brief."}     # the thread's system prompt
    for name in ("fast-a", "fast-b"):
        assert received(h, name)[-1] == [("system", "Be brief."), ("user", "Name a colour."),
                                          ("assistant", answers[name]), ("user", "And another?")]
    # steady joins mid-thread: it never answered turn 1, so that turn is left out of its history
    assert received(h, "steady")[-1] == [("system", "Be brief."), ("user", "And another?")]


async def test_the_thread_reads_back_exports_and_survives_a_restart(harness):
    h = harness
    a = await run_to_end(h, {"prompt": "One", "providers": ["fast-a"]})
    b = await run_to_end(h, {"prompt": "Two", "providers": ["fast-a"], "parent": a})
    c = await run_to_end(h, {"prompt": "Three", "providers": ["fast-a"], "parent": b})
    await h.restart()
    status, doc, _ = await h.request("GET", f"/api/runs/{c}/thread")
    assert status == 200 and doc["thread"] == c
    assert [r["id"] for r in doc["runs"]] == [a, b, c] and [r["prompt"] for r in doc["runs"]] == ["One", "Two", "Three"]
    assert [r["parent"] for r in doc["runs"]] == [None, a, b]
    status, md, resp = await h.request("GET", f"/api/runs/{c}/thread?format=md")
    assert status == 200 and resp.headers["Content-Type"].startswith("text/markdown")
    assert md.index("> One") < md.index("> Two") < md.index("> Three") and "### fast-a" in md
    assert "attachment" in resp.headers["Content-Disposition"]
    listed = (await h.request("GET", "/api/runs"))[1]
    assert {r["id"]: r["parent"] for r in listed}[c] == b
    # continuing the middle of a thread branches it: the new run's history stops at its parent
    d = await run_to_end(h, {"prompt": "Branch", "providers": ["fast-a"], "parent": a})
    assert [u for role, u in received(h, "fast-a")[-1] if role == "user"] == ["One", "Branch"]
    assert [r["id"] for r in (await h.request("GET", f"/api/runs/{d}/thread"))[1]["runs"]] == [a, d]


async def test_a_failed_answer_is_left_out_and_bad_parents_are_refused(harness):
    h = harness
    h.sim.add_profile(Profile("broken", ttft_ms=10, itl_ms=5, answer_tokens=30, fault=Fault("http_500")))
    first = await run_to_end(h, {"prompt": "Hi", "providers": ["fast-a", "broken"]})
    await run_to_end(h, {"prompt": "Again", "providers": ["fast-a", "broken"], "parent": first})
    assert received(h, "broken")[-1] == [("user", "Again")]          # no answer in turn 1: no turn 1
    for body, status, words in [({"prompt": "x", "parent": "nope"}, 404, "no run 'nope'"),
                                ({"prompt": "x", "parent": 7}, 400, "parent"),
                                ({"prompt": "x", "parent": ""}, 400, "parent")]:
        got, doc, _ = await h.request("POST", "/api/runs", json=body)
        assert got == status and words in doc["error"], (body, doc)
    h.sim.add_profile(Profile("steady", ttft_ms=20, itl_ms=6, answer_tokens=150,
                              fault=Fault("stall", after_tokens=2, stall_s=30)))     # runs until cancelled
    status, doc, _ = await h.request("POST", "/api/runs", json={"prompt": "long", "providers": ["steady"]})
    running = doc["id"]
    got, err, _ = await h.request("POST", "/api/runs", json={"prompt": "x", "parent": running})
    assert got == 409 and "still running" in err["error"]
    assert (await h.request("GET", "/api/runs/nope/thread"))[0] == 404
    await h.request("DELETE", f"/api/runs/{running}")


async def test_a_follow_up_sent_the_moment_end_arrives_is_accepted(harness):
    h = harness
    for _ in range(5):
        status, doc, _ = await h.request("POST", "/api/runs", json={"prompt": "Hi", "providers": ["fast-a"]})
        first = doc["id"]
        await h.sse(f"/api/runs/{first}/events", stop_at_event="end")     # no waiting for the recording
        status, doc, _ = await h.request("POST", "/api/runs", json={"prompt": "More", "providers": ["fast-a"],
                                                                    "parent": first})
        assert status == 201, doc
        await h.sse(f"/api/runs/{doc['id']}/events")
        assert received(h, "fast-a")[-1][0] == ("user", "Hi")


async def test_a_home_made_endpoint_gets_its_history_as_question_answer_pairs(sim_fast, tmp_path):
    from tokenrace.config.models import SSEEndpoint
    ep = SSEEndpoint(path="/chat", body={"prompt": "{prompt}", "history": "{history}"}, text_path=None,
                     mode="cumulative", done=None)
    h = await Harness(sim_fast, tmp_path / "runs.db", [provider(sim_fast, "fast-a", "sse", endpoint=ep)]).start()
    try:
        first = await run_to_end(h, {"prompt": "One"})
        answer = (await h.request("GET", f"/api/runs/{first}"))[1]["results"][0]["text"]
        await run_to_end(h, {"prompt": "Two", "parent": first})
    finally:
        await h.stop()
    assert received(h, "fast-a")[-1] == [("user", "One"), ("assistant", answer), ("user", "Two")]
