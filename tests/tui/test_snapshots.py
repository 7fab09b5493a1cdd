"""Snapshots of the main screen before, during and after a run, and after a follow-up (two turns, four
providers: two of them off screen at 80×24, priced ones in the Cost column, emoji sequences in an
answer), with pytest-textual-snapshot.

Deterministic by construction: fixed texts, zero jitter, and the app's ``mask`` option, which
shows run ids and timing figures (TTFT, tok/s, time, rate) as ``··``; token counts and statuses
stay. "During" uses a provider that stalls after a set number of tokens, and waits until exactly
those tokens and their live figures are on screen. Update with ``--snapshot-update`` and look at
the SVGs in ``tests/tui/__snapshots__/`` before committing them.
"""
from __future__ import annotations

from tokenrace.config.models import Price
from tokenrace.metrics import estimate_tokens
from tokenrace.simulator import Fault, Profile, answer_tokens
from tokenrace.tui.app import TokenraceApp
from tokenrace.tui.client import LocalSource

from tests.tui import ALPHA, BETA, GAMMA, MAX_TOKENS, PROMPT, sim_config, until

STALL_AFTER = 6
SNAP_PROFILES = (
    Profile("alpha", ttft_ms=10, itl_ms=2, text=ALPHA),
    Profile("beta", ttft_ms=10, itl_ms=2, text=BETA, fault=None),
    Profile("gamma", ttft_ms=10, itl_ms=2, text=GAMMA, reasoning_tokens=6),
)
STALLING = Profile("beta", ttft_ms=10, itl_ms=2, text=BETA, fault=Fault("stall", after_tokens=STALL_AFTER, stall_s=30))


EMOJI = Profile("emoji", ttft_ms=10, itl_ms=2, usage=False,
                text="Family 👨‍👩‍👧‍👦, thumbs 👍🏽, flags 🇯🇵🇫🇷, 漢字 and ❤️ — the borders stay put.")
FOLLOW_UP = "And in one line?"
PRICES = {"alpha": Price(0.15, 0.60), "emoji": Price(3.0, 15.0)}


def snap_app(profiles=SNAP_PROFILES, prices=None) -> TokenraceApp:
    return TokenraceApp(LocalSource(config_factory=sim_config(profiles, prices=prices), record=False,
                                    metrics_interval=0.05), mask=True)


async def ready(pilot) -> None:
    await until(lambda: pilot.app.ready and pilot.app.main.panes(), pilot=pilot)


async def settled(pilot) -> None:
    """The run's end is drawn (the state says done before the last text is in the panes), and every
    pane that overflows keeps its end in view (anchored once laid out after the last text)."""
    app = pilot.app
    await until(lambda: app.shown_end == app.state.run_id, pilot=pilot, what="the run's end on screen")
    await pilot.pause()
    panes = app.main.panes()
    await until(lambda: all(p.body.max_scroll_y == 0 or p.body.is_anchored for p in panes), pilot=pilot,
                what="the panes to keep their ends in view")
    await pilot.pause()


async def run_to_end(pilot) -> None:
    app = pilot.app
    await ready(pilot)
    app.main.prompt.insert(PROMPT)
    app.main.prompt.action_submit()      # what Enter does (pilot.press would wait for the app to idle)
    await until(lambda: app.state.status == "done", pilot=pilot, what="the run's end")
    await settled(pilot)


async def two_turns(pilot) -> None:
    app = pilot.app
    await run_to_end(pilot)
    first = app.state.run_id
    app.main.prompt.insert(FOLLOW_UP)
    app.main.prompt.action_submit()      # Enter after a run: the follow-up
    await until(lambda: app.state.parent == first and app.state.status == "done", pilot=pilot, what="turn 2")
    await settled(pilot)


async def run_until_stalled(pilot) -> None:
    app = pilot.app
    await ready(pilot)
    app.main.prompt.insert(PROMPT)
    app.main.prompt.action_submit()      # what Enter does (pilot.press would wait for the app to idle)
    shown = "".join(answer_tokens(STALLING, PROMPT, MAX_TOKENS)[:STALL_AFTER])
    def stalled() -> bool:
        st = app.state.providers
        beta = st.get("beta")
        return (app.state.run_id != "" and st["alpha"].done and st["gamma"].done and beta is not None
                and beta.text == shown and beta.live is not None and beta.live.tokens == round(estimate_tokens(shown))
                and app.main.pane("beta").answer.source == shown
                and all(app.main.pane(n).streams_idle for n in ("alpha", "beta", "gamma")))
    await until(stalled, pilot=pilot, what=f"{STALL_AFTER} tokens of beta on screen")
    # beta is still streaming, so its row waits for the table's next throttled redraw: draw it now,
    # or the snapshot catches whichever tick came last (a rate of None renders unlike a masked number)
    app.main.flush_figures()
    await pilot.pause()


def test_main_before_a_run(snap_compare):
    assert snap_compare(snap_app(), terminal_size=(80, 24), run_before=ready)


def test_main_during_a_run(snap_compare):
    app = snap_app((SNAP_PROFILES[0], STALLING, SNAP_PROFILES[2]))
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_until_stalled)


def test_main_after_a_run(snap_compare):
    assert snap_compare(snap_app(), terminal_size=(80, 24), run_before=run_to_end)


def test_main_after_a_run_large(snap_compare):
    assert snap_compare(snap_app(), terminal_size=(200, 50), run_before=run_to_end)


def test_follow_up(snap_compare):
    app = snap_app((SNAP_PROFILES[0], EMOJI, *SNAP_PROFILES[1:]), PRICES)
    assert snap_compare(app, terminal_size=(80, 24), run_before=two_turns)


def test_follow_up_large(snap_compare):
    app = snap_app((SNAP_PROFILES[0], EMOJI, *SNAP_PROFILES[1:]), PRICES)
    assert snap_compare(app, terminal_size=(200, 50), run_before=two_turns)
