"""The race chart: each line starts at its provider's TTFT (counted from its own request), reasoning never makes a
line climb, the legend holds no placeholders, the colours stay apart, and all eleven kinds race on one page.
"""
from __future__ import annotations

import itertools
import re

import pytest

from tests.e2e.helpers import (assert_clean, assert_column_matches, expect, open_page, start, stored, wait_end,
                               delta_e)

# On every redraw: a provider whose line has points must already show a TTFT (reasoning alone draws no line).
WATCH_DRAWS = """() => {
  window.__violations = [];
  window.__draws = 0;
  document.querySelector('[data-role=chart]').addEventListener('tokenrace:chart-drawn', () => {
    window.__draws++;
    for (const [name, s] of Object.entries(window.tokenrace.chart())) {
      const ttft = document.querySelector(`[data-provider="${name}"] [data-role=ttft]`).textContent;
      if (s.points > 0 && ttft === '—') window.__violations.push(`${name}: ${s.points} points, TTFT —`);
    }
  });
}"""
PLACEHOLDER = re.compile(r"[–—-]\s*$|:\s*[–—-]")


def check_chart(page, results: list[dict]) -> dict:
    chart = page.evaluate("() => window.tokenrace.chart()")
    for r in results:
        s = chart[r["provider"]]
        if r["ttft_ms"] is None:
            assert s["points"] == 0
            continue
        # the line starts where TTFT says, both counted from this provider's own request
        assert abs(s["x0"] * 1000 - r["ttft_ms"]) <= 5, (r["provider"], s["x0"], r["ttft_ms"])
        if r["reasoning"]:
            a, b = s["reasoning"]
            assert 0 <= a <= b and b * 1000 <= r["ttft_ms"] + 5, (r["provider"], s["reasoning"], r["ttft_ms"])
            assert abs(a * 1000 - r["ttft_any_ms"]) <= 5
        else:
            assert s["reasoning"] is None
    return chart


def check_legend(page, names: list[str], lines: list[str]) -> None:
    """Every provider in the legend, no placeholder anywhere; every line named at its end (and no other)."""
    items = page.locator("[data-role=legend] [data-legend-provider]")
    expect(items).to_have_count(len(names))
    for text in page.locator("[data-role=legend] > *").all_inner_texts():
        assert text.strip() and not PLACEHOLDER.search(text), repr(text)
    expect(page.locator("[data-line-label]")).to_have_count(len(lines))
    for name in lines:
        expect(page.locator(f'[data-line-label="{name}"]')).to_have_text(name)


def test_lines_start_at_ttft_and_reasoning_never_climbs(live, new_page, shots):
    page, watch = open_page(new_page, live.url)
    page.evaluate(WATCH_DRAWS)
    names = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "broken"]
    run_id = start(page, "Race for the chart", names)
    wait_end(page)
    results = stored(page, run_id)["results"]
    by = {r["provider"]: r for r in results}
    assert by["bravo"]["reasoning"] and by["delta"]["reasoning"]       # two reasoning providers
    page.wait_for_function("(n) => window.tokenrace.chart().alpha.points > 0 && window.__draws > n", arg=0)
    check_chart(page, results)
    assert page.evaluate("() => window.__draws") > 1
    assert page.evaluate("() => window.__violations") == []
    check_legend(page, names, [n for n in names if by[n]["ttft_ms"] is not None])
    # hovering shows counts at the cursor, and only real numbers
    box = page.locator("[data-role=chart] .u-over").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.9, box["y"] + box["height"] / 2)
    expect(page.locator('[data-legend-provider="alpha"] .lg-val')).to_have_text(re.compile(r"^\d+$"))
    expect(page.locator('[data-legend-provider="broken"] .lg-val')).to_have_text("")
    for r in results:
        assert_column_matches(page, r)
    assert_clean(watch)


def test_a_replay_draws_the_same_starts(live, new_page):
    page, watch = open_page(new_page, live.url)
    run_id = start(page, "Race to replay", ["bravo", "golf"])
    wait_end(page)
    results = stored(page, run_id)["results"]
    page2, watch2 = open_page(new_page, live.url, path=f"/?run={run_id}")
    wait_end(page2)
    page2.wait_for_function("() => window.tokenrace.chart().golf.points > 0")
    check_chart(page2, results)
    assert_clean(watch)
    assert_clean(watch2)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_eleven_providers_one_per_kind(live_builtin, new_page, shots, scheme):
    page, watch = open_page(new_page, live_builtin.url, color_scheme=scheme)
    names = page.eval_on_selector_all("input[data-provider-toggle]", "els => els.map(e => e.value)")
    assert len(names) == 11
    run_id = start(page, "Explain server-sent events in one paragraph.", names)
    wait_end(page)
    results = stored(page, run_id)["results"]
    assert [r["status"] for r in results] == ["ok"] * 11, [(r["provider"], r["error"]) for r in results]
    for r in results:
        assert_column_matches(page, r)
    page.wait_for_function("(names) => names.every((n) => window.tokenrace.chart()[n].points > 0)", arg=names)
    chart = check_chart(page, results)
    check_legend(page, names, names)
    # eleven colours, every pair well apart (CIEDE2000 >= 15; the old palette had pairs at 8.8)
    colours = {n: chart[n]["color"] for n in names}
    assert all(re.fullmatch(r"#[0-9a-f]{6}", c) for c in colours.values()), colours
    worst = min(itertools.combinations(names, 2), key=lambda p: delta_e(colours[p[0]], colours[p[1]]))
    assert delta_e(colours[worst[0]], colours[worst[1]]) >= 15, (worst, colours[worst[0]], colours[worst[1]])
    assert delta_e(colours["sim-anthropic"], colours["sim-custom"]) >= 40
    assert not any(chart[n]["dash"] for n in names)              # no repeats among eleven
    if scheme == "light":
        shots(page, "eleven-providers")
    assert_clean(watch)
