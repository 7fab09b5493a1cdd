"""The system prompt: sent with every run from now on (a follow-up without one keeps its conversation's)."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from ..widgets.prompt_input import PromptInput

HINT = ("Sent with every run from now on. Enter saves, Shift+Enter or Ctrl+J adds a line, Esc keeps the old one. "
        "Saved empty: none for a new conversation (a follow-up keeps the one its conversation had).")


class SystemPromptScreen(ModalScreen[str | None]):
    """Dismisses with the new system prompt ("" clears it), or None (unchanged)."""

    BINDINGS = [Binding("escape", "close", "Keep")]

    def __init__(self, current: str) -> None:
        super().__init__(id="system-prompt")
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="system-box"):
            yield Static("System prompt", id="system-title")
            yield PromptInput(id="system-input", text=self.current, allow_empty=True,
                              placeholder="e.g. You are a terse assistant. Answer in one paragraph.")
            yield Static(HINT, id="system-hint", markup=False)

    def on_mount(self) -> None:
        box = self.query_one(PromptInput)
        box.focus()
        box.move_cursor(box.document.end)

    def on_prompt_input_submitted(self, event: PromptInput.Submitted) -> None:
        event.stop()
        self.dismiss(event.prompt)

    def action_close(self) -> None:
        self.dismiss(None)
