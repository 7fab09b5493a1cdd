"""Past runs: from the server (remote mode) or the local database; Enter opens one."""
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

from ...render import STATUS_STYLE


def _when(created: Any) -> str:
    try:
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(float(created)))
    except (TypeError, ValueError):
        return str(created or "")


def _names(providers: Any) -> str:
    names = [p.get("name", "?") if isinstance(p, dict) else str(p) for p in providers or ()]
    return ", ".join(names)


class HistoryScreen(Screen[str | None]):
    """A table of runs, newest first; dismisses with the chosen run id (None: back)."""

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
        self.where = where

    def compose(self) -> ComposeResult:
        yield Static(f"Past runs · {self.where}", id="history-title", markup=False)
        yield DataTable(id="history-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="history-empty", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key, label in (("when", "When"), ("id", "Run"), ("status", "Status"), ("source", "From"),
                           ("providers", "Providers"), ("prompt", "Prompt")):
            table.add_column(label, key=key)
        self.set_runs(self.runs)
        table.focus()

    def set_runs(self, runs: list[dict[str, Any]]) -> None:
        self.runs = runs
        table = self.query_one(DataTable)
        table.clear()
        for r in runs:
            status = str(r.get("status", ""))
            prompt = " ".join(str(r.get("prompt", "")).split())
            table.add_row(_when(r.get("created")), str(r.get("id", "")), Text(status, style=STATUS_STYLE.get(
                {"done": "ok", "running": "streaming"}.get(status, status), "")), str(r.get("source", "")),
                _names(r.get("providers"))[:40], prompt[:80], key=str(r.get("id", "")))
        empty = self.query_one("#history-empty", Static)
        empty.update("" if runs else "No runs yet. Run a prompt first (Esc to go back).")
        empty.display = not runs

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
