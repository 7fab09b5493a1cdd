"""The page in real headless Chromium against the real server and simulator providers.

Synchronisation is Playwright's auto-waiting (expect / wait_for_function), never sleeps.
"""
from __future__ import annotations

import json
import re

from tests.e2e.conftest import EIGHT, TOKEN

from tests.e2e.helpers import (END, assert_clean, assert_column_matches, choose, clear_winner, col, expect, open_page,
                               start, stored, wait_end, no_horizontal_overflow, overflows)


def assert_winners(page, results: list[dict]) -> None:
    """The bars and the panes crown exactly whom the noise rule crowns (nobody without a clear lead)."""
    for key, bars in (("ttft", "bars-ttft"), ("rate", "bars-rate")):
        win = clear_winner(results, key)
        crowned = page.locator(f"[data-role={bars}] li.win")
        figs = page.locator(f"[data-fig={key}][data-win]")
        if win is None:
            expect(crowned).to_have_count(0)
            expect(figs).to_have_count(0)
        else:
            expect(crowned).to_have_attribute("data-bar-provider", win)
            expect(figs).to_have_count(1)
            expect(col(page, win).locator(f"[data-fig={key}]")).to_have_attribute("data-win", "true")


# ------------------------------------------------------------------------------------------------ tests
def test_race_fills_every_column_and_figures_match_the_api(live, new_page, shots):
    page, watch = open_page(new_page, live.url)
    choose(page, ["alpha", "bravo", "charlie", "delta", "broken", "cutoff"])
    page.fill("[data-role=prompt]", "Explain server-sent events in one paragraph.")
    shots(page, "idle")
    run_id = start(page, "Explain server-sent events in one paragraph.",
                   ["alpha", "bravo", "charlie", "delta", "broken", "cutoff"])
    expect(page.locator("[data-role=run-status]")).not_to_have_text("idle")
    wait_end(page)
    assert page.evaluate("() => new URL(location.href).searchParams.get('run')") == run_id

    run = stored(page, run_id)
    assert [r["provider"] for r in run["results"]] == ["alpha", "bravo", "charlie", "delta", "broken", "cutoff"]
    # the stable hooks other tools rely on
    expect(page.locator("[data-role=prompt]")).to_have_count(1)
    expect(page.locator("[data-role=run]")).to_have_count(1)
    for r in run["results"]:
        expect(page.locator(f'[data-provider="{r["provider"]}"]')).to_have_count(1)
        for role in ("output", "status", "ttft", "rate"):
            expect(col(page, r["provider"]).locator(f"[data-role={role}]")).to_have_count(1)
    for r in run["results"]:
        assert_column_matches(page, r)
    by = {r["provider"]: r for r in run["results"]}

    # every successful column filled with rendered markdown; reasoning shown apart, collapsible
    for name in ("alpha", "bravo", "charlie", "delta"):
        assert by[name]["status"] == "ok" and by[name]["text"]
        expect(col(page, name).locator("[data-role=output] p").first).to_be_visible()
    reasoning = col(page, "bravo").locator("[data-role=reasoning]")
    expect(reasoning).to_be_visible()
    assert reasoning.locator("[data-role=reasoning-text]").text_content() == by["bravo"]["reasoning"]
    reasoning.locator("summary").click()
    expect(reasoning).to_have_attribute("open", "")

    # errors in words, in their own column; the others went on
    err = col(page, "broken").locator("[data-role=error]")
    expect(err).to_be_visible()
    expect(err).to_contain_text("refused the API key")
    expect(col(page, "broken").locator("[data-role=status]")).to_have_text("failed")
    expect(col(page, "cutoff").locator("[data-role=error]")).to_contain_text("cut off")
    assert by["cutoff"]["status"] == "truncated" and by["cutoff"]["text"]

    # the chart drew; the bars and the panes name a winner only beyond noise
    expect(page.locator("[data-role=chart] canvas")).to_have_count(1)
    assert_winners(page, run["results"])
    expect(page.locator("[data-role=run-status]")).to_have_text("finished · 1 failed")

    # raw toggle shows the exact text
    col(page, "alpha").locator("[data-role=raw-toggle]").click()
    expect(col(page, "alpha").locator("[data-role=raw]")).to_be_visible()
    expect(col(page, "alpha").locator("[data-role=raw]")).to_have_text(by["alpha"]["text"])
    col(page, "alpha").locator("[data-role=raw-toggle]").click()

    shots(page, "finished")
    page.evaluate("() => window.scrollTo(0, 0)")
    shots(col(page, "broken"), "error-column")
    assert_clean(watch)


def test_model_output_cannot_run_script_or_load_anything(live, new_page):
    page, watch = open_page(new_page, live.url)
    run_id = start(page, "say something nasty", ["xss", "alpha"])
    wait_end(page)
    out = col(page, "xss").locator("[data-role=output]")
    expect(out).to_contain_text("bold")
    expect(out.locator("strong")).to_have_text("bold")              # markdown still renders
    expect(out).to_contain_text("<script>window.__pwned=1</script>")  # raw HTML is shown as text
    for sel in ("script", "img", "iframe", "svg", "object", "embed", "style", "[style]", "[onerror]", "[onload]",
                "a[href^='javascript' i]", "a[href^='data' i]", "[src]"):
        assert out.locator(sel).count() == 0, sel
    expect(out.locator(".img-blocked")).to_have_count(1)             # the remote markdown image never loads
    blocked = out.locator("a.link-blocked")
    assert blocked.count() >= 1
    blocked.first.click()
    for a in out.locator("a[href]").all():
        assert re.match(r"^(https?:|mailto:|#)", a.get_attribute("href"))
        assert a.get_attribute("rel") == "noopener noreferrer nofollow"
    assert page.evaluate("() => window.__pwned") is None
    assert page.evaluate("() => document.querySelectorAll('[data-role=output] script, [data-role=raw] *').length") == 0
    by = {r["provider"]: r for r in stored(page, run_id)["results"]}
    assert col(page, "xss").locator("[data-role=raw]").text_content() == by["xss"]["text"]
    assert not any("203.0.113.1" in u for u in watch.requests)
    assert_clean(watch)


def test_eight_providers_fit_a_laptop_screen(live, new_page, shots):
    page, watch = open_page(new_page, live.url, viewport={"width": 1400, "height": 900})
    run_id = start(page, "Race of eight", EIGHT)
    wait_end(page)
    run = stored(page, run_id)
    assert len(run["results"]) == 8
    for r in run["results"]:
        assert r["status"] == "ok"
        assert_column_matches(page, r)
    boxes = [col(page, n).bounding_box() for n in EIGHT]
    rows = sorted({round(b["y"]) for b in boxes})
    assert len(rows) == 2, rows                          # 4 + 4
    assert all(b["width"] >= 300 for b in boxes), [b["width"] for b in boxes]
    assert all(b["x"] + b["width"] <= 1400 for b in boxes)
    assert no_horizontal_overflow(page)
    expect(page.locator("[data-role=bars-rate] li")).to_have_count(8)
    page.evaluate("() => window.scrollTo(0, document.querySelector('[data-role=race]').offsetTop - 60)")
    shots(page, "eight-providers")
    assert_clean(watch)


def test_reconnect_mid_run_resumes_with_last_event_id(live, new_page):
    proxy = live.proxy
    page, watch = open_page(new_page, live.proxy_url)
    page.evaluate("""() => {
        window.__states = [];
        const el = document.querySelector('[data-role=run-status]');
        new MutationObserver(() => window.__states.push(el.dataset.state))
            .observe(el, {attributes: true, attributeFilter: ['data-state']});
    }""")
    before = len(proxy.event_requests)
    run_id = start(page, "a long answer please", ["slow", "slow2"])
    page.wait_for_function(
        "() => document.querySelector('[data-provider=slow] [data-role=raw]').textContent.length > 80")
    assert not page.evaluate("() => window.tokenrace.ended")

    async def drop() -> int:
        return proxy.drop_sse()
    assert live.call(drop()) >= 1                            # the server side of the connection goes away
    wait_end(page)

    assert "reconnecting" in page.evaluate("() => window.__states")
    reqs = proxy.event_requests[before:]
    assert len(reqs) >= 2 and all(r["path"] == f"/api/runs/{run_id}/events" for r in reqs), reqs
    assert reqs[0]["last_event_id"] is None
    assert reqs[1]["last_event_id"] is not None and int(reqs[1]["last_event_id"]) > 0   # resumed, not restarted
    run = stored(page, run_id)
    for r in run["results"]:
        assert r["status"] == "ok"
        assert_column_matches(page, r)                       # text exactly as if nothing happened
    assert_clean(watch)


def test_stop_cancels_every_stream_and_keeps_the_text(live, new_page, shots):
    page, watch = open_page(new_page, live.url)
    run_id = start(page, "Write a long story about streaming tokens.", ["slow", "slow2", "charlie", "alpha"])
    page.wait_for_function(
        "() => document.querySelector('[data-provider=slow] [data-role=raw]').textContent.length > 160")
    shots(page, "streaming")
    page.click("[data-role=stop]")
    wait_end(page)
    expect(page.locator("[data-role=run-status]")).to_have_attribute("data-state", "stopped")
    expect(col(page, "slow").locator("[data-role=status]")).to_have_attribute("data-status", "cancelled")
    run = stored(page, run_id)
    assert run["status"] == "cancelled"
    by = {r["provider"]: r for r in run["results"]}
    assert by["slow"]["status"] == "cancelled" and len(by["slow"]["text"]) > 160
    for r in run["results"]:
        assert_column_matches(page, r)
    assert_clean(watch)


def test_history_replays_a_run_and_exports_and_links_it(live, new_page, shots):
    page, watch = open_page(new_page, live.url, permissions=["clipboard-read", "clipboard-write"])
    run_id = start(page, "A run for the history panel", ["alpha", "bravo"])
    wait_end(page)

    # a fresh page: open the history panel and pick the run
    page2, watch2 = open_page(new_page, live.url)
    page2.click("[data-role=history-toggle]")
    item = page2.locator(f'[data-role=history-list] button[data-run="{run_id}"]')
    expect(item).to_be_visible()
    expect(item).to_contain_text("A run for the history panel")
    expect(item).to_be_focused()                 # the newest run, focused for the keyboard
    page2.keyboard.press("Enter")
    wait_end(page2)
    shots(page2, "history")
    assert page2.evaluate("() => new URL(location.href).searchParams.get('run')") == run_id
    run = stored(page2, run_id)
    for r in run["results"]:
        assert_column_matches(page2, r)
    expect(page2.locator("[data-role=chart] canvas")).to_have_count(1)
    assert_winners(page2, run["results"])

    # replay in the page at the recorded speed ends in the same state
    page2.keyboard.press("Escape")
    page2.click("[data-role=replay]")
    expect(page2.locator("[data-role=run-status]")).to_have_text("replaying")
    wait_end(page2)
    for r in run["results"]:
        assert_column_matches(page2, r)

    # export the conversation (one turn here) as JSON
    with page2.expect_download() as dl:
        page2.click("[data-role=export]")
    exported = json.loads(open(dl.value.path(), encoding="utf-8").read())
    assert exported["thread"] == run_id and [r["id"] for r in exported["runs"]] == [run_id]
    assert [r["text"] for r in exported["runs"][0]["results"]] == [r["text"] for r in run["results"]]

    # copy a link to the run; copy an answer; the link opens the run directly
    page.click("[data-role=copy-link]")
    link = page.evaluate("() => navigator.clipboard.readText()")
    assert link == f"{live.url}/?run={run_id}"
    col(page, "alpha").locator("[data-role=copy]").click()
    expect(page.locator("[data-role=toast]")).to_contain_text("Copied the answer of alpha")
    assert page.evaluate("() => navigator.clipboard.readText()") == {r["provider"]: r for r in run["results"]}["alpha"]["text"]
    page3, watch3 = open_page(new_page, live.url, path=f"/?run={run_id}")
    wait_end(page3)
    for r in run["results"]:
        assert_column_matches(page3, r)
    for w in (watch, watch2, watch3):
        assert_clean(w)


def test_narrow_screen_dark_theme_and_keyboard(live, new_page, shots):
    page, watch = open_page(new_page, live.url, viewport={"width": 390, "height": 844}, color_scheme="dark",
                            is_mobile=True, has_touch=True)
    bg = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    assert sum(int(x) for x in re.findall(r"\d+", bg)[:3]) < 120, bg        # dark, following the system
    # keyboard only: focus the prompt, tab to the chips, toggle with space
    page.focus("[data-role=prompt]")
    page.keyboard.type("Narrow and dark")
    page.keyboard.press("Tab")
    focused = page.evaluate("() => document.activeElement.dataset.providerToggle")
    assert focused == "alpha"
    run_id = start(page, "Narrow and dark", ["alpha", "broken", "bravo"])
    wait_end(page)
    assert overflows(page) == []
    for r in stored(page, run_id)["results"]:
        assert_column_matches(page, r)
    box = col(page, "alpha").bounding_box()
    assert box["width"] <= 390
    page.evaluate("() => window.scrollTo(0, 0)")
    shots(page, "narrow-dark", full_page=True)

    desk, watch2 = open_page(new_page, live.url, viewport={"width": 1400, "height": 900}, color_scheme="dark")
    start(desk, "Explain server-sent events in one paragraph.", ["alpha", "bravo", "charlie", "delta"])
    wait_end(desk)
    shots(desk, "dark")
    assert_clean(watch)
    assert_clean(watch2)


def test_token_cookie_from_the_url_once(live_token, new_page):
    page, watch = new_page(live_token.url)
    resp = page.goto("/api/providers")
    assert resp.status == 401
    page.goto(f"/?token={TOKEN}")
    expect(page.locator("html")).to_have_attribute("data-ready", "true")
    assert "token" not in page.url
    run_id = start(page, "with a token", ["alpha", "broken"])
    wait_end(page)
    for r in stored(page, run_id)["results"]:
        assert_column_matches(page, r)
    # the page never sees an API key: not in the document, not in the stored run it reads
    secret = live_token.secret
    assert secret not in page.content()
    assert secret not in json.dumps(stored(page, run_id))
    assert secret not in json.dumps(page.request.get("/api/providers").json())
    assert_clean(watch)
