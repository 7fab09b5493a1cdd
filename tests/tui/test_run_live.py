"""``tokenrace run`` on a terminal: the live table, then the answers (a pty stands in for the terminal)."""
from __future__ import annotations

import asyncio
import os
import pty
import re
import sys

from rich.cells import cell_len, get_character_cell_size

from tokenrace.simulator import Profile, Simulator

# any 40 characters of it (the live table's Latest column) hold a ZWJ family, whenever a frame is drawn
TEXT = "Family 👨‍👩‍👧‍👦 👍🏽 🇯🇵 漢字 ❤️ " * 6
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def read_all(fd: int) -> bytes:
    out = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:              # EIO: the other side closed
            return out
        if not chunk:
            return out
        out += chunk


async def test_run_on_a_terminal_ends_and_its_boxes_line_up(tmp_path):
    """The live view drains every message the session sent while it drew; it used to miss an ``end``
    that arrived in such a batch and wait forever."""
    sim = Simulator([Profile(f"p{i}", ttft_ms=5, itl_ms=1, text=TEXT) for i in range(4)])
    await sim.start()
    master, slave = pty.openpty()
    try:
        cfg = tmp_path / "tokenrace.yaml"
        cfg.write_text("providers:\n" + "".join(
            f"  - name: p{i}\n    kind: openai\n    model: m\n    base_url: {sim.base_url(f'p{i}', 'openai')}\n"
            for i in range(4)))
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tokenrace", "run", "emoji please", "-c", str(cfg), "--no-history",
            cwd=tmp_path, env={**os.environ, "HOME": str(tmp_path), "COLUMNS": "100", "TERM": "xterm-256color"},
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=slave)
        os.close(slave)
        slave = -1
        live = asyncio.get_running_loop().run_in_executor(None, read_all, master)
        out, _ = await asyncio.wait_for(proc.communicate(), 30)
        shown = ANSI.sub("", (await asyncio.wait_for(live, 10)).decode(errors="replace"))
    finally:
        if slave >= 0:
            os.close(slave)
        os.close(master)
        await sim.stop()
    assert proc.returncode == 0
    assert "Latest" in shown and "p3" in shown                # the live table was drawn on the terminal
    rows = [ln.rstrip() for ln in shown.splitlines() if ln.startswith("│ p")]
    assert any("👨👩👧👦" in ln for ln in rows)                # (frames differ in width: compare each with itself)
    assert all(sum(get_character_cell_size(c) for c in ln) == cell_len(ln) for ln in rows)
    box, inside = [], False                                  # the answer panels (not the table after them)
    for ln in out.decode().splitlines():
        inside = inside or ln.startswith("╭")
        if inside:
            box.append(ln)
        inside = inside and not ln.startswith("╰")
    assert len([ln for ln in box if ln.startswith("╭")]) == 4 and any("👨👩👧👦" in ln for ln in box)
    assert {cell_len(ln) for ln in box} == {sum(get_character_cell_size(c) for c in ln) for ln in box} == {100}
