"""Past conversations: from the server (remote mode) or the local database; Enter opens one.

One row per conversation (a run with the runs it follows up), newest first; a branch (a turn
continued twice) is a conversation of its own. The turns of the highlighted row are listed below
the table. The screen does no I/O: the app loads the runs and opens the chosen conversation.
"""
from __future__ import annotations

import time
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.coordinate import Coordinate
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from ...render import STATUS_STYLE, display_text
from ..conversation import ThreadRow, threads


def _when(created: Any) -> str:
    try:
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(float(created)))
    except (TypeError, ValueError):
        return str(created or "")


def _names(providers: Any) -> str:
    names = [p.get("name", "?") if isinstance(p, dict) else str(p) for p in providers or ()]
    return ", ".join(names)


def _line(text: Any) -> str:
    return display_text(" ".join(str(text or "").split()))


class HistoryScreen(Screen[str | None]):
    """A table of conversations; dismisses with the id of the chosen one's last run (None: back)."""

    BINDINGS = [
        Binding("escape,q", "back", "Back"),
        Binding("enter", "open", "Open", show=True),
        Binding("r", "refresh", "Refresh"),
    ]

    class Refresh(Message):
        """Ask the app to load the list again (the screen does no I/O)."""

    def __init__(self, runs: list[dict[str, Any]], where: str) -> None:
        super().__init__(id="history")
        self.runs = runs
        self.rows: list[ThreadRow] = []
        self.where = where

    def compose(self) -> ComposeResult:
        yield Static(f"Conversations · {self.where} · Enter opens one", id="history-title", markup=False)
        yield DataTable(id="history-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="history-turns", markup=False)
        yield Static("", id="history-empty", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key, label in (("when", "When"), ("turns", "Turns"), ("status", "Status"), ("prompt", "Last prompt"),
                           ("providers", "Providers"), ("source", "From")):
            table.add_column(label, key=key)
        self.set_runs(self.runs)
        table.focus()

    def set_runs(self, runs: list[dict[str, Any]]) -> None:
        self.runs = runs
        self.rows = threads(runs)
        table = self.query_one(DataTable)
        table.clear()
        for row in self.rows:
            last = row.last
            status = str(last.get("status", ""))
            style = STATUS_STYLE.get({"done": "ok", "running": "streaming"}.get(status, status), "")
            table.add_row(_when(last.get("created")), Text(row.turns, justify="right"), Text(status, style=style),
                          _line(last.get("prompt"))[:60], _names(last.get("providers"))[:40],
                          str(last.get("source", "")), key=str(last.get("id", "")))
        empty = self.query_one("#history-empty", Static)
        empty.update("" if runs else "No runs yet. Run a prompt first (Esc to go back).")
        empty.display = not runs
        self._show_turns(0)

    def _show_turns(self, index: int) -> None:
        """The highlighted conversation's prompts, first turn first."""
        box = self.query_one("#history-turns", Static)
        if not 0 <= index < len(self.rows):
            box.display = False
            return
        row = self.rows[index]
        lines = [] if row.complete else ["(earlier turns are older than this list)"]
        lines += [f"{i if row.complete else '·'} › {_line(r.get('prompt'))}" for i, r in enumerate(row.runs, 1)]
        box.update("\n".join(lines[-8:]))
        box.display = True

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._show_turns(event.cursor_row)

    def action_back(self) -> None:
        self.dismiss(None)

    def action_open(self) -> None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return
        row_key = table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key
        self.dismiss(str(row_key.value))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.dismiss(str(event.row_key.value))

    def action_refresh(self) -> None:
        self.post_message(self.Refresh())
