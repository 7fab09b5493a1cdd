"""The comparison table: every provider's live figures, sortable, the best of each column highlighted.

Rows are keyed by provider name. The screen pushes each provider's figures (``set_rows``, on the
same tick as the pane footers, from the same figures) and its token-rate samples; the table only
formats them, marks the best value of each column (lowest TTFT and total time, highest tokens/s,
among at least two providers) and keeps the chosen sort order. The rate sparklines share one scale
(:mod:`.sparkline`). Click a header, or press ``s`` with the table focused, to sort; again reverses.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.coordinate import Coordinate
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey

from ...render import STATUS_STYLE, fmt_cost, fmt_ms, fmt_rate
from .provider_pane import MASK, fmt_seconds, fmt_tokens
from .sparkline import Scale, shared_scale, spark_text

# (key, label, lowest is best (None: no "best"), right-aligned)
COLUMNS = (("provider", "Provider", None, False), ("status", "Status", None, False),
           ("ttft", "TTFT", True, True), ("rate", "tok/s", False, True), ("tokens", "Tokens", None, True),
           ("elapsed", "Time", True, True), ("cost", "Cost", True, True), ("spark", "Rate over time", None, False))
# fixed widths: a changing figure never re-lays out the table ("1029 ms", "2091.0", "10.4 s", "~$0.000123")
WIDTHS = {"status": 9, "ttft": 7, "rate": 6, "tokens": 6, "elapsed": 7, "cost": 10}
SPARK_MIN, SPARK_MAX = 4, 48       # the sparkline takes the width that is left, within these
SPARK_LABEL = "Rate over time"
SORTABLE = ("provider", "status", "ttft", "rate", "tokens", "elapsed", "cost")
_RAW = {"ttft": "ttft_ms", "rate": "tokens_per_s", "tokens": "tokens", "elapsed": "elapsed_ms", "status": "status",
        "cost": "cost_usd"}


class FiguresTable(DataTable):
    """Live figures of all providers, one row each."""

    BINDINGS = [Binding("s", "sort_next", "Sort", show=False)]

    def __init__(self, *, mask_timing: bool = False, **kw: Any) -> None:
        kw.setdefault("cursor_type", "row")
        kw.setdefault("zebra_stripes", True)
        super().__init__(**kw)
        self.mask_timing = mask_timing
        self.show_cost = True
        self.figures: dict[str, dict[str, Any]] = {}
        self.rates: dict[str, list[float]] = {}
        self._shown: dict[tuple[str, str], object] = {}     # (row, column) -> what the cell shows
        self._scale = Scale(1, 0.0)
        self.spark_width = SPARK_MIN
        self.sort_column: str | None = None
        self.sort_reverse = False

    def on_focus(self) -> None:
        self.show_cursor = True      # the cursor row would hide the highlighted best values otherwise

    def on_blur(self) -> None:
        self.show_cursor = False

    def on_mount(self) -> None:
        self.show_cursor = self.has_focus
        self._add_columns(["provider"])

    def _keys(self) -> list[str]:
        """The columns shown: Cost only where prices may exist, the sparkline only where it fits."""
        return [c[0] for c in COLUMNS if (c[0] != "cost" or self.show_cost) and (c[0] != "spark" or self.spark_width)]

    def _add_columns(self, names: list[str]) -> None:
        width = max([len(n) for n in names] + [8])
        self.spark_width = self._fit_spark(width)
        for key, label, _best, right in COLUMNS:
            if key == "spark" and self.spark_width < len(SPARK_LABEL):
                label = "Rate"
            if key in self._keys():
                w = width if key == "provider" else self.spark_width if key == "spark" else WIDTHS.get(key)
                self.add_column(Text(label, justify="right" if right else "left"), key=key, width=w)

    def _fit_spark(self, name_width: int) -> int:
        """What is left of the table's width for the sparkline (every column has 1 cell of padding a
        side); 0 when less than ``SPARK_MIN`` is left (80 columns with a Cost column): no sparkline."""
        keys = [k for k in self._keys() if k != "spark"]
        used = name_width + sum(WIDTHS.get(k, 0) for k in keys if k != "provider") + 2 * len(keys) + 2
        room = (self.size.width or self.app.size.width - 2) - 1 - used        # 1: the vertical scrollbar
        return 0 if room < SPARK_MIN else min(SPARK_MAX, room)

    def on_resize(self) -> None:
        if not self.figures:
            return
        width = self._fit_spark(self.columns[ColumnKey("provider")].width)
        if width != self.spark_width and width and self.spark_width:
            self.spark_width = width
            column = self.columns[ColumnKey("spark")]
            column.width, column.auto_width = width, False
            column.label = Text(SPARK_LABEL if width >= len(SPARK_LABEL) else "Rate")
            self._shown = {k: v for k, v in self._shown.items() if k[1] != "spark"}
            self._refresh_best()
            self.refresh(layout=True)
        elif bool(width) != bool(self.spark_width):       # the sparkline appears or goes: new columns
            self.reset_columns()

    def reset_columns(self) -> None:
        figures, rates = self.figures, self.rates
        self.reset(list(figures))
        self.set_rows({n: (figures[n], rates.get(n)) for n in figures})

    # ------------------------------------------------------------------ data pushed in
    def reset(self, providers: list[str], show_cost: bool | None = None) -> None:
        """Rows for a new line-up (columns too: the Cost column only where prices may exist)."""
        if show_cost is not None:
            self.show_cost = show_cost
        self.clear(columns=True)
        self.figures, self.rates, self._shown = {}, {}, {}
        self._add_columns(providers)
        for name in providers:
            self.figures[name] = {"status": "idle"}
            self.rates[name] = []
            self.add_row(*self._cells(name), key=name)
        self._refresh_best()
        self._apply_sort()

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
            spark: Text = Text(MASK)
        else:
            ttft = cell("ttft", fmt_ms(f.get("ttft_ms")))
            rate = cell("rate", fmt_rate(f.get("tokens_per_s")))
            elapsed = cell("elapsed", fmt_seconds(f.get("elapsed_ms")))
            spark = spark_text(self.rates.get(name) or [], self._scale) if self.spark_width else Text("")
        cells = {"provider": Text(name), "status": Text(status, style=STATUS_STYLE.get(status, "")),
                 "ttft": ttft, "rate": rate, "tokens": Text(fmt_tokens(f.get("tokens"), bool(f.get("estimate"))),
                                                            justify="right"),
                 "elapsed": elapsed, "cost": cell("cost", fmt_cost(f.get("cost_usd"), f.get("cost_estimated"))),
                 "spark": spark}
        return [cells[k] for k in self._keys()]

    def _refresh_best(self) -> None:
        """Re-render the cells whose text or style changed (the best may move rows; the sparklines'
        shared scale may change every row's bars)."""
        best = self._best()
        self._scale = shared_scale(self.rates.values(), max(1, self.spark_width))
        keys = self._keys()
        for name in self.figures:
            for key, value in zip(keys, self._cells(name, best)):
                if key == "provider":
                    continue
                sig = (value.plain, str(value.style), tuple(str(sp.style) for sp in value.spans))
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
