"""The line above the panes: which turn of the conversation this is and its prompt (which leaves the
prompt box on Enter), the system prompt when one is set, and how many panes are off screen."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

from ...render import display_text


def one_line(text: str) -> str:
    return display_text(" ".join(text.split()))


class RunBar(Horizontal):
    """``turn 2 › the prompt …`` on the left, ``◀ panes 3–4 of 11 ▶ …`` on the right."""

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)      # type: ignore[arg-type]
        self.turn_text = ""
        self.view_text = ""

    def compose(self) -> ComposeResult:
        yield Static("", id="run-prompt", markup=False)
        yield Static("", id="pane-info", markup=False)

    def show_turn(self, turn: int, prompt: str, system: str | None = None) -> None:
        """``turn`` 0: no run yet (a new conversation starts with the next Enter)."""
        text = Text(no_wrap=True, overflow="ellipsis")
        if turn:
            text.append(f"turn {turn} ", style="bold")
            text.append("› ", style="bold")
            text.append(one_line(prompt))
        else:
            text.append("new conversation", style="bold")
            if not system:
                text.append(" · F2 sets a system prompt · Ctrl+L past conversations", style="dim")
        if system:
            text.append(f" · system: {one_line(system)}", style="dim italic")
        self.turn_text = text.plain
        self.query_one("#run-prompt", Static).update(text)

    def show_view(self, text: str) -> None:
        self.view_text = text
        info = self.query_one("#pane-info", Static)
        info.update(text)
        info.display = bool(text)
