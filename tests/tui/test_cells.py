"""Emoji sequences and cell widths: what rich measures must be what a terminal draws.

Rich measures a ZWJ sequence as one 2-cell grapheme, a skin-tone modifier as 0 cells and VS16 as
widening its base; terminals that draw per code point (xterm, VTE) and tmux disagree on each. The
fix (``render.display_text``) removes those code points on the way to the screen; these tests
check the widths it leaves, in rich, per code point, in a real terminal (tmux, when installed),
on the TUI's screen and in ``tokenrace run``'s boxes.
"""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest
from rich.cells import cell_len, get_character_cell_size
from rich.console import Console

from tokenrace.metrics import LiveFigures
from tokenrace.render import display_text, live_table
from tokenrace.simulator import Profile, Simulator
from tokenrace.tui.app import TokenraceApp
from tokenrace.tui.client import LocalSource

from tests.tui import sim_config, until

SAMPLES = {
    "zwj family": "👨‍👩‍👧‍👦", "zwj kiss": "👩‍❤️‍💋‍👨", "zwj + skin tone": "👩🏾‍💻", "skin tone": "👍🏽",
    "two skin tones": "🤝🏻", "rainbow flag": "🏳️‍🌈", "pirate flag": "🏴‍☠️", "flag": "🇯🇵", "subdivision flag": "🏴󠁧󠁢󠁳󠁣󠁴󠁿",
    "cjk": "漢字かな", "vs16 heart": "❤️", "keycap": "1️⃣", "combining accent": "e\u0301", "plain emoji": "🚀",
}
MIXED = "Family 👨‍👩‍👧‍👦, thumbs 👍🏽 👋🏻, flags 🇯🇵🇫🇷🏳️‍🌈, 漢字 and ❤️ and 1️⃣ — coder 🧑🏾‍💻 done."


def per_code_point(text: str) -> int:
    """The width a terminal that draws every code point on its own (wcwidth) gives ``text``."""
    return sum(get_character_cell_size(c) for c in text)


@pytest.mark.parametrize("name", SAMPLES)
def test_display_text_measures_the_same_per_grapheme_and_per_code_point(name):
    shown = display_text(SAMPLES[name])
    assert cell_len(shown) == per_code_point(shown), name
    assert shown.strip()                        # something is still shown


def test_the_sequences_it_fixes_mis_measure_without_it():
    """The premise: rich measures these unlike a per-code-point terminal (tmux disagrees too, see below)."""
    for name in ("zwj family", "zwj kiss", "vs16 heart", "keycap", "rainbow flag"):
        assert cell_len(SAMPLES[name]) != per_code_point(SAMPLES[name]), name


def test_flags_cjk_and_combining_marks_are_left_alone():
    for name in ("flag", "subdivision flag", "cjk", "combining accent", "plain emoji"):
        assert display_text(SAMPLES[name]) == SAMPLES[name]


def test_split_anywhere_in_a_stream_gives_the_same_text():
    """Deltas cut sequences anywhere: normalising each piece equals normalising the whole."""
    whole = display_text(MIXED)
    for i in range(len(MIXED) + 1):
        assert display_text(MIXED[:i]) + display_text(MIXED[i:]) == whole


# ---------------------------------------------------------------------------------------- a real terminal
PROBE = r"""
import json, os, sys, termios, tty
samples = json.load(open(sys.argv[1]))
fd = sys.stdin.fileno()
tty.setraw(fd)
out = {}
for key, text in samples.items():
    os.write(1, ("\r\x1b[2K" + text + "\x1b[6n").encode())
    reply = b""
    while not reply.endswith(b"R"):
        reply += os.read(fd, 1)
    out[key] = int(reply.split(b";")[1][:-1]) - 1       # ESC [ row ; col R, col 1-based
json.dump(out, open(sys.argv[2] + ".tmp", "w"))
os.rename(sys.argv[2] + ".tmp", sys.argv[2])
"""


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_a_real_terminal_draws_what_rich_measured(tmp_path):
    """tmux moves its cursor by exactly the cells rich measured for every normalised sample."""
    texts = {**{k: display_text(v) for k, v in SAMPLES.items()}, "mixed": display_text(MIXED)}
    (tmp_path / "in.json").write_text(json.dumps(texts))
    (tmp_path / "probe.py").write_text(PROBE)
    out = tmp_path / "out.json"
    sock = f"tokenrace-test-{uuid.uuid4().hex[:8]}"
    cmd = f"{sys.executable} {tmp_path / 'probe.py'} {tmp_path / 'in.json'} {out}"
    subprocess.run(["tmux", "-L", sock, "new-session", "-d", "-x", "120", "-y", "10", cmd], check=True,
                   env={**os.environ, "LANG": "C.UTF-8"})
    try:
        deadline = time.monotonic() + 20
        while not out.exists():                 # the probe writes its answer when it is done
            assert time.monotonic() < deadline, "the probe in tmux did not answer"
            time.sleep(0.05)
        drawn = json.loads(out.read_text())
    finally:
        subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True)
    assert drawn == {k: cell_len(v) for k, v in texts.items()}


# ---------------------------------------------------------------------------------------- the TUI's screen
async def test_pane_borders_stay_put_with_emoji_sequences():
    """Every line of the screen is exactly the terminal's width, measured per code point too."""
    profiles = (Profile("emoji", ttft_ms=10, itl_ms=2, text=MIXED), Profile("plain", ttft_ms=10, itl_ms=2,
                                                                             text="Nothing special here."))
    app = TokenraceApp(LocalSource(config_factory=sim_config(profiles), record=False, metrics_interval=0.05))
    async with app.run_test(size=(80, 24)) as pilot:
        await until(lambda: app.ready, pilot=pilot)
        app.main.prompt.insert("emoji please 👨‍👩‍👧‍👦")
        app.main.prompt.action_submit()
        await until(lambda: app.shown_end == app.state.run_id != "", pilot=pilot, what="the run's end on screen")
        await pilot.pause()
        assert app.state.providers["emoji"].text == MIXED                 # kept as sent (copy, export)
        assert app.main.pane("emoji").answer.source == display_text(MIXED)
        lines = ["".join(seg.text for seg in strip) for strip in app.screen._compositor.render_strips()]
        assert any("👨👩👧👦" in line for line in lines)                   # the answer is on screen,
        assert any("🧑💻 done." in line for line in lines)                   # to its last word
        assert any("turn 1 › emoji please 👨👩👧👦" in line for line in lines)
        for line in lines:
            assert cell_len(line) == per_code_point(line) == 80, line


# ---------------------------------------------------------------------------------------- tokenrace run
def test_run_live_table_rows_line_up():
    fig = LiveFigures("emoji", "streaming", 1200.0, 120.0, 42, 80.0, "estimate")
    console = Console(width=120, record=True, color_system=None, force_terminal=False)
    tail = "so far: 👨‍👩‍👧‍👦 👍🏽 🇯🇵 漢字 ❤️ 1️⃣"          # the column shows the last 40 characters
    console.print(live_table([(fig, tail, None), (LiveFigures("plain", "ok", 900.0, 90.0, 10, 50.0, "usage"),
                                                   "plain text", None)]))
    lines = [ln for ln in console.export_text().splitlines() if ln.strip()]
    assert any("👨👩👧👦" in ln for ln in lines)
    widths = {per_code_point(ln) for ln in lines}
    assert len(widths) == 1 and widths == {cell_len(lines[0])}


async def test_run_answer_boxes_line_up(tmp_path):
    sim = Simulator([Profile("emoji", ttft_ms=10, itl_ms=2, text=MIXED)])
    await sim.start()
    try:
        cfg = tmp_path / "tokenrace.yaml"
        cfg.write_text(f"providers:\n  - name: emoji\n    kind: openai\n    model: m\n"
                       f"    base_url: {sim.base_url('emoji', 'openai')}\n")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tokenrace", "run", "emoji please", "-c", str(cfg), "--no-history", cwd=tmp_path,
            env={**os.environ, "HOME": str(tmp_path), "COLUMNS": "60"},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        await sim.stop()
    assert proc.returncode == 0, err.decode()
    box = [ln for ln in out.decode().splitlines() if ln[:1] in "╭│╰"]
    assert any("👨👩👧👦" in ln for ln in box)
    assert {per_code_point(ln) for ln in box} == {cell_len(ln) for ln in box} == {60}
