"""The README's screenshots of ``tokenrace tui``: ``TOKENRACE_SCREENSHOTS=1 python -m pytest
tests/tui/test_screenshots.py`` writes ``docs/screenshots/tui.svg`` (200×50) and ``tui-80x24.svg``.

The built-in simulator's eleven providers, a few with example prices (the simulator has none), after
a two-turn conversation. Real figures (not masked), so the files change every time: skipped unless asked.
"""
from __future__ import annotations

import dataclasses
import html
import os
import re
from pathlib import Path

import pytest
from rich.cells import cell_len

from tokenrace.config.defaults import builtin_config
from tokenrace.config.models import Price
from tokenrace.runtime import simulator_config
from tokenrace.tui.app import TokenraceApp
from tokenrace.tui.client import LocalSource

from tests.tui import until

pytestmark = pytest.mark.skipif(os.environ.get("TOKENRACE_SCREENSHOTS") != "1",
                                reason="writes docs/screenshots: TOKENRACE_SCREENSHOTS=1")
DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PRICES = {"sim-openai": Price(0.15, 0.60), "sim-anthropic": Price(0.80, 4.00), "sim-gemini": Price(0.10, 0.40),
          "sim-cohere": Price(0.15, 0.60), "sim-ollama": Price(0.0, 0.0)}


def priced(sim):
    config = builtin_config(sim)
    providers = tuple(dataclasses.replace(p, price=PRICES.get(p.name)) for p in config.providers)
    return dataclasses.replace(config, providers=providers, builtin=False, source="tokenrace.yaml")


TEXT = re.compile(r'(<text [^>]*textLength=")([\d.]+)("[^>]*>)([^<]*)(</text>)')


def fix_text_lengths(svg: str) -> str:
    """Rich's SVG export sizes each run of text by its characters, not its cells (Textualize/rich#2742),
    so a browser squeezes CJK and emoji into half their width; size them by cells instead."""
    widths = [float(m.group(2)) / len(html.unescape(m.group(4))) for m in TEXT.finditer(svg)
              if len(html.unescape(m.group(4))) == cell_len(html.unescape(m.group(4)))]
    cell = max(set(widths), key=widths.count)

    def fix(m: re.Match[str]) -> str:
        return f"{m.group(1)}{cell * cell_len(html.unescape(m.group(4))):g}{m.group(3)}{m.group(4)}{m.group(5)}"
    return TEXT.sub(fix, svg)


@pytest.mark.parametrize("size, name", [((200, 50), "tui.svg"), ((80, 24), "tui-80x24.svg")])
async def test_screenshot(size, name, tmp_path):
    source = LocalSource(config_factory=lambda: simulator_config(make_config=priced), db_path=str(tmp_path / "r.db"))
    app = TokenraceApp(source)
    async with app.run_test(size=size) as pilot:
        await until(lambda: app.ready, pilot=pilot, timeout=30)
        for prompt in ("Explain server-sent events in two sentences.", "Now as a haiku?"):
            before = app.state.run_id
            app.main.prompt.insert(prompt)
            app.main.prompt.action_submit()
            await until(lambda: app.state.run_id != before and app.shown_end == app.state.run_id, pilot=pilot,
                        timeout=60)
        await pilot.pause()
        svg = app.export_screenshot(title="tokenrace")
    (DOCS / name).write_text(fix_text_lengths(svg), encoding="utf-8")
    assert (DOCS / name).stat().st_size > 10_000
