"""Layout: a 400-px-wide page where nothing overflows, every pane's figures on screen at 1400×900, and a history
drawer that neither squeezes the bars nor hides its figures.
"""
from __future__ import annotations

import pytest

from tokenrace.render import fmt_cost
from tests.e2e.conftest import EIGHT
from tests.e2e.helpers import (assert_clean, col, expect, fmt_ms, in_viewport, open_page, overflows, start, stored,
                               wait_end)


def test_400px_wide_nothing_overflows(live, new_page, shots):
    page, watch = open_page(new_page, live.url, viewport={"width": 400, "height": 860})
    assert overflows(page) == []
    page.click("[data-role=system-toggle]")
    page.fill("[data-role=system]", "Answer briefly.")
    start(page, "Narrow, with a thread", ["alpha", "bravo", "charlie", "broken", "cutoff", "foxtrot"])
    wait_end(page)
    assert overflows(page) == []
    legend = page.locator("[data-role=legend]").bounding_box()
    card = page.locator(".chart-card").bounding_box()
    assert card["x"] <= legend["x"] and legend["x"] + legend["width"] <= card["x"] + card["width"]
    box = page.locator("[data-role=followup-prompt]")
    box.fill("A follow-up on a narrow screen")
    box.press("Control+Enter")
    page.wait_for_function("() => window.tokenrace.turn === 2")
    wait_end(page)
    assert overflows(page) == []
    page.evaluate("() => window.scrollTo(0, 0)")
    shots(page, "narrow", full_page=True)
    page.click("[data-role=history-toggle]")
    expect(page.locator("[data-role=history-list] [data-role=history-figures]").first).to_be_visible()
    assert overflows(page) == []
    assert_clean(watch)


@pytest.mark.parametrize("names", [EIGHT[:4], EIGHT], ids=["4", "8"])
def test_every_panes_figures_on_screen_at_1400x900(live, new_page, shots, names):
    page, watch = open_page(new_page, live.url, viewport={"width": 1400, "height": 900})
    run_id = start(page, f"Figures of {len(names)}", names)
    wait_end(page)
    # as the page left it: no scrolling by the test
    for name in names:
        figs = col(page, name).locator("[data-role=figures]")
        for role in ("ttft", "rate", "tokens", "elapsed"):
            expect(figs.locator(f"[data-role={role}]")).to_be_visible()
        assert in_viewport(page, figs), (name, figs.bounding_box())
    for r in stored(page, run_id)["results"]:
        if r["cost_usd"] is not None:
            assert in_viewport(page, col(page, r["provider"]).locator("[data-role=cost]"))
    assert_clean(watch)


def test_history_drawer_keeps_the_bars_and_shows_figures(live, new_page, shots):
    page, watch = open_page(new_page, live.url, viewport={"width": 1400, "height": 900})
    run_id = start(page, "Drawer and bars", ["alpha", "bravo", "charlie", "delta"])
    wait_end(page)

    def bars() -> list[dict]:
        return page.evaluate("""() => [...document.querySelectorAll('[data-role=bars] li')].map(li => ({
            track: li.querySelector('.bar-track').getBoundingClientRect().width,
            name: li.querySelector('.bar-name'), value: li.querySelector('.bar-value')}))
            .map(b => ({track: b.track, cut: b.name.scrollWidth > b.name.clientWidth,
                        value: b.value.scrollWidth > b.value.clientWidth}))""")

    before = bars()
    page.click("[data-role=history-toggle]")
    item = page.locator(f'[data-role=history-list] button[data-run="{run_id}"]')
    expect(item).to_be_visible()
    after = bars()
    assert len(after) == len(before) == 8
    # nothing cut, and every bar keeps a usable length (the race re-flows: chart above, bars below)
    assert not any(b["cut"] or b["value"] for b in after), after
    assert min(b["track"] for b in after) >= 0.9 * min(b["track"] for b in before), (before, after)
    assert min(b["track"] for b in after) >= 100
    drawer = page.locator("[data-role=history]").bounding_box()
    race = page.locator("[data-role=race]").bounding_box()
    assert race["x"] + race["width"] <= drawer["x"] + 1                  # beside the drawer, not under it
    assert overflows(page) == []
    # figures per run: each provider's TTFT, speed and cost (where it has a price)
    for r in stored(page, run_id)["results"]:
        row = item.locator(f'[data-fig-provider="{r["provider"]}"]')
        expect(row.locator(".h-ttft")).to_have_text(fmt_ms(r["ttft_ms"]))
        expect(row.locator(".h-rate")).to_contain_text("tok/s")
        expect(row.locator(".h-cost")).to_have_text("" if r["cost_usd"] is None else
                                                    fmt_cost(r["cost_usd"], r["cost_estimated"]))
    shots(page, "history")
    assert_clean(watch)
