"""Figures a person can trust at a glance: footers and table agree at every moment, estimates keep
their "~", cost is shown, sparklines share one scale, and hidden panes are announced."""
from __future__ import annotations

import re

import pytest

from tokenrace.config.models import Price
from tokenrace.render import fmt_cost
from tokenrace.simulator import Fault, Profile
from tokenrace.tui.app import TokenraceApp
from tokenrace.tui.client import LocalSource
from tokenrace.tui.widgets.pane_grid import View, columns_in_view
from tokenrace.tui.widgets.sparkline import BARS, bar_levels, shared_scale, spark_text

from tests.tui import ALPHA, BETA, PROMPT, sim_config, until

LONG = " ".join(["Tokens keep coming at a steady pace."] * 8)


def app_for(profiles, **kw) -> TokenraceApp:
    return TokenraceApp(LocalSource(config_factory=sim_config(profiles, **kw), record=False, metrics_interval=0.05))


async def start(pilot, prompt: str = PROMPT) -> None:
    app = pilot.app
    await until(lambda: app.ready, pilot=pilot)
    app.main.prompt.insert(prompt)
    app.main.prompt.action_submit()


def footer_tokens(pane) -> str:
    m = re.search(r"(~?\d+|–) tok(?!/)", pane._footer)
    assert m, pane._footer
    return m.group(1)


async def test_footers_and_table_show_the_same_figures_at_every_moment():
    # p0 pauses 2 s mid-answer (its figures keep moving: elapsed time, rate): streams are seen running
    # however slowly a loaded machine runs this loop
    profiles = (Profile("p0", ttft_ms=10, itl_ms=10, text=LONG, fault=Fault("stall", after_tokens=12, stall_s=2.0)),
                *(Profile(f"p{i}", ttft_ms=10 + 5 * i, itl_ms=15 + 3 * i, text=LONG) for i in range(1, 4)))
    app = app_for(profiles)
    async with app.run_test(size=(160, 40)) as pilot:
        await start(pilot)
        moments = estimates = 0
        while app.state.status != "done":
            for p in profiles:
                pane, table = app.main.pane(p.name), app.main.table
                if pane is None or p.name not in table.figures:
                    continue
                tokens = table.get_cell(p.name, "tokens").plain
                assert footer_tokens(pane) == tokens, p.name
                assert table.get_cell(p.name, "status").plain == pane.status
                rate = table.get_cell(p.name, "rate").plain
                assert (f"{rate} tok/s" in pane._footer), (rate, pane._footer)
                estimates += tokens.startswith("~")
            moments += any(st.status == "streaming" for st in app.state.providers.values())
            await pilot.pause(0.01)
        assert moments >= 3                    # looked while streams were running
        assert estimates                       # live counts are our estimates: shown with "~" (openai streams
        await pilot.pause()                    # report usage only at the end)
        for p in profiles:
            result = app.state.providers[p.name].result
            assert footer_tokens(app.main.pane(p.name)) == app.main.table.get_cell(p.name, "tokens").plain \
                == str(result["output_tokens"])


async def test_cost_column_with_tilde_when_estimated():
    profiles = (Profile("usage", ttft_ms=10, itl_ms=2, text=ALPHA),
                Profile("counted", ttft_ms=10, itl_ms=2, text=BETA, usage=False),
                Profile("free", ttft_ms=10, itl_ms=2, text=ALPHA))
    prices = {"usage": Price(0.15, 0.60), "counted": Price(3.0, 15.0)}
    app = app_for(profiles, prices=prices)
    async with app.run_test(size=(120, 30)) as pilot:
        await start(pilot)
        await until(lambda: app.state.status == "done", pilot=pilot)
        await pilot.pause()
        table = app.main.table
        results = {n: p.result for n, p in app.state.providers.items()}
        assert results["usage"]["cost_usd"] and not results["usage"]["cost_estimated"]
        assert results["counted"]["cost_estimated"]
        for name, r in results.items():
            assert table.get_cell(name, "cost").plain == fmt_cost(r["cost_usd"], r["cost_estimated"])
        assert table.get_cell("counted", "cost").plain.startswith("~$")
        assert table.get_cell("free", "cost").plain == "–"
        assert fmt_cost(results["usage"]["cost_usd"]) in app.main.pane("usage")._footer


async def test_no_cost_column_when_no_provider_has_a_price():
    app = app_for((Profile("a", ttft_ms=10, itl_ms=2, text=ALPHA),))
    async with app.run_test(size=(120, 30)) as pilot:
        await until(lambda: app.ready, pilot=pilot)
        assert "cost" not in [str(k.value) for k in app.main.table.columns]


# ---------------------------------------------------------------------------------------- sparklines
def test_a_steady_stream_looks_steady_on_the_shared_scale():
    steady = [80.0, 81.5, 79.0, 82.0, 80.5, 81.0]
    slow = [40.0, 41.0, 39.5]
    scale = shared_scale([steady, slow], width=16)
    assert scale.bucket == 1 and scale.top == 82.0
    assert set(bar_levels(steady, scale)) == {len(BARS) - 1}         # one height: the fastest row's top
    assert set(bar_levels(slow, scale)) == {3}                       # half the speed, half the height
    assert bar_levels([80.0, 0.0, 80.0], scale)[1] == -1             # a stall is a gap


def test_rows_share_the_time_axis_too():
    long, short = [50.0] * 40, [50.0] * 10
    scale = shared_scale([long, short], width=16)
    assert scale.bucket == 3                                         # 40 samples in 16 bars
    assert len(spark_text(long, scale).plain) == 14 and len(spark_text(short, scale).plain) == 4


async def test_table_sparklines_are_drawn_on_the_shared_scale():
    profiles = (Profile("fast", ttft_ms=10, itl_ms=15, text=LONG), Profile("slow", ttft_ms=10, itl_ms=30, text=LONG))
    app = app_for(profiles)
    async with app.run_test(size=(160, 30)) as pilot:
        await start(pilot)
        await until(lambda: app.state.status == "done", pilot=pilot, timeout=20)
        await pilot.pause()
        table = app.main.table
        rates = {n: p.rates for n, p in app.state.providers.items()}
        assert all(len(r) >= 2 for r in rates.values()), rates
        scale = shared_scale(rates.values(), table.spark_width)
        assert table._scale == scale and scale.top > 0
        cells = {n: table.get_cell(n, "spark").plain for n in rates}
        assert cells == {n: spark_text(r, scale).plain for n, r in rates.items()}
        assert "█" in "".join(cells.values())          # the fastest moment of any row is a full bar


# ---------------------------------------------------------------------------------------- hidden panes
def test_view_describes_what_is_hidden():
    assert View((0, 1, 2), 3).describe() == ""
    assert View((0, 1), 11, right=True).describe() == "panes 1–2 of 11 ▶ · 9 hidden: Alt+←/→"
    assert View((2, 3), 11, left=True, right=True).describe().startswith("◀ panes 3–4 of 11 ▶")
    assert columns_in_view(11, 39, 0, 77) == (0, 1)
    assert columns_in_view(11, 39, 78, 77) == (2, 3)


@pytest.mark.parametrize("size", [(80, 24), (200, 50)])
async def test_hidden_panes_are_announced_and_reachable(size):
    profiles = tuple(Profile(f"sim-{i:02d}", ttft_ms=10, itl_ms=2, text=ALPHA) for i in range(11))
    app = app_for(profiles)
    async with app.run_test(size=size) as pilot:
        await until(lambda: app.ready and len(app.main.panes()) == 11, pilot=pilot)
        await pilot.pause()
        grid, bar = app.main.grid, app.main.run_bar

        def on_screen() -> list[int]:          # the real geometry: panes wholly inside the grid's region
            area = grid.region
            return [i for i, pane in enumerate(app.main.panes())
                    if pane.region.width and area.contains_region(pane.region)]

        if size == (200, 50):                  # everything fits: nothing to say
            assert grid.in_view().hidden == 0 and on_screen() == list(range(11))
            assert not bar.query_one("#pane-info").display
            return
        assert on_screen() == [0, 1] and list(grid.in_view().shown) == [0, 1]
        assert bar.view_text == "panes 1–2 of 11 ▶ · 9 hidden: Alt+←/→"
        assert bar.query_one("#pane-info").display
        await pilot.press("alt+right")
        await until(lambda: on_screen() == [2, 3], pilot=pilot, what="the next panes")
        assert bar.view_text.startswith("◀ panes 3–4 of 11 ▶")
        for _ in range(6):
            await pilot.press("alt+right")
        await until(lambda: 10 in on_screen(), pilot=pilot)
        assert bar.view_text.startswith("◀ panes") and "▶" not in bar.view_text
        await pilot.press("alt+left")
        await until(lambda: 10 not in on_screen(), pilot=pilot)

        table = app.main.table                 # a table row brings its pane into view
        table.focus()
        table.move_cursor(row=table.get_row_index("sim-05"))
        await pilot.press("enter")
        await until(lambda: 5 in on_screen(), pilot=pilot)
        assert app.main.focused_provider() == "sim-05"
        assert f"{5 + 1}" in bar.view_text
