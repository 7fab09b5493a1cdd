"""Rich tables for the terminal commands (run, providers): formatting only, no figures computed here.

:func:`display_text` is also what the TUI puts on screen: model text with the code points whose width
terminals disagree on taken out, so a border drawn after it lands where rich measured it.
"""
from __future__ import annotations

from typing import Iterable, Sequence

from rich.table import Table
from rich.text import Text

from .metrics import LiveFigures, StreamResult

LATEST_WIDTH = 40

# Code points whose cell width terminals disagree on, measured (rich 15's cell_len against tmux 3.3a's
# cursor, and the per-code-point wcwidth sum that xterm and VTE draw):
#   ZWJ U+200D: rich and tmux join "👨‍👩‍👧‍👦" into 2 cells, per-code-point terminals draw 8;
#   skin tones U+1F3FB-U+1F3FF: rich 0 cells, tmux 2 ("👍🏽" rich 2, tmux 4);
#   VS16 U+FE0F: rich widens a narrow base to 2 ("❤️", "1️⃣"), tmux and wcwidth keep it at 1.
# Without them every terminal and rich agree (each emoji of a ZWJ sequence shows on its own; flags,
# CJK, tag sequences and combining marks measure the same everywhere and are left alone). Per code
# point, so a sequence split across two streamed deltas is handled the same as a whole one.
_WIDTH_AMBIGUOUS = {0x200D: None, 0xFE0F: None, **{c: None for c in range(0x1F3FB, 0x1F400)}}


def display_text(text: str) -> str:
    """``text`` as a terminal shows it without pushing borders out (display only: keep the original
    for copying, exporting and storing)."""
    return text.translate(_WIDTH_AMBIGUOUS)

STATUS_STYLE = {"ok": "green", "error": "red", "truncated": "yellow", "cancelled": "yellow",
                "waiting": "dim", "streaming": "cyan"}


def fmt_ms(v: float | None) -> str:
    if v is None:
        return "–"
    if v >= 10_000:
        return f"{v / 1000:.1f} s"
    return f"{v:.0f} ms" if v >= 100 else f"{v:.1f} ms"


def fmt_cost(usd: float | None, estimated: bool | None = False) -> str:
    """$0.0123, with "~" when it rests on estimated token counts; "–" without a price."""
    if usd is None:
        return "–"
    text = f"${usd:.4f}" if usd >= 0.01 else f"${usd:.6f}"
    return ("~" if estimated else "") + text


def fmt_rate(v: float | None) -> str:
    return "–" if v is None else f"{v:.1f}"


def _best(values: Sequence[float | None], lowest: bool) -> float | None:
    vals = [v for v in values if v is not None]
    if len(vals) < 2:
        return None
    return min(vals) if lowest else max(vals)


def _cell(text: str, is_best: bool) -> Text:
    return Text(text, style="bold green" if is_best else "")


def results_table(results: Sequence[StreamResult], title: str | None = None) -> Table:
    """The comparison after a race: the best TTFT, tokens/s and total time are highlighted.

    Figures are never cut short: on a narrow terminal the provider and model names give way first."""
    t = Table(title=title, header_style="bold", expand=False)
    priced = any(r.cost_usd is not None for r in results)
    ok = [r for r in results if r.status == "ok"]
    best_ttft = _best([r.ttft_ms for r in ok], lowest=True)
    best_rate = _best([r.tokens_per_s for r in ok], lowest=False)
    best_total = _best([r.e2e_ms for r in ok], lowest=True)
    rows = []
    for r in results:
        tokens = "–" if r.output_tokens is None else (f"~{r.output_tokens}" if r.token_source == "estimate" else str(r.output_tokens))
        good = r.status == "ok"
        cells: list[Text | str] = [
            r.provider, r.model, Text(r.status, style=STATUS_STYLE.get(r.status, "")),
            _cell(fmt_ms(r.ttft_ms), good and r.ttft_ms == best_ttft),
            _cell(fmt_rate(r.tokens_per_s), good and r.tokens_per_s == best_rate),
            tokens, _cell(fmt_ms(r.e2e_ms) if r.e2e_ms else "–", good and r.e2e_ms == best_total)]
        if priced:
            cells.append(fmt_cost(r.cost_usd, r.cost_estimated))
        rows.append(cells)
    columns = [("Provider", "left"), ("Model", "left"), ("Status", "left"), ("TTFT", "right"), ("tok/s", "right"),
               ("Output tokens", "right"), ("Total", "right")] + ([("Cost", "right")] if priced else [])
    for i, (col, justify) in enumerate(columns):
        if i < 2:
            t.add_column(col, justify=justify, overflow="ellipsis")   # type: ignore[arg-type]
        else:
            width = max([len(str(row[i])) for row in rows] + [len(col.split()[0])])
            t.add_column(col, justify=justify, no_wrap=True, min_width=width)   # type: ignore[arg-type]
    for cells in rows:
        t.add_row(*cells)
    return t


def live_table(rows: Iterable[tuple[LiveFigures, str, str | None]]) -> Table:
    """While a race runs: one row per provider with the tail of its answer (or its error)."""
    # Not full width: emoji widths differ between terminals, and a line that reaches the right edge
    # may wrap, which leaves stale lines behind when the live view redraws.
    t = Table(header_style="bold", expand=False)
    t.add_column("Provider", no_wrap=True)
    t.add_column("Status", no_wrap=True)
    t.add_column("TTFT", justify="right", no_wrap=True)
    t.add_column("Tokens", justify="right", no_wrap=True)
    t.add_column("tok/s", justify="right", no_wrap=True)
    t.add_column("Elapsed", justify="right", no_wrap=True)
    t.add_column("Latest", width=LATEST_WIDTH, no_wrap=True, overflow="ellipsis")
    for fig, tail, error in rows:
        latest = Text(display_text(error), style="red") if error else Text(
            display_text(" ".join(tail.split()))[-LATEST_WIDTH:], style="dim")
        tokens = f"~{fig.tokens}" if fig.token_source == "estimate" and fig.tokens else str(fig.tokens)
        t.add_row(fig.provider, Text(fig.status, style=STATUS_STYLE.get(fig.status, "")), fmt_ms(fig.ttft_ms),
                  tokens, fmt_rate(fig.tokens_per_s), fmt_ms(fig.elapsed_ms), latest)
    return t
