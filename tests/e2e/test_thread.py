"""Conversations on the page: follow-ups, each provider's own history (checked on what the simulator received),
a provider joining mid-conversation, the system prompt, export, History opening a conversation, new conversation.
"""
from __future__ import annotations

import asyncio
import contextlib
import json

from tests.e2e.helpers import (assert_clean, assert_column_matches, col, expect, fmt_ms, open_page, start, stored,
                               truths, wait_end, choose)

SYSTEM = "You are a terse assistant who answers in plain words."


def follow_up(page, prompt: str) -> str:
    before = page.evaluate("() => window.tokenrace.runId")
    box = page.locator("[data-role=followup-prompt]")
    expect(box).to_be_visible()
    box.fill(prompt)
    box.press("Control+Enter")
    page.wait_for_function("(before) => window.tokenrace.runId !== before", arg=before)
    wait_end(page)
    return page.evaluate("() => window.tokenrace.runId")


def past_answer(page, name: str, turn: int):
    return col(page, name).locator(f'[data-turn="{turn}"] [data-role=turn-answer]')


def test_two_turns_each_column_holds_its_own_history(live, new_page, shots):
    page, watch = open_page(new_page, live.url)
    page.click("[data-role=system-toggle]")
    page.fill("[data-role=system]", SYSTEM)
    first, second = "Name three rivers of Europe.", "Which of them is the longest?"
    id1 = start(page, first, ["alpha", "bravo"])
    wait_end(page)
    run1 = stored(page, id1)
    by1 = {r["provider"]: r for r in run1["results"]}
    assert run1["params"]["system"] == SYSTEM and all(r["status"] == "ok" for r in run1["results"])
    assert by1["alpha"]["text"] != by1["bravo"]["text"]

    # charlie joins in the second turn
    choose(page, ["alpha", "bravo", "charlie"])
    id2 = follow_up(page, second)
    run2 = stored(page, id2)
    assert run2["parent"] == id1 and run2["prompt"] == second
    assert page.evaluate("() => window.tokenrace.turn") == 2
    expect(page.locator("[data-role=run-turn]")).to_have_text("turn 2")
    assert page.evaluate("() => new URL(location.href).searchParams.get('run')") == id2
    for r in run2["results"]:
        assert r["status"] == "ok"
        assert_column_matches(page, r)                       # the current turn: streamed text and figures

    # each column: turn 1's prompt and ITS OWN answer, then turn 2's prompt above the current answer
    for name in ("alpha", "bravo"):
        c = col(page, name)
        expect(c.locator('[data-turn="1"] [data-role=turn-text]')).to_have_text(first)
        expect(c.locator("[data-role=current-prompt] [data-role=turn-text]")).to_have_text(second)
        c.locator("[data-role=raw-toggle]").click()           # raw text: compare it exactly
        expect(past_answer(page, name, 1)).to_have_text(by1[name]["text"])
        c.locator("[data-role=raw-toggle]").click()
        expect(past_answer(page, name, 1).locator("p").first).to_be_visible()   # rendered again
    expect(col(page, "charlie").locator('[data-turn="1"] [data-role=turn-missing]')).to_contain_text("left out")
    expect(past_answer(page, "charlie", 1)).to_have_count(0)

    # what each upstream received: the system prompt, the first prompt and its own answer, the follow-up
    got = {profile: history for profile, prompt, history in truths(live) if prompt == second}
    assert got["alpha"] == [("system", SYSTEM), ("user", first), ("assistant", by1["alpha"]["text"]), ("user", second)]
    assert got["bravo"] == [("system", SYSTEM), ("user", first), ("assistant", by1["bravo"]["text"]), ("user", second)]
    assert got["charlie"] == [("system", SYSTEM), ("user", second)]     # joined mid-conversation
    # the picture: each column's second prompt in the middle of its pane, the first turn's end above it
    page.evaluate("""() => document.querySelectorAll('[data-role=body]').forEach((body) => {
        const at = body.querySelector('[data-role=current-prompt]').getBoundingClientRect().top;
        body.scrollTop += at - body.getBoundingClientRect().top - body.clientHeight / 3; })""")
    shots(page, "thread")

    # the conversation downloads as JSON and Markdown (the server's files)
    with page.expect_download() as dl:
        page.click("[data-role=export]")
    doc = json.loads(open(dl.value.path(), encoding="utf-8").read())
    assert doc["thread"] == id2 and [r["id"] for r in doc["runs"]] == [id1, id2]
    assert {r["provider"]: r["text"] for r in doc["runs"][0]["results"]} == {n: by1[n]["text"] for n in by1}
    with page.expect_download() as dl:
        page.click("[data-role=export-md]")
    assert dl.value.suggested_filename == f"tokenrace-thread-{id2}.md"
    md = open(dl.value.path(), encoding="utf-8").read()
    assert "## Turn 1" in md and "## Turn 2" in md and first in md and second in md
    assert by1["alpha"]["text"] in md and SYSTEM in md

    # History opens the conversation: every turn again, with the system prompt and the providers it asked
    page2, watch2 = open_page(new_page, live.url)
    page2.click("[data-role=history-toggle]")
    item = page2.locator(f'[data-role=history-list] button[data-run="{id2}"]')
    expect(item).to_contain_text("follow-up")
    for r in run2["results"]:               # the drawer shows each provider's figures for the run
        row = item.locator(f'[data-fig-provider="{r["provider"]}"]')
        expect(row.locator(".h-ttft")).to_have_text(fmt_ms(r["ttft_ms"]))
    item.click()
    wait_end(page2)
    assert page2.evaluate("() => window.tokenrace.turn") == 2
    col(page2, "bravo").locator("[data-role=raw-toggle]").click()
    expect(past_answer(page2, "bravo", 1)).to_have_text(by1["bravo"]["text"])
    expect(page2.locator("[data-role=system]")).to_have_value(SYSTEM)
    assert sorted(page2.eval_on_selector_all("input[data-provider-toggle]:checked", "els => els.map(e => e.value)")) \
        == ["alpha", "bravo", "charlie"]
    for r in run2["results"]:
        assert_column_matches(page2, r)
    # the first turn on its own: no earlier turns
    page2.goto(f"/?run={id1}")
    expect(page2.locator("html")).to_have_attribute("data-ready", "true")
    wait_end(page2)
    assert page2.evaluate("() => window.tokenrace.turn") == 1
    expect(page2.locator("[data-role=turns] .turn")).to_have_count(0)
    expect(page2.locator("[data-role=run-turn]")).to_be_hidden()

    # a new conversation: an empty page, and the next run has no parent
    page.click("[data-role=new-conversation]")
    expect(page.locator("[data-role=empty]")).to_be_visible()
    expect(page.locator("[data-role=columns] [data-provider]")).to_have_count(0)
    expect(page.locator("[data-role=followup]")).to_be_hidden()
    expect(page.locator("[data-role=prompt]")).to_be_focused()
    assert page.evaluate("() => new URL(location.href).searchParams.get('run')") is None
    id3 = start(page, "A fresh start", ["alpha"])
    wait_end(page)
    assert stored(page, id3)["parent"] is None
    expect(page.locator("[data-role=turns] .turn")).to_have_count(0)
    assert_clean(watch)
    assert_clean(watch2)


def test_follow_up_box_checks_before_sending(live, new_page):
    page, watch = open_page(new_page, live.url)
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    start(page, "First question", ["alpha"])
    wait_end(page)
    n = len(posts)
    box = page.locator("[data-role=followup-prompt]")
    box.fill("   ")
    page.click("[data-role=followup-run]")
    expect(page.locator("[data-role=followup-error]")).to_have_text("Write a prompt first.")
    limit = page.request.get("/api/limits").json()["max_prompt_chars"]
    box.fill("y" * (limit + 5))
    box.press("Control+Enter")
    expect(page.locator("[data-role=followup-error]")).to_contain_text(
        f"The prompt has {limit + 5:,} characters; the limit is {limit:,}.")
    assert len(posts) == n                                   # nothing was sent
    assert page.evaluate("() => window.tokenrace.turn") == 1
    assert_clean(watch)


@contextlib.contextmanager
def slow_recording(live, delay_s: float):
    """The store takes `delay_s` longer to record a finished run (a busy disk)."""
    original = live.store.finish_run

    async def slow(*args, **kwargs):
        await asyncio.sleep(delay_s)
        return await original(*args, **kwargs)
    live.store.finish_run = slow
    try:
        yield
    finally:
        del live.store.finish_run


def test_a_follow_up_asked_the_moment_a_turn_ends(live, new_page):
    """The server sends a run's `end` before it has recorded the answers a follow-up is built from: a follow-up
    asked in that instant (here with recording slowed to 300 ms, so it always is) waits for them and carries
    every earlier answer (it used to be refused with 409)."""
    page, watch = open_page(new_page, live.url)
    prompts = [f"Turn {n} of a quick chain" for n in range(1, 5)]
    page.evaluate("""(prompts) => {
        const box = document.querySelector('[data-role=followup]');
        let n = 1;
        new MutationObserver(() => {          // the box appears as the turn ends: ask the next one at once
          if (box.hidden || n >= prompts.length) return;
          document.querySelector('[data-role=followup-prompt]').value = prompts[n++];
          document.querySelector('[data-role=followup-run]').click();
        }).observe(box, {attributes: true, attributeFilter: ['hidden']});
    }""", prompts)
    with slow_recording(live, 0.3):
        start(page, prompts[0], ["alpha", "bravo"])
        page.wait_for_function("""(n) => window.tokenrace.turn === n && window.tokenrace.ended
            || !document.querySelector('[data-role=followup-error]').hidden""", arg=len(prompts), timeout=60_000)
    assert page.locator("[data-role=followup-error]").is_hidden(), page.locator("[data-role=followup-error]").text_content()
    last = page.evaluate("() => window.tokenrace.runId")
    runs = page.request.get(f"/api/runs/{last}/thread").json()["runs"]
    assert [r["prompt"] for r in runs] == prompts
    got = {profile: history for profile, prompt, history in truths(live) if prompt == prompts[-1]}
    for name in ("alpha", "bravo"):
        answers = [next(r["text"] for r in run["results"] if r["provider"] == name) for run in runs[:-1]]
        assert [text for role, text in got[name] if role == "assistant"] == answers
        assert [text for role, text in got[name] if role == "user"] == prompts
        expect(col(page, name).locator("[data-role=turns] .turn")).to_have_count(len(prompts) - 1)
    assert_clean(watch)
