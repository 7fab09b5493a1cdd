"""Conversations in the TUI, in-process against the simulator: follow-ups, a new conversation, the
system prompt, History by conversation. What each provider was sent is read from the simulator's
request truths (``RequestTruth.history``): its own earlier answers, never another provider's."""
from __future__ import annotations

from tokenrace.simulator import Fault, Profile
from tokenrace.store import RunStore
from tokenrace.tui.app import TokenraceApp
from tokenrace.tui.client import LocalSource
from tokenrace.tui.screens.history import HistoryScreen
from tokenrace.tui.screens.system_prompt import SystemPromptScreen

from tests.tui import PROFILES, PROMPT, expected, sim_config, until

SIZE = (120, 36)
PROMPT2 = "Now say it in one line"
PROMPT3 = "Something else entirely"
BROKEN = Profile("broken", ttft_ms=10, itl_ms=4, text="never", fault=Fault("http_500"))


def conv_app(tmp_path=None, profiles=PROFILES, sims=None) -> TokenraceApp:
    db = str(tmp_path / "runs.db") if tmp_path is not None else None
    source = LocalSource(config_factory=sim_config(profiles, sims=sims), db_path=db, record=tmp_path is not None,
                         metrics_interval=0.05)
    return TokenraceApp(source)


async def ask(pilot, prompt: str) -> str:
    """Enter ``prompt`` (what Enter does, without pilot.press waiting for the app to idle); the run's id."""
    app = pilot.app
    await until(lambda: app.ready and not app.state.running, pilot=pilot, what="the app to be free")
    before = app.state.run_id
    app.main.prompt.insert(prompt)
    app.main.prompt.action_submit()
    await until(lambda: app.state.run_id != before and app.state.prompt == prompt and app.state.status == "done",
                pilot=pilot, what=f"the run of {prompt!r}")
    await pilot.pause()
    return app.state.run_id


def received(sim, provider: str, prompt: str) -> list[tuple[str, str]]:
    """The messages the simulator received for ``provider``'s request whose last prompt was ``prompt``."""
    hits = [t for t in sim.truths if t.profile == provider and t.history and t.history[-1] == ("user", prompt)]
    assert len(hits) == 1, (provider, prompt, [t.history for t in sim.truths if t.profile == provider])
    return list(hits[0].history)


def tail(profile) -> str:
    """The end of a profile's answer as a pane's earlier turn shows it (whitespace collapsed)."""
    return " ".join(expected(profile).split())[-10:]


def shown(widget) -> str:
    return str(widget.render()).replace("\u00a0", " ")


async def test_follow_up_sends_each_provider_its_own_answers(tmp_path):
    sims: list = []
    profiles = (*PROFILES, BROKEN)
    app = conv_app(tmp_path, profiles, sims)
    async with app.run_test(size=SIZE) as pilot:
        first = await ask(pilot, PROMPT)
        assert app.state.parent is None and app.turns == []
        assert "turn 1 › " + PROMPT in app.main.run_bar.turn_text
        assert "Follow-up" in app.main.prompt.placeholder

        second = await ask(pilot, PROMPT2)                     # Enter after a run: a follow-up
        sim = sims[0]
        for p in PROFILES:                                     # its own answer, no one else's
            assert received(sim, p.name, PROMPT2) == [("user", PROMPT), ("assistant", expected(p)), ("user", PROMPT2)]
        # broken gave no answer in turn 1: that turn is left out of its history, prompt and all
        assert received(sim, "broken", PROMPT2) == [("user", PROMPT2)]

        assert app.state.parent == first and [t.run_id for t in app.turns] == [first]
        assert "turn 2 › " + PROMPT2 in app.main.run_bar.turn_text
        assert "turn 2" in shown(app.main.query_one("#status-bar"))
        for p in PROFILES:                                     # each pane: the earlier turn, then this one
            pane = app.main.pane(p.name)
            earlier = shown(pane.query_one(".pane-turns"))
            assert earlier.startswith(f"1 › {PROMPT}") and tail(p) in earlier
            assert all(tail(o) not in earlier for o in PROFILES if o is not p)
            assert shown(pane.query_one(".pane-prompt")) == f"2 › {PROMPT2}"
            assert pane.answer.source == expected(p, PROMPT2)
        assert "no answer (error): left out of its history" in shown(app.main.pane("broken").query_one(".pane-turns"))

        await pilot.press("ctrl+n")                            # a new conversation
        assert app.turns == [] and not app.state.run_id
        assert app.main.run_bar.turn_text.startswith("new conversation")
        assert not app.main.pane("alpha").query_one(".pane-turns").display
        third = await ask(pilot, PROMPT3)
        assert app.state.parent is None
        assert received(sim, "alpha", PROMPT3) == [("user", PROMPT3)]
        assert not app.main.pane("alpha").query_one(".pane-prompt").display

    async with RunStore(tmp_path / "runs.db") as store:       # recorded as a thread
        assert [r["id"] for r in await store.thread(second)] == [first, second]
        assert (await store.get_run(third))["parent"] is None


async def test_history_lists_conversations_and_one_continues(tmp_path):
    sims: list = []
    app = conv_app(tmp_path, sims=sims)
    async with app.run_test(size=SIZE) as pilot:
        first = await ask(pilot, PROMPT)
        second = await ask(pilot, PROMPT2)
        await pilot.press("ctrl+n")
        other = await ask(pilot, PROMPT3)

        await pilot.press("ctrl+l")
        await until(lambda: isinstance(app.screen, HistoryScreen), pilot=pilot)
        screen = app.screen
        table = screen.query_one("#history-table")
        assert table.row_count == 2                            # two conversations, newest first
        keys = [str(table.coordinate_to_cell_key((i, 0)).row_key.value) for i in range(2)]
        assert keys == [other, second]
        assert [table.get_cell_at((i, 1)).plain for i in range(2)] == ["1", "2"]
        table.move_cursor(row=1)
        await pilot.pause()
        assert shown(screen.query_one("#history-turns")) == f"1 › {PROMPT}\n2 › {PROMPT2}"
        await pilot.press("enter")                             # open it: its turns in each pane
        await until(lambda: app.screen.id == "main" and app.state.run_id == second and app.state.status == "done",
                    pilot=pilot)
        assert app.state.replay and [t.run_id for t in app.turns] == [first]
        assert shown(app.main.pane("beta").query_one(".pane-turns")).startswith(f"1 › {PROMPT}")
        assert app.main.pane("beta").answer.source == expected(PROFILES[1], PROMPT2)

        await ask(pilot, "And a third turn")                   # Enter continues the opened conversation
        assert app.state.parent == second
        assert received(sims[0], "gamma", "And a third turn") == [
            ("user", PROMPT), ("assistant", expected(PROFILES[2])), ("user", PROMPT2),
            ("assistant", expected(PROFILES[2], PROMPT2)), ("user", "And a third turn")]
        assert "turn 3" in app.main.run_bar.turn_text


async def test_follow_up_without_a_run_history():
    """No database (read-only home): this process's runs carry the conversation."""
    sims: list = []
    app = conv_app(None, sims=sims)
    async with app.run_test(size=SIZE) as pilot:
        await ask(pilot, PROMPT)
        await ask(pilot, PROMPT2)
        assert received(sims[0], "alpha", PROMPT2) == [("user", PROMPT), ("assistant", expected(PROFILES[0])),
                                                        ("user", PROMPT2)]


async def test_rerun_repeats_the_turn_in_the_same_conversation(tmp_path):
    sims: list = []
    app = conv_app(tmp_path, sims=sims)
    async with app.run_test(size=SIZE) as pilot:
        first = await ask(pilot, PROMPT)
        second = await ask(pilot, PROMPT2)
        await pilot.press("ctrl+r")                            # the same turn again: a branch beside it
        await until(lambda: app.state.run_id not in (first, second) and app.state.status == "done", pilot=pilot)
        assert app.state.parent == first and [t.run_id for t in app.turns] == [first]
        hits = [t.history for t in sims[0].truths if t.profile == "beta" and t.history[-1] == ("user", PROMPT2)]
        assert len(hits) == 2 and hits[0] == hits[1]


async def test_system_prompt_is_sent_and_can_be_cleared():
    sims: list = []
    app = conv_app(None, sims=sims)
    async with app.run_test(size=SIZE) as pilot:
        await until(lambda: app.ready, pilot=pilot)
        await pilot.press("f2")
        await until(lambda: isinstance(app.screen, SystemPromptScreen), pilot=pilot)
        await pilot.press(*"Be terse.", "enter")
        await until(lambda: app.screen.id == "main", pilot=pilot)
        assert app.params["system"] == "Be terse."
        assert "system: Be terse." in app.main.run_bar.turn_text
        await ask(pilot, PROMPT)
        assert received(sims[0], "alpha", PROMPT) == [("system", "Be terse."), ("user", PROMPT)]

        await pilot.press("ctrl+n", "f2")                      # cleared: a new conversation has none
        await until(lambda: isinstance(app.screen, SystemPromptScreen), pilot=pilot)
        assert app.screen.query_one("#system-input").text == "Be terse."
        app.screen.query_one("#system-input").load_text("")
        await pilot.press("enter")
        await until(lambda: app.screen.id == "main", pilot=pilot)
        assert "system" not in app.params
        await ask(pilot, PROMPT3)
        assert received(sims[0], "alpha", PROMPT3) == [("user", PROMPT3)]


async def test_rerun_after_opening_a_conversation_repeats_its_last_turn(tmp_path):
    app = conv_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        first = await ask(pilot, PROMPT)
        second = await ask(pilot, PROMPT2)
        await pilot.press("ctrl+n")
        await ask(pilot, PROMPT3)
        await pilot.press("ctrl+l")
        await until(lambda: isinstance(app.screen, HistoryScreen), pilot=pilot)
        app.screen.query_one("#history-table").move_cursor(row=1)
        await pilot.press("enter")
        await until(lambda: app.screen.id == "main" and app.state.run_id == second and app.state.status == "done",
                    pilot=pilot)
        await pilot.press("ctrl+r")
        await until(lambda: app.state.run_id not in (first, second) and app.state.status == "done", pilot=pilot)
        assert app.state.prompt == PROMPT2 and app.state.parent == first
        assert [t.run_id for t in app.turns] == [first]
