"""The provider panes, side by side: a grid when there is room, else one row that scrolls sideways.

When panes do not fit (11 providers at 80×24), :meth:`PaneGrid.in_view` says which are on screen so
the screen can say how many are hidden, and :meth:`PaneGrid.page` scrolls by whole screens of panes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from textual.containers import ScrollableContainer

MIN_WIDTH = 36      # a pane narrower than this is hard to read
MIN_HEIGHT = 10


def grid_shape(n: int, width: int, height: int) -> tuple[int, int, bool]:
    """(columns, rows, scroll sideways) for ``n`` panes in ``width`` x ``height`` cells."""
    if n <= 0:
        return 1, 1, False
    max_cols = max(1, width // MIN_WIDTH)
    rows = max(1, min(math.ceil(n / max_cols), height // MIN_HEIGHT))
    cols = math.ceil(n / rows)
    return cols, rows, cols * MIN_WIDTH > width


@dataclass(frozen=True)
class View:
    """Which panes are on screen: their indices (row-major, as mounted) out of ``total``."""

    shown: tuple[int, ...]
    total: int
    left: bool = False            # panes hidden to the left / right
    right: bool = False

    @property
    def hidden(self) -> int:
        return self.total - len(self.shown)

    def describe(self) -> str:
        """"" when every pane is on screen, else e.g. "◀ panes 3–4 of 11 ▶ · Alt+←/→"."""
        if not self.hidden:
            return ""
        s = self.shown
        if s and list(s) == list(range(s[0], s[-1] + 1)):
            what = f"panes {s[0] + 1}–{s[-1] + 1} of {self.total}" if len(s) > 1 else f"pane {s[0] + 1} of {self.total}"
        else:
            what = f"{len(s)} of {self.total} panes"
        return f"{'◀ ' if self.left else ''}{what}{' ▶' if self.right else ''} · {self.hidden} hidden: Alt+←/→"


def columns_in_view(cols: int, col_width: int, scroll_x: float, viewport: int) -> tuple[int, int]:
    """The first and last grid column wholly inside ``viewport`` cells from ``scroll_x`` (a column
    counts as in view when at most its 1-cell gutter is cut)."""
    first = max(0, math.ceil((scroll_x - 1) / col_width))
    last = min(cols - 1, math.floor((scroll_x + viewport + 1) / col_width) - 1)
    return first, max(first, last)


class PaneGrid(ScrollableContainer, can_focus=False):
    """Lays its panes out with :func:`grid_shape` whenever its size or its panes change."""

    cols, rows, scrolls, col_width = 1, 1, False, MIN_WIDTH

    def on_resize(self) -> None:
        self.arrange_panes()

    def _width(self) -> int:
        return (self.content_size.width or self.app.size.width - 2) + self.styles.grid_gutter_vertical

    def arrange_panes(self) -> None:
        n = len(self.children)
        gutter = self.styles.grid_gutter_vertical
        width = self._width()                     # each pane + its gutter
        height = self.content_size.height or 12
        cols, rows, scroll = grid_shape(n, width, height)
        self.cols, self.rows, self.scrolls = cols, rows, scroll
        # scrolling: as many whole panes as fit are in view, sharing the width
        self.col_width = width // max(1, width // MIN_WIDTH) if scroll else max(1, width // cols)
        self.styles.grid_size_columns = cols
        self.styles.grid_size_rows = rows
        self.styles.grid_columns = str(self.col_width - gutter) if scroll else "1fr"
        self.styles.grid_rows = "1fr"
        self.set_class(scroll, "-scroll")

    def in_view(self) -> View:
        n = len(self.children)
        if not self.scrolls:
            return View(tuple(range(n)), n)
        first, last = columns_in_view(self.cols, self.col_width, self.scroll_x, self._width() - 1)
        shown = tuple(i for i in range(n) if first <= i % self.cols <= last)
        return View(shown, n, left=first > 0, right=last < min(n, self.cols) - 1)

    def page(self, step: int) -> None:
        """Scroll ``step`` screens of panes sideways (whole columns)."""
        if not self.scrolls:
            return
        per_screen = max(1, (self._width() - 1) // self.col_width)
        first, _last = columns_in_view(self.cols, self.col_width, self.scroll_x, self._width() - 1)
        target = max(0, min(self.cols - per_screen, first + step * per_screen))
        self.scroll_to(x=target * self.col_width, animate=False, force=True)
