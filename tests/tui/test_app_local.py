"""The app in-process against the simulator, driven with Textual's pilot."""
from __future__ import annotations

import json

import pytest

from tokenrace.render import fmt_rate
from tokenrace.simulator import Fault, Profile, answer_tokens
from tokenrace.tui.app import TokenraceApp
from tokenrace.tui.client import LocalSource
from tokenrace.tui.widgets.figures_table import FiguresTable
from tokenrace.tui.widgets.prompt_input import PromptInput

from tests.tui import ALPHA, MAX_TOKENS, PROFILES, PROMPT, expected, sim_config, until

SIZE = (120, 36)


def make_app(profiles=PROFILES, tmp_path=None, **kw) -> TokenraceApp:
    db = str(tmp_path / "runs.db") if tmp_path is not None else None
    source = LocalSource(config_factory=sim_config(profiles), db_path=db, record=tmp_path is not None,
                         metrics_interval=0.05)
    return TokenraceApp(source, export_dir=str(tmp_path) if tmp_path is not None else None, **kw)


async def type_and_run(pilot, prompt: str = PROMPT, keys: bool = False) -> None:
    """Put ``prompt`` in the prompt box (typed key by key with ``keys``) and press Enter."""
    app = pilot.app
    await until(lambda: app.ready, pilot=pilot, what="the source to open")
    await pilot.click(PromptInput)
    if keys:
        await pilot.press(*prompt, "enter")
    else:        # what Enter does, without pilot.press waiting for the app to idle (the run's end)
        app.main.prompt.insert(prompt)
        app.main.prompt.action_submit()


def cell(app: TokenraceApp, provider: str, column: str) -> str:
    return app.main.table.get_cell(provider, column).plain


async def test_run_shows_every_answer_and_figures(tmp_path):
    app = make_app(tmp_path=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_run(pilot, keys=True)
        await until(lambda: app.state.status == "done", pilot=pilot, what="the run to end")
        await pilot.pause()
        assert app.main.prompt.text == ""                       # cleared, and remembered
        assert app.main.prompt.prompts == [PROMPT]
        for profile in PROFILES:
            pane = app.main.pane(profile.name)
            assert pane is not None and pane.border_title == f"{profile.name} · m-{profile.name}"
            assert pane.answer.source == expected(profile)
            assert app.state.providers[profile.name].text == expected(profile)
            assert pane.status == "ok"
            footer = str(pane.query_one(".pane-footer").render()).replace("\u00a0", " ")
            assert "ok" in footer and "TTFT" in footer and " ms" in footer and "tok/s" in footer
            # the table holds the same figures the result carries
            result = app.state.providers[profile.name].result
            assert cell(app, profile.name, "status") == "ok"
            assert cell(app, profile.name, "tokens") == str(result["output_tokens"])
            assert cell(app, profile.name, "ttft").endswith("ms")
            assert cell(app, profile.name, "rate") == fmt_rate(result["tokens_per_s"])
            assert cell(app, profile.name, "elapsed") == f"{result['e2e_ms'] / 1000:.1f} s"
        gamma = app.main.pane("gamma")
        assert gamma.query_one(".reasoning").display                  # reasoning shown, collapsed
        assert gamma.query_one(".reasoning").collapsed
        assert app.state.providers["gamma"].reasoning
        assert "run" in str(app.main.query_one("#status-bar").render())


async def test_best_figures_are_highlighted_and_table_sorts():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await type_and_run(pilot)
        await until(lambda: app.state.status == "done", pilot=pilot)
        table: FiguresTable = app.main.table
        ttfts = {n: p.result["ttft_ms"] for n, p in app.state.providers.items()}
        best = min(ttfts, key=ttfts.get)
        assert "bold" in str(table.get_cell(best, "ttft").style)
        others = [n for n in ttfts if n != best]
        assert all("bold" not in str(table.get_cell(n, "ttft").style) for n in others)
        table.sort_by("ttft")
        await pilot.pause()
        order = [str(table.coordinate_to_cell_key((i, 0)).row_key.value) for i in range(table.row_count)]
        assert order == sorted(ttfts, key=ttfts.get)
        table.sort_by("ttft")                                     # again: reversed
        await pilot.pause()
        order = [str(table.coordinate_to_cell_key((i, 0)).row_key.value) for i in range(table.row_count)]
        assert order == sorted(ttfts, key=ttfts.get, reverse=True)


async def test_cancel_keeps_text_so_far():
    stalled = Profile("slow", ttft_ms=10, itl_ms=4, text=ALPHA, fault=Fault("stall", after_tokens=4, stall_s=30))
    app = make_app(profiles=(PROFILES[0], stalled))
    async with app.run_test(size=SIZE) as pilot:
        await type_and_run(pilot)
        first4 = "".join(answer_tokens(stalled, PROMPT, MAX_TOKENS)[:4])
        await until(lambda: app.state.providers["alpha"].done and app.state.providers["slow"].text == first4,
                    pilot=pilot, what="4 tokens")
        await pilot.press("escape")
        await until(lambda: app.state.status == "cancelled", pilot=pilot, timeout=5, what="the cancel")
        slow = app.state.providers["slow"]
        assert slow.status == "cancelled" and slow.result["status"] == "cancelled"
        assert slow.text == first4 == slow.result["text"]
        assert app.main.pane("slow").status == "cancelled"
        assert app.state.providers["alpha"].status == "ok"
        assert cell(app, "slow", "status") == "cancelled"


async def test_error_provider_is_shown_and_the_others_go_on():
    broken = Profile("broken", ttft_ms=10, itl_ms=4, text="never", fault=Fault("http_500"))
    app = make_app(profiles=(PROFILES[0], broken, PROFILES[1]))
    async with app.run_test(size=SIZE) as pilot:
        await type_and_run(pilot)
        await until(lambda: app.state.status == "done", pilot=pilot)
        await pilot.pause()
        b = app.state.providers["broken"]
        assert b.status == "error" and b.error and "broken" in b.error
        pane = app.main.pane("broken")
        err = pane.query_one(".pane-error")
        assert err.display and "500" in str(err.render())
        assert pane.status == "error"
        assert any(n.severity == "error" and "broken" in n.message for n in app._notifications)
        for p in (PROFILES[0], PROFILES[1]):
            assert app.state.providers[p.name].status == "ok"
            assert app.main.pane(p.name).answer.source == expected(p)
        assert cell(app, "broken", "status") == "error"


async def test_rerun_history_export_copy_and_reasoning(tmp_path):
    app = make_app(tmp_path=tmp_path)
    copied: list[str] = []
    app.copy_to_clipboard = copied.append       # OSC 52 goes to a terminal; capture it instead
    async with app.run_test(size=SIZE) as pilot:
        await type_and_run(pilot)
        await until(lambda: app.state.status == "done", pilot=pilot)
        first = app.state.run_id
        await pilot.press("ctrl+r")                               # re-run: a new run, same prompt
        await until(lambda: app.state.run_id != first and app.state.status == "done", pilot=pilot)
        assert app.state.prompt == PROMPT

        await pilot.press("ctrl+t")                               # reasoning expanded everywhere
        assert not app.main.pane("gamma").query_one(".reasoning").collapsed
        await pilot.press("ctrl+t")
        assert app.main.pane("gamma").query_one(".reasoning").collapsed

        app.main.table.move_cursor(row=app.main.table.get_row_index("beta"))
        app.main.table.focus()
        await pilot.press("ctrl+o")
        assert copied == [expected(PROFILES[1])]

        await pilot.press("ctrl+s")
        run_id = app.state.run_id
        j, md = tmp_path / f"tokenrace-run-{run_id}.json", tmp_path / f"tokenrace-run-{run_id}.md"
        assert j.is_file() and md.is_file()
        doc = json.loads(j.read_text())
        assert doc["run"] == run_id and doc["prompt"] == PROMPT
        assert [r["provider"] for r in doc["results"]] == ["alpha", "beta", "gamma"]
        assert doc["results"][1]["text"] == expected(PROFILES[1])
        assert all(r["status"] == "ok" for r in doc["results"])
        text = md.read_text()
        assert "| Provider |" in text and "## beta · m-beta" in text and "- three" in text
        assert any(str(j) in n.message for n in app._notifications)

        await pilot.press("ctrl+l")                               # history from the local database
        await until(lambda: app.screen.id == "history", pilot=pilot)
        table = app.screen.query_one("DataTable")
        assert table.row_count == 2
        ids = [str(table.coordinate_to_cell_key((i, 1)).row_key.value) for i in range(2)]
        assert set(ids) == {first, run_id}
        table.move_cursor(row=ids.index(first))
        await pilot.press("enter")                                # open the first run again
        await until(lambda: app.screen.id == "main" and app.state.run_id == first
                    and app.state.status == "done", pilot=pilot)
        assert app.state.replay
        assert app.main.pane("beta").answer.source == expected(PROFILES[1])
        assert app.state.providers["alpha"].result["status"] == "ok"

        await pilot.press("f1")
        assert app.screen.__class__.__name__ == "HelpScreen"
        await pilot.press("escape")
        assert app.screen.id == "main"


async def test_prompt_keys_newline_and_history():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await until(lambda: app.ready, pilot=pilot)
        prompt = app.main.prompt
        prompt.remember("first prompt")
        prompt.remember("second prompt")
        await pilot.click(PromptInput)
        await pilot.press("a", "ctrl+j", "b")
        assert prompt.text == "a\nb"
        await pilot.press("up")                  # cursor on the last line: moves up, no history yet
        assert prompt.text == "a\nb"
        await pilot.press("up")                  # first line: history
        assert prompt.text == "second prompt"
        await pilot.press("up")
        assert prompt.text == "first prompt"
        await pilot.press("down", "down")
        assert prompt.text == "a\nb"             # back to the draft
        assert app.state.status == "idle"        # nothing ran


async def test_command_palette_lists_the_actions():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await until(lambda: app.ready, pilot=pilot)
        names = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Re-run", "Cancel run", "Toggle reasoning", "Copy answer", "Export run", "History", "Help",
                "Quit"} <= names
        keys = {b.binding.key: b.binding.description for b in app.screen.active_bindings.values()}
        for key, label in (("ctrl+r", "Re-run"), ("escape", "Cancel"), ("ctrl+t", "Reasoning"),
                           ("ctrl+o", "Copy"), ("ctrl+s", "Export"), ("ctrl+l", "History"), ("f1", "Help")):
            assert keys.get(key) == label


def test_no_color_is_respected(monkeypatch):
    """Textual honours NO_COLOR itself (a monochrome filter over every frame); the app must not undo it."""
    from textual.filter import Monochrome, NoColor
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app()
    assert app.no_color
    assert any(isinstance(f, (Monochrome, NoColor)) for f in app._filters)


@pytest.mark.parametrize("size", [(80, 24), (200, 50)])
async def test_layout_fits(size):
    app = make_app()
    async with app.run_test(size=size) as pilot:
        await until(lambda: app.ready and len(app.main.panes()) == 3, pilot=pilot)
        await pilot.pause()
        for pane in app.main.panes():
            assert pane.region.height >= 6 and pane.region.width >= 30
        assert app.main.table.region.height >= 4
        assert app.main.prompt.region.height >= 1


async def test_quitting_mid_run_stops_and_records_it(tmp_path):
    stalled = Profile("slow", ttft_ms=10, itl_ms=4, text=ALPHA, fault=Fault("stall", after_tokens=2, stall_s=30))
    app = make_app(profiles=(PROFILES[0], stalled), tmp_path=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await type_and_run(pilot)
        await until(lambda: app.state.providers["alpha"].done and app.state.providers["slow"].text, pilot=pilot)
        run_id = app.state.run_id
    from tokenrace.store import RunStore
    async with RunStore(tmp_path / "runs.db") as store:
        run = await store.get_run(run_id)
    assert run["status"] == "cancelled" and run["source"] == "tui"
    assert [r["status"] for r in run["results"]] == ["ok", "cancelled"]
    assert run["results"][1]["text"] == "".join(answer_tokens(stalled, PROMPT, MAX_TOKENS)[:2])
