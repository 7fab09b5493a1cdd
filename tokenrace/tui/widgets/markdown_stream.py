"""Streaming into a Markdown widget: fragments appended in order, batched while an append runs.

Textual's ``MarkdownStream`` does the batching, but its ``stop()`` cancels the task mid-append: the
shielded append goes on while the remaining fragments are appended beside it, and about one run in
ten the last paragraph was drawn without its end (seen at 80×24: the source was whole, the screen
was not). Here :meth:`AnswerStream.close` lets the running append finish, then appends what is left.
"""
from __future__ import annotations

import asyncio

from textual.widgets import Markdown


class AnswerStream:
    """Appends to ``markdown`` one batch at a time; ``close()`` returns when everything is in."""

    def __init__(self, markdown: Markdown) -> None:
        self.markdown = markdown
        self._pending: list[str] = []
        self._wake = asyncio.Event()
        self._closing = False
        self._busy = False
        self._task = asyncio.create_task(self._run(), name="tokenrace-markdown-stream")

    def write(self, fragment: str) -> None:
        if fragment:
            self._pending.append(fragment)
            self._wake.set()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._pending:
                text = "".join(self._pending)
                self._pending.clear()
                self._busy = True
                try:
                    await self.markdown.append(text)
                finally:
                    self._busy = False
            if self._closing and not self._pending:
                return

    @property
    def idle(self) -> bool:
        """Everything written so far is in the document."""
        return not self._pending and not self._busy

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        await self._task
