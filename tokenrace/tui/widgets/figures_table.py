"""The comparison table: every provider's live figures, sortable, the best of each column highlighted.

Rows are keyed by provider name. The screen pushes each provider's figures (``set_row``) and its
token-rate samples; the table only formats them, marks the best value of each column (lowest TTFT
and total time, highest tokens/s, among at least two providers) and keeps the chosen sort order.
Click a header, or press ``s`` with the table focused, to sort; press it again to reverse.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.color import Color
from rich.text import Text
from textual.binding import Binding
from textual.coordinate import Coordinate
from textual.renderables.sparkline import Sparkline
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey

from ...render import STATUS_STYLE, fmt_ms, fmt_rate
from .provider_pane import MASK, fmt_seconds, fmt_tokens

# (key, label, lowest is best (None: no "best"), right-aligned)
COLUMNS = (("provider", "Provider", None, False), ("status", "Status", None, False),
           ("ttft", "TTFT", True, True), ("rate", "tok/s", False, True), ("tokens", "Tokens", None, True),
           ("elapsed", "Time", True, True), ("spark", "Rate over time", None, False))
SPARK_WIDTH = 16
# fixed widths: a changing figure never re-lays out the table ("1029 ms", "2091.0", "10.4 s")
WIDTHS = {"status": 9, "ttft": 7, "rate": 6, "tokens": 6, "elapsed": 7, "spark": SPARK_WIDTH}
SORTABLE = ("provider", "status", "ttft", "rate", "tokens", "elapsed")
_RAW = {"ttft": "ttft_ms", "rate": "tokens_per_s", "tokens": "tokens", "elapsed": "elapsed_ms", "status": "status"}


class FiguresTable(DataTable):
    """Live figures of all providers, one row each."""

    BINDINGS = [Binding("s", "sort_next", "Sort", show=False)]

    def __init__(self, *, mask_timing: bool = False, **kw: Any) -> None:
        kw.setdefault("cursor_type", "row")
        kw.setdefault("zebra_stripes", True)
        super().__init__(**kw)
        self.mask_timing = mask_timing
        self.figures: dict[str, dict[str, Any]] = {}
        self.rates: dict[str, list[float]] = {}
        self._shown: dict[tuple[str, str], object] = {}     # (row, column) -> what the cell shows
        self.sort_column: str | None = None
        self.sort_reverse = False

    def on_focus(self) -> None:
        self.show_cursor = True      # the cursor row would hide the highlighted best values otherwise

    def on_blur(self) -> None:
        self.show_cursor = False

    def on_mount(self) -> None:
        self.show_cursor = self.has_focus
        for key, label, _best, right in COLUMNS:
            self.add_column(Text(label, justify="right" if right else "left"), key=key, width=WIDTHS.get(key))

    # ------------------------------------------------------------------ data pushed in
    def reset(self, providers: list[str]) -> None:
        self.clear()
        self.figures, self.rates, self._shown = {}, {}, {}
        width = max([len(n) for n in providers] + [8])
        column = self.columns[ColumnKey("provider")]
        if column.width != width:
            column.width = width
            column.auto_width = False
        for name in providers:
            self.figures[name] = {"status": "idle"}
            self.rates[name] = []
            self.add_row(*self._cells(name), key=name)
        self._refresh_best()

    def set_row(self, name: str, figures: dict[str, Any], rates: list[float] | None = None) -> None:
        self.set_rows({name: (figures, rates)})

    def set_rows(self, rows: Mapping[str, tuple[dict[str, Any], list[float] | None]]) -> None:
        """New figures (and rate samples) for some providers; one re-render and re-sort for all."""
        for name, (figures, rates) in rows.items():
            if name not in self.figures:
                self.figures[name] = figures
                self.rates[name] = list(rates or [])
                self.add_row(*self._cells(name), key=name)
            self.figures[name] = figures
            if rates is not None:
                self.rates[name] = rates
        self._refresh_best()
        self._apply_sort()

    @property
    def selected_provider(self) -> str | None:
        if not self.row_count:
            return None
        try:
            return str(self.coordinate_to_cell_key(Coordinate(self.cursor_row, 0)).row_key.value)
        except Exception:
            return None

    # ------------------------------------------------------------------ formatting
    def _best(self) -> dict[str, float | None]:
        best: dict[str, float | None] = {}
        for key, _label, lowest, _right in COLUMNS:
            if lowest is None:
                continue
            raw = _RAW[key]
            vals = [f[raw] for f in self.figures.values()
                    if f.get(raw) is not None and f.get("status") not in ("error", "cancelled")
                    and (key != "elapsed" or f.get("status") == "ok")]
            best[key] = (min(vals) if lowest else max(vals)) if len(vals) >= 2 else None
        return best

    def _cells(self, name: str, best: dict[str, float | None] | None = None) -> list[Any]:
        f = self.figures[name]
        best = best or {}
        status = f.get("status", "idle")

        def cell(key: str, text: str) -> Text:
            raw = f.get(_RAW[key])
            hit = raw is not None and best.get(key) == raw and status not in ("error", "cancelled")
            return Text(text, style="bold green" if hit else "", justify="right")

        if self.mask_timing:
            ttft = rate = elapsed = Text(MASK, justify="right")
            spark: Any = Text(MASK)
        else:
            ttft = cell("ttft", fmt_ms(f.get("ttft_ms")))
            rate = cell("rate", fmt_rate(f.get("tokens_per_s")))
            elapsed = cell("elapsed", fmt_seconds(f.get("elapsed_ms")))
            data = self.rates.get(name) or []
            # one bar per sample until the column is full, then buckets of the whole run
            spark = Sparkline(data, width=min(len(data), SPARK_WIDTH), min_color=Color.parse("#4a6d8c"),
                              max_color=Color.parse("#6fdc8c")) if len(data) >= 2 else Text("")
        return [Text(name), Text(status, style=STATUS_STYLE.get(status, "")), ttft, rate,
                Text(fmt_tokens(f.get("tokens"), bool(f.get("estimate"))), justify="right"), elapsed, spark]

    def _refresh_best(self) -> None:
        """Re-render the cells whose text, style or sparkline changed (the best may move rows)."""
        best = self._best()
        keys = [c[0] for c in COLUMNS]
        for name in self.figures:
            for key, value in zip(keys, self._cells(name, best)):
                if key == "provider":
                    continue
                sig = (value.plain, str(value.style)) if isinstance(value, Text) else tuple(value.data)
                if self._shown.get((name, key)) == sig:
                    continue
                self._shown[(name, key)] = sig
                self.update_cell(name, key, value)

    # ------------------------------------------------------------------ sorting
    def sort_by(self, column: str, reverse: bool | None = None) -> None:
        if column not in SORTABLE:
            return
        if reverse is None:
            reverse = not self.sort_reverse if column == self.sort_column else False
        self.sort_column, self.sort_reverse = column, reverse
        self._apply_sort()

    def _apply_sort(self) -> None:
        col = self.sort_column
        if col is None:
            return
        if col == "provider":
            self.sort("provider", key=lambda t: t.plain, reverse=self.sort_reverse)
            return
        raw = _RAW[col]

        def key(cell: Text) -> tuple:
            v = self.figures.get(cell.plain, {}).get(raw)
            return (v is None, v if v is not None else 0)
        # missing values stay last whichever the direction
        rows = sorted(self.figures, key=lambda n: key(Text(n)))
        present = [n for n in rows if self.figures[n].get(raw) is not None]
        if self.sort_reverse:
            present.reverse()
        order = {n: i for i, n in enumerate(present + [n for n in rows if n not in present])}
        self.sort("provider", key=lambda t: order.get(t.plain, 0))

    def action_sort_next(self) -> None:
        i = SORTABLE.index(self.sort_column) + 1 if self.sort_column in SORTABLE else 0
        if self.sort_column is not None and not self.sort_reverse:
            self.sort_by(self.sort_column, True)
        else:
            self.sort_by(SORTABLE[i % len(SORTABLE)], False)

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        self.sort_by(str(event.column_key.value))
