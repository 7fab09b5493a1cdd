"""Replay: Last-Event-ID resumes, reset, late subscribers, restarts, interrupted runs."""
from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import sys
from pathlib import Path

from tokenrace.simulator import answer_tokens

from tests.server import Harness, harness, provider, read_sse, sim_fast, wait_for  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]


def key(e):
    return (e.id, e.event, e.data)


async def test_reconnect_mid_run_many_times(harness, sim_fast):
    prompt = "resume me"
    run_id = await harness.create(prompt, ["steady", "fast-a"])
    rng = random.Random(7)
    got, last, reconnects = [], None, 0
    while True:
        use_query = reconnects % 2 == 1
        path = f"/api/runs/{run_id}/events"
        headers = {}
        if last is not None:
            if use_query:
                path += f"?last_event_id={last}"
            else:
                headers["Last-Event-ID"] = last
        res = await harness.sse(path, headers=headers, stop_after=rng.randint(1, 6))
        assert res.status == 200 and not res.of("reset")
        got.extend(res.events)
        if res.ended:
            break
        last = res.events[-1].id
        reconnects += 1
    assert reconnects >= 40
    # no gap, no duplicate: ids are exactly 1..n
    assert [int(e.id) for e in got] == list(range(1, len(got) + 1))
    # byte-identical to one uninterrupted read of the finished run
    full = await harness.sse(f"/api/runs/{run_id}/events")
    assert [key(e) for e in got] == [key(e) for e in full.events]
    text = "".join(json.loads(e.data).get("text", "") for e in got
                   if e.event == "delta" and json.loads(e.data)["provider"] == "steady")
    assert text == "".join(answer_tokens(sim_fast.profiles["steady"], prompt, 512))
    await wait_for(lambda: harness.live_subscribers() == 0)


async def test_provider_channel_resumes_from_combined_id(harness):
    run_id = await harness.create("mixed", ["steady", "fast-a"])
    part = await harness.sse(f"/api/runs/{run_id}/events", stop_after=10)
    last = part.events[-1].id
    rest = await harness.sse(f"/api/runs/{run_id}/providers/steady/events", headers={"Last-Event-ID": last})
    full = await harness.sse(f"/api/runs/{run_id}/providers/steady/events")
    assert [key(e) for e in rest.events] == [key(e) for e in full.events if int(e.id) > int(last)]


async def test_unknown_last_event_id_gets_reset(harness):
    run_id = await harness.create("reset", ["fast-a"])
    full = await harness.sse(f"/api/runs/{run_id}/events")
    for bad in ("999999", "abc", "-3", "1.5"):
        res = await harness.sse(f"/api/runs/{run_id}/events", headers={"Last-Event-ID": bad})
        assert res.events[0].event == "reset" and res.events[0].id == "0"
        assert "reason" in json.loads(res.events[0].data)
        assert [key(e) for e in res.events[1:]] == [key(e) for e in full.events]
    res = await harness.sse(f"/api/runs/{run_id}/events?last_event_id=0")
    assert [key(e) for e in res.events] == [key(e) for e in full.events]
    last = full.events[-1].id            # the end event: nothing after it but the stream closes
    res = await harness.sse(f"/api/runs/{run_id}/events", headers={"Last-Event-ID": last})
    assert res.events == [] and res.closed


async def test_late_subscriber_gets_everything(harness):
    run_id = await harness.create("late", ["fast-a", "fast-b"])
    early = await harness.sse(f"/api/runs/{run_id}/events")
    late = await harness.sse(f"/api/runs/{run_id}/events")
    assert early.raw == late.raw and late.ended


async def test_restart_reads_finished_run_back(harness, sim_fast):
    run_id = await harness.create("persist me", ["fast-a", "fast-b"])
    before = await harness.sse(f"/api/runs/{run_id}/events")
    one_before = await harness.sse(f"/api/runs/{run_id}/providers/fast-b/events")
    _, doc_before, _ = await harness.request("GET", f"/api/runs/{run_id}")
    await wait_for(lambda: not harness.server.manager.runs)
    await harness.restart()

    _, doc_after, _ = await harness.request("GET", f"/api/runs/{run_id}")
    assert doc_after["status"] == "done"
    assert doc_after["results"] == doc_before["results"]
    assert doc_after["params"] == {} and doc_after["prompt"] == "persist me"
    after = await harness.sse(f"/api/runs/{run_id}/events")
    assert after.raw == before.raw
    one_after = await harness.sse(f"/api/runs/{run_id}/providers/fast-b/events")
    assert one_after.raw == one_before.raw
    mid = before.events[len(before.events) // 2].id
    resumed = await harness.sse(f"/api/runs/{run_id}/events", headers={"Last-Event-ID": mid})
    assert [key(e) for e in resumed.events] == [key(e) for e in before.events if int(e.id) > int(mid)]
    _, runs, _ = await harness.request("GET", "/api/runs")
    assert runs[0]["id"] == run_id and runs[0]["providers"] == ["fast-a", "fast-b"]


async def test_events_are_stored(harness):
    run_id = await harness.create("stored events", ["fast-b"])
    res = await harness.sse(f"/api/runs/{run_id}/events")
    await wait_for(lambda: not harness.server.manager.runs)
    await harness.store.flush()
    events = await harness.store.get_events(run_id)
    assert type(events[0]).__name__ == "Started" and type(events[-1]).__name__ == "Finished"
    assert "".join(e.text for e in events if type(e).__name__ == "TextDelta") == res.data("done")[0]["text"]
    assert "".join(e.text for e in events if type(e).__name__ == "ReasoningDelta") == res.data("done")[0]["reasoning"]


async def test_run_in_flight_when_server_died_is_interrupted(sim_fast, tmp_path):
    """A real `tokenrace serve` is killed (SIGKILL) mid-run; the next start marks the run interrupted."""
    db = tmp_path / "runs.db"
    env = {k: v for k, v in os.environ.items() if k != "TOKENRACE_CONFIG"}
    env.update(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "cfg"), PYTHONPATH=str(ROOT))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tokenrace", "serve", "--port", "0", "--db", str(db),
        cwd=str(tmp_path), env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        async with asyncio.timeout(10):
            url = None
            while url is None:
                line = (await proc.stdout.readline()).decode()
                assert line, (await proc.stderr.read()).decode()
                if m := re.search(r"open (http://\S+/)", line):
                    url = m.group(1)
        import aiohttp
        async with aiohttp.ClientSession() as session:
            async with session.post(url + "api/runs", json={"prompt": "die", "providers": ["sim-openai"]}) as r:
                run_id = (await r.json())["id"]
            part = await read_sse(session, f"{url}api/runs/{run_id}/events", stop_after=20)
        assert len(part.of("delta")) >= 10
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

    h = await Harness(sim_fast, db, [provider(sim_fast, "fast-a")]).start()
    try:
        _, doc, _ = await h.request("GET", f"/api/runs/{run_id}")
        assert doc["status"] == "interrupted"
        r = doc["results"][0]
        assert r["provider"] == "sim-openai" and r["error_kind"] == "interrupted" and r["status"] == "error"
        res = await h.sse(f"/api/runs/{run_id}/events")
        assert res.ended and json.loads(res.events[-1].data) == {"run": run_id, "status": "interrupted"}
        assert [int(e.id) for e in res.events] == list(range(1, len(res.events) + 1))
        streamed = "".join(d["text"] for d in res.data("delta"))
        assert r["text"] == streamed and r["text"]       # what was received (and written) is kept
        assert res.data("done")[-1]["error_kind"] == "interrupted"
        # a second start does not touch it again
        await h.restart()
        _, doc2, _ = await h.request("GET", f"/api/runs/{run_id}")
        assert doc2 == doc
    finally:
        await h.stop()
