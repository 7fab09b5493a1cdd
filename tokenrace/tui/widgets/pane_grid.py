"""The provider panes, side by side: a grid when there is room, else one row that scrolls sideways."""
from __future__ import annotations

import math

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


class PaneGrid(ScrollableContainer, can_focus=False):
    """Lays its panes out with :func:`grid_shape` whenever its size or its panes change."""

    def on_resize(self) -> None:
        self.arrange_panes()

    def arrange_panes(self) -> None:
        n = len(self.children)
        gutter = self.styles.grid_gutter_vertical
        width = (self.content_size.width or self.app.size.width - 2) + gutter   # each pane + its gutter
        height = self.content_size.height or 12
        cols, rows, scroll = grid_shape(n, width, height)
        self.styles.grid_size_columns = cols
        self.styles.grid_size_rows = rows
        # scrolling: as many whole panes as fit are in view, sharing the width
        self.styles.grid_columns = str(width // max(1, width // MIN_WIDTH) - gutter) if scroll else "1fr"
        self.styles.grid_rows = "1fr"
        self.set_class(scroll, "-scroll")
