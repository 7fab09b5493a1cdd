"""The prompt: Enter runs it, Shift+Enter (or Ctrl+J, Alt+Enter) starts a new line, Up/Down walk history."""
from __future__ import annotations

from typing import Any

from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widgets import TextArea

NEWLINE_KEYS = frozenset({"shift+enter", "ctrl+j", "alt+enter", "ctrl+enter"})


class PromptInput(TextArea):
    """A multi-line prompt box with a history of what was run (newest last)."""

    BINDINGS = [
        Binding("enter", "submit", "Run", show=True, priority=False),
    ]

    class Submitted(Message):
        """The user asked to run ``prompt``."""

        def __init__(self, prompt: str) -> None:
            super().__init__()
            self.prompt = prompt

    def __init__(self, *, prompts: list[str] | None = None, allow_empty: bool = False, **kw: Any) -> None:
        kw.setdefault("placeholder", "Type a prompt — Enter runs it, Shift+Enter or Ctrl+J adds a line")
        kw.setdefault("soft_wrap", True)
        kw.setdefault("show_line_numbers", False)
        kw.setdefault("compact", True)
        super().__init__(**kw)
        self.prompts: list[str] = list(prompts or [])
        self.allow_empty = allow_empty       # Enter on an empty box submits "" (the system prompt: clear it)
        self._index: int | None = None      # position in history while browsing
        self._draft = ""                     # what was typed before browsing began

    def remember(self, prompt: str) -> None:
        if prompt and (not self.prompts or self.prompts[-1] != prompt):
            self.prompts.append(prompt)
        self._index = None

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            self.action_submit()
            return
        if event.key in NEWLINE_KEYS:
            event.stop()
            event.prevent_default()
            self.insert("\n")
            return
        if event.key == "up" and self.cursor_location[0] == 0 and self.prompts:
            event.stop()
            event.prevent_default()
            self._browse(-1)
            return
        if event.key == "down" and self._index is not None and self.cursor_location[0] == self.document.line_count - 1:
            event.stop()
            event.prevent_default()
            self._browse(+1)
            return
        await super()._on_key(event)

    def _browse(self, step: int) -> None:
        if self._index is None:
            if step > 0:
                return
            self._draft = self.text
            self._index = len(self.prompts)
        self._index = max(0, self._index + step)
        if self._index >= len(self.prompts):
            self._index = None
            self.load_text(self._draft)
        else:
            self.load_text(self.prompts[self._index])
        self.move_cursor(self.document.end)

    def action_submit(self) -> None:
        prompt = self.text.strip()
        if prompt or self.allow_empty:
            self.post_message(self.Submitted(prompt))
