"""Remote mode against the real ``tokenrace.server`` on a loopback port (through a cuttable proxy).

Skipped only when ``tokenrace.server`` is missing. The server reads the simulator; the TUI reads
the server's SSE channel through :class:`~tests.tui.CuttableProxy`, which drops every connection
mid-run, so the client must reconnect with ``Last-Event-ID`` and end with each answer exactly once.
"""
from __future__ import annotations

import pytest_asyncio

from tokenrace.config.models import Config
from tokenrace.simulator import Fault, Profile, Simulator, answer_tokens
from tokenrace.tui.app import TokenraceApp
from tokenrace.tui.client import RemoteSource
from tokenrace.tui.messages import Connection, Delta, RunEnd, RunStarted

from tests.tui import ALPHA, BETA, MAX_TOKENS, PROMPT, CuttableProxy, expected, provider, until

from tokenrace import server as server_mod
from tokenrace import store as store_mod

SIZE = (120, 36)
LONG = " ".join(["Tokens keep coming while the network drops."] * 6)
REMOTE_PROFILES = (
    Profile("alpha", ttft_ms=10, itl_ms=3, text=ALPHA),
    Profile("steady", ttft_ms=10, itl_ms=5, text=LONG, fault=Fault("stall", after_tokens=5, stall_s=3.0)),
    Profile("beta", ttft_ms=10, itl_ms=4, text=BETA, reasoning_tokens=5),
    Profile("broken", ttft_ms=10, itl_ms=4, text="never", fault=Fault("http_500")),
    Profile("stuck", ttft_ms=10, itl_ms=4, text=ALPHA, fault=Fault("stall", after_tokens=3, stall_s=30)),
)
KINDS = {"beta": "anthropic"}


@pytest_asyncio.fixture
async def served(tmp_path):
    """The simulator, the real server (short retry) and a proxy in front of it."""
    sim = Simulator(REMOTE_PROFILES)
    await sim.start()
    store = store_mod.RunStore(tmp_path / "server.db")
    await store.open()
    config = Config(providers=tuple(provider(sim, p.name, KINDS.get(p.name, "openai")) for p in REMOTE_PROFILES),
                    defaults={"params": {"max_tokens": MAX_TOKENS}})
    server = server_mod.Server(config, store, server_mod.ServerSettings(port=0, retry_ms=100))
    await server.start()
    proxy = await CuttableProxy(server.port).start()
    yield sim, server, proxy
    await proxy.stop()
    await server.stop(timeout=5)
    await store.close()
    await sim.stop()


def remote_app(proxy: CuttableProxy, only: list[str]) -> TokenraceApp:
    return TokenraceApp(RemoteSource(proxy.url, providers=only, backoff=(0.05, 0.1, 0.2)))


async def start(pilot, prompt: str = PROMPT) -> None:
    """Submit the prompt without ``pilot.press`` (which waits for the app to idle: the run's end)."""
    app = pilot.app
    await until(lambda: app.ready, pilot=pilot, what="the server's providers")
    app.main.prompt.insert(prompt)
    app.main.prompt.action_submit()


async def test_remote_run_survives_a_dropped_connection(served):
    sim, server, proxy = served
    only = ["alpha", "steady", "beta", "broken"]
    app = remote_app(proxy, only)
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot)
        # "steady" pauses 3 s after 5 tokens: drop every connection then, mid-run
        first5 = "".join(answer_tokens(REMOTE_PROFILES[1], PROMPT, MAX_TOKENS)[:5])
        await until(lambda: "steady" in app.state.providers
                    and app.state.providers["steady"].text.startswith(first5), pilot=pilot, what="steady mid-answer")
        assert not app.state.providers["steady"].done
        assert proxy.cut() >= 1
        await until(lambda: app.state.status == "done", pilot=pilot, timeout=20, what="the run's end")
        await pilot.pause()
        assert proxy.connections >= 2                      # then the reconnect
        assert app.reconnects >= 1 and app.connection == ""
        for p in REMOTE_PROFILES[:3]:
            st = app.state.providers[p.name]
            assert st.text == expected(p), p.name                # each token exactly once
            assert st.status == "ok"
            assert app.main.pane(p.name).answer.source == expected(p)
            assert app.main.pane(p.name).border_title == f"{p.name} · m-{p.name}"
            assert app.main.table.get_cell(p.name, "tokens").plain == str(st.result["output_tokens"])
            assert st.live is not None                           # figures came from the server's metrics
        broken = app.state.providers["broken"]
        assert broken.status == "error" and "500" in (broken.error or "")
        assert app.main.pane("broken").query_one(".pane-error").display
        assert any(n.severity == "error" and "broken" in n.message for n in app._notifications)
        run_id = app.state.run_id

        # the server's history lists the run; opening it replays it to the end
        await pilot.press("ctrl+l")
        await until(lambda: app.screen.id == "history", pilot=pilot)
        table = app.screen.query_one("DataTable")
        assert table.row_count == 1
        assert str(table.coordinate_to_cell_key((0, 1)).row_key.value) == run_id
        await pilot.press("enter")
        await until(lambda: app.screen.id == "main" and app.state.replay and app.state.status == "done",
                    pilot=pilot)
        assert app.state.providers["beta"].text == expected(REMOTE_PROFILES[2])
        assert app.state.providers["beta"].reasoning


async def test_remote_cancel_and_a_second_viewer(served):
    sim, server, proxy = served
    app = remote_app(proxy, ["alpha", "stuck"])
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot)
        first3 = "".join(answer_tokens(REMOTE_PROFILES[4], PROMPT, MAX_TOKENS)[:3])
        await until(lambda: "stuck" in app.state.providers and app.state.providers["stuck"].text == first3
                    and app.state.providers["alpha"].done, pilot=pilot, what="stuck stalled")

        # a second person watches the same run from its start
        viewer = RemoteSource(proxy.url)
        await viewer.open()
        seen: list = []

        async def watch() -> None:
            async for m in viewer.open_run(app.state.run_id):
                seen.append(m)
        import asyncio
        task = asyncio.create_task(watch())
        await until(lambda: any(isinstance(m, Delta) and m.provider == "stuck" for m in seen), what="the viewer")

        await pilot.press("escape")                               # DELETE /api/runs/{id}
        await until(lambda: app.state.status == "cancelled", pilot=pilot, timeout=10, what="the cancel")
        stuck = app.state.providers["stuck"]
        assert stuck.status == "cancelled" and stuck.text == first3
        assert app.state.providers["alpha"].text == expected(REMOTE_PROFILES[0])

        await asyncio.wait_for(task, 10)
        await viewer.close()
        assert isinstance(seen[0], RunStarted) and isinstance(seen[-1], RunEnd)
        assert seen[-1].status == "cancelled"
        assert "".join(m.text for m in seen if isinstance(m, Delta) and m.provider == "stuck") == first3
        assert not any(isinstance(m, Connection) for m in seen)


async def test_remote_unreachable_server_is_reported():
    app = TokenraceApp(RemoteSource("http://127.0.0.1:9", backoff=(0.01,)))
    async with app.run_test(size=SIZE) as pilot:
        await until(lambda: any(n.severity == "error" for n in app._notifications), pilot=pilot)
        assert not app.ready
        assert "not available" in str(app.main.query_one("#status-bar").render())


async def test_remote_follow_up_and_its_conversation(served):
    """Enter after a run posts ``parent``: the server gives each provider its own earlier answer."""
    sim, server, proxy = served
    app = remote_app(proxy, ["alpha", "beta"])
    follow_up = "Once more, shorter"
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot)
        await until(lambda: app.state.status == "done", pilot=pilot, what="turn 1")
        first = app.state.run_id
        await start(pilot, follow_up)
        await until(lambda: app.state.run_id != first and app.state.status == "done", pilot=pilot, what="turn 2")
        second = app.state.run_id
        assert app.state.parent == first and [t.run_id for t in app.turns] == [first]
        for p in REMOTE_PROFILES[0], REMOTE_PROFILES[2]:
            sent = [t.history for t in sim.truths if t.profile == p.name and t.history[-1] == ("user", follow_up)]
            assert sent == [[("user", PROMPT), ("assistant", expected(p)), ("user", follow_up)]], p.name

        await pilot.press("ctrl+n")
        await start(pilot, "Unrelated")
        await until(lambda: app.state.prompt == "Unrelated" and app.state.status == "done", pilot=pilot)
        assert app.state.parent is None

        await pilot.press("ctrl+l")                       # the server's runs, by conversation
        await until(lambda: app.screen.id == "history", pilot=pilot)
        table = app.screen.query_one("DataTable")
        assert table.row_count == 2
        table.move_cursor(row=[str(table.coordinate_to_cell_key((i, 0)).row_key.value)
                               for i in range(2)].index(second))
        await pilot.press("enter")                        # GET /api/runs/{id}/thread, then the run replayed
        await until(lambda: app.screen.id == "main" and app.state.run_id == second and app.state.status == "done",
                    pilot=pilot)
        assert [t.run_id for t in app.turns] == [first]
        assert app.turns[0].answer("beta").text == expected(REMOTE_PROFILES[2])
        assert str(app.main.pane("alpha").query_one(".pane-turns").render()).startswith(f"1 › {PROMPT}")


async def test_remote_shows_a_cost_column_only_when_the_server_has_a_priced_provider(served, tmp_path):
    from tokenrace.config.models import Price

    sim, server, proxy = served
    app = remote_app(proxy, ["alpha"])
    async with app.run_test(size=SIZE) as pilot:
        await until(lambda: app.ready, pilot=pilot, what="the server's providers")
        assert app.source.priced is False and app.show_cost is False
    store = store_mod.RunStore(tmp_path / "priced.db")
    await store.open()
    config = Config(providers=(provider(sim, "alpha", price=Price(input=1.0, output=2.0)), provider(sim, "beta")))
    priced = server_mod.Server(config, store, server_mod.ServerSettings(port=0))
    await priced.start()
    try:
        src = RemoteSource(f"http://127.0.0.1:{priced.port}/")
        only_beta = RemoteSource(f"http://127.0.0.1:{priced.port}/", providers=["beta"])
        for s in (src, only_beta):
            await s.open()
        try:
            names = [p["name"] for p in await src.providers()]
            assert names == ["alpha", "beta"] and src.priced is True
            await only_beta.providers()
            assert only_beta.priced is False
        finally:
            for s in (src, only_beta):
                await s.close()
    finally:
        await priced.stop(timeout=5)
        await store.close()
