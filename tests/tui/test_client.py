"""The sources without a screen: LocalSource against the simulator, RemoteSource against a scripted
loopback server that speaks the protocol of docs/engine-api.md (drops, Last-Event-ID, reset)."""
from __future__ import annotations

import json

import pytest_asyncio
from aiohttp import web

from tokenrace.sse import encode_event
from tokenrace.tui.client import LocalSource, RemoteSource
from tokenrace.tui.messages import (Connection, Delta, Metrics, ProviderDone, ProviderError, ProviderStart, Reset,
                                    RunEnd, RunStarted, SourceError)
from tokenrace.tui.state import RunState
from tokenrace.tui.widgets.pane_grid import grid_shape

from tests.tui import PROFILES, PROMPT, expected, sim_config

TEXT = "Hello over the wire, one piece at a time."
PIECES = ["Hello", " over", " the", " wire,", " one", " piece", " at", " a", " time."]


def script() -> list[tuple[str, dict]]:
    evs: list[tuple[str, dict]] = [("start", {"provider": "p", "model": "m-p", "kind": "openai", "attempt": 1,
                                              "t_ms": 1.0})]
    for i, piece in enumerate(PIECES):
        evs.append(("delta", {"provider": "p", "text": piece, "t_ms": 10.0 + i}))
        if i % 3 == 2:
            evs.append(("metrics", {"provider": "p", "status": "streaming", "elapsed_ms": 10.0 + i * 10,
                                    "ttft_ms": 10.0, "tokens": i + 1, "tokens_per_s": 50.0}))
    evs.append(("done", {"provider": "p", "model": "m-p", "status": "ok", "text": TEXT, "output_tokens": 9,
                         "ttft_ms": 10.0, "tokens_per_s": 50.0, "e2e_ms": 100.0, "token_source": "usage"}))
    evs.append(("end", {"run": "r1", "status": "done"}))
    return evs


class ScriptedServer:
    """Answers like tokenrace.server for one run ``r1``; can drop the first stream mid-event."""

    def __init__(self) -> None:
        self.events = script()
        self.drop_after: int | None = None     # first connection: this many events, half a frame, abort
        self.reset_on_resume = False           # answer a resume with `reset` + the whole history
        self.fail_status: int | None = None    # every events request answers this status
        self.last_ids: list[str | None] = []
        self.auth: list[str | None] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> "ScriptedServer":
        app = web.Application()
        def reply(doc):
            async def handler(_request: web.Request) -> web.Response:
                return web.json_response(doc)
            return handler
        run = {"id": "r1", "prompt": PROMPT, "providers": ["p"], "status": "done"}
        app.router.add_get("/api/providers", reply([{"name": "p", "kind": "openai", "model": "m-p"}]))
        app.router.add_post("/api/runs", self._create)
        app.router.add_get("/api/runs", reply([run]))
        app.router.add_get("/api/runs/r1", reply(run))
        app.router.add_get("/api/runs/r1/events", self._events)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def stop(self) -> None:
        await self._runner.cleanup()

    async def _create(self, request: web.Request) -> web.Response:
        self.auth.append(request.headers.get("Authorization"))
        body = await request.json()
        assert body["prompt"] == PROMPT
        return web.json_response({"id": "r1", "providers": ["p"]}, status=201)

    async def _events(self, request: web.Request) -> web.StreamResponse:
        last = request.headers.get("Last-Event-ID")
        self.last_ids.append(last)
        self.auth.append(request.headers.get("Authorization"))
        if self.fail_status:
            return web.Response(status=self.fail_status, text="busy")
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8"})
        await resp.prepare(request)
        await resp.write(b"retry: 10\n\n")
        frames = [encode_event(json.dumps(d), event=e, id=i + 1) for i, (e, d) in enumerate(self.events)]
        start = 0
        if last is not None:
            if self.reset_on_resume:
                await resp.write(encode_event(json.dumps({"reason": "unknown id"}), event="reset", id=0))
            else:
                start = int(last)
        first = len(self.last_ids) == 1
        for n, frame in enumerate(frames[start:], start):
            if first and self.drop_after is not None and n == self.drop_after:
                await resp.write(frame[: len(frame) // 2])            # half an event, then the line drops
                request.transport.abort()
                return resp
            await resp.write(frame)
        return resp


@pytest_asyncio.fixture
async def scripted():
    s = await ScriptedServer().start()
    yield s
    await s.stop()


async def collect(agen) -> list:
    return [m async for m in agen]


def fold(msgs) -> RunState:
    st = RunState()
    for m in msgs:
        st.apply(m)
    return st


async def test_remote_resumes_with_last_event_id(scripted):
    scripted.drop_after = 5
    src = RemoteSource(scripted.url, token="secret", backoff=(0.01,))
    await src.open()
    try:
        assert await src.providers() == [{"name": "p", "kind": "openai", "model": "m-p"}]
        msgs = await collect(src.run(PROMPT))
    finally:
        await src.close()
    assert scripted.last_ids == [None, "5"]
    assert scripted.auth == ["Bearer secret"] * 3
    assert isinstance(msgs[0], RunStarted) and msgs[0].run_id == "r1"
    assert msgs[0].providers == ({"name": "p", "kind": "openai", "model": "m-p"},)   # filled from /api/providers
    kinds = [type(m).__name__ for m in msgs]
    assert kinds.count("Connection") == 2
    conn = [m for m in msgs if isinstance(m, Connection)]
    assert conn[0].state == "reconnecting" and conn[0].delay_s >= 0.01 and conn[1].state == "connected"
    assert "".join(m.text for m in msgs if isinstance(m, Delta)) == TEXT       # each piece exactly once
    assert isinstance(msgs[-1], RunEnd) and msgs[-1].status == "done"
    st = fold(msgs)
    assert st.providers["p"].text == TEXT and st.providers["p"].status == "ok"
    assert st.providers["p"].rates                                          # samples from the metrics events


async def test_remote_reset_replays_from_the_start(scripted):
    scripted.drop_after = 4
    scripted.reset_on_resume = True
    src = RemoteSource(scripted.url, backoff=(0.01,))
    await src.open()
    try:
        msgs = await collect(src.run(PROMPT))
    finally:
        await src.close()
    assert sum(isinstance(m, Reset) for m in msgs) == 1
    st = fold(msgs)                       # the state starts over at the reset: no doubled text
    assert st.providers["p"].text == TEXT and st.status == "done"


async def test_remote_gives_up_after_repeated_failures(scripted):
    scripted.fail_status = 503
    src = RemoteSource(scripted.url, backoff=(0.001,), max_failures=3)
    await src.open()
    try:
        msgs = await collect(src.run(PROMPT))
    finally:
        await src.close()
    assert len(scripted.last_ids) == 4
    assert isinstance(msgs[-1], SourceError) and "gave up after 3 attempts" in msgs[-1].message
    assert sum(isinstance(m, Connection) for m in msgs) == 3


async def test_remote_history_and_unknown_run(scripted):
    src = RemoteSource(scripted.url)
    await src.open()
    try:
        runs = await src.list_runs(10)
        assert runs[0]["id"] == "r1"
        missing = await collect(src.open_run("nope"))
    finally:
        await src.close()
    assert len(missing) == 1 and isinstance(missing[0], SourceError) and "404" in missing[0].message


async def test_local_source_messages_and_store(tmp_path):
    src = LocalSource(config_factory=sim_config(PROFILES), db_path=str(tmp_path / "runs.db"), metrics_interval=0.01)
    await src.open()
    try:
        assert [p["name"] for p in await src.providers()] == ["alpha", "beta", "gamma"]
        msgs = await collect(src.run(PROMPT, params={"max_tokens": 512}))
        assert isinstance(msgs[0], RunStarted) and isinstance(msgs[-1], RunEnd) and msgs[-1].status == "done"
        run_id = msgs[0].run_id
        for p in PROFILES:
            mine = [m for m in msgs if getattr(m, "provider", None) == p.name]
            assert isinstance(mine[0], ProviderStart) and isinstance(mine[-1], ProviderDone)
            assert "".join(m.text for m in mine if isinstance(m, Delta)) == expected(p)
            assert mine[-1].result["text"] == expected(p) and mine[-1].result["status"] == "ok"
            assert any(isinstance(m, Metrics) for m in mine)
        assert any(isinstance(m, Delta) and m.reasoning for m in msgs if getattr(m, "provider", "") == "gamma")

        runs = await src.list_runs()
        assert [(r["id"], r["source"], r["status"]) for r in runs] == [(run_id, "tui", "done")]
        replay = await collect(src.open_run(run_id))
        assert replay[0].replay and isinstance(replay[-1], RunEnd)
        st = fold(replay)
        assert {n: p.text for n, p in st.providers.items()} == {p.name: expected(p) for p in PROFILES}
        events = await src.engine.call(src.store.get_events(run_id))   # the store lives on the engine loop
        assert events and {e.provider for e in events} == {"alpha", "beta", "gamma"}
    finally:
        await src.close()


async def test_local_source_unknown_provider_is_a_source_error():
    src = LocalSource(config_factory=sim_config(PROFILES), record=False)
    await src.open()
    try:
        msgs = await collect(src.run(PROMPT, providers=["nope"]))
    finally:
        await src.close()
    assert len(msgs) == 1 and isinstance(msgs[0], SourceError) and "nope" in msgs[0].message


def test_rate_samples_and_markdown_export():
    st = RunState()
    st.apply(RunStarted("r", "say | hi", ({"name": "p", "kind": "openai", "model": "m"},)))
    for elapsed, tokens in ((100, 0), (200, 1), (300, 11), (400, 31), (400, 31)):
        st.apply(Metrics("p", "streaming", float(elapsed), 50.0, tokens, None))
    assert st.providers["p"].rates == [100.0, 200.0]          # first sample starts the series
    st.apply(Delta("p", text="**bold** answer"))
    st.apply(ProviderDone("p", {"provider": "p", "status": "ok", "output_tokens": 31, "ttft_ms": 50.0,
                                "tokens_per_s": 150.0, "e2e_ms": 400.0, "token_source": "usage"}))
    st.apply(RunEnd("r", "done"))
    md = st.to_markdown("test")
    assert "> say | hi" in md and "| p | m | ok | 50.0 ms | 150.0 | 31 | 400 ms |" in md
    assert "**bold** answer" in md
    doc = st.to_json("test")
    assert doc["run"] == "r" and doc["results"][0]["output_tokens"] == 31


def test_grid_shape():
    assert grid_shape(3, 200, 37) == (3, 1, False)
    assert grid_shape(6, 200, 37) == (3, 2, False)
    assert grid_shape(3, 79, 11) == (3, 1, True)           # 80 columns: two in view, scroll sideways
    assert grid_shape(1, 79, 11) == (1, 1, False)
    assert grid_shape(12, 200, 37) == (4, 3, False)
