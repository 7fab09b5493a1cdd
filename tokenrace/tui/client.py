"""Where the TUI's messages come from: the engine in-process, or a tokenrace server over SSE.

Two sources with one interface (:class:`Source`); both yield the dataclasses of
:mod:`tokenrace.tui.messages`, shaped like the server's SSE protocol (docs/engine-api.md), so the
app and its widgets cannot tell the modes apart:

* :class:`~tokenrace.tui.local.LocalSource` runs a :class:`~tokenrace.session.RaceSession` in this
  process (on an event loop of its own), which records the run in the local ``RunStore``.
* :class:`~tokenrace.tui.remote.RemoteSource` creates runs through the server's API and follows
  ``/api/runs/{id}/events`` with our ``SSEDecoder``, reconnecting with ``Last-Event-ID``; figures
  are the server's ``metrics`` events and ``done`` results.

Both take a ``parent`` (a follow-up in that run's conversation; the engine gives each provider its
own history) and read a conversation back with ``thread(run_id)``.

No Textual here, and never ``tokenrace.server``: the app consumes these iterators in a worker.
"""
from __future__ import annotations

from typing import Any, AsyncGenerator, Protocol

from ..engine_thread import EngineThread
from ..session import new_run_id
from .local import LocalSource
from .messages import RaceMessage
from .remote import RemoteError, RemoteSource

__all__ = ["EngineThread", "LocalSource", "RemoteError", "RemoteSource", "Source", "new_run_id"]


class Source(Protocol):
    """What the app needs from a source of runs."""

    mode: str                     # local | remote

    @property
    def label(self) -> str: ...
    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def providers(self) -> list[dict[str, Any]]: ...
    def run(self, prompt: str, providers: list[str] | None = None, params: dict[str, Any] | None = None,
            parent: str | None = None) -> AsyncGenerator[RaceMessage, None]: ...
    async def thread(self, run_id: str) -> list[dict[str, Any]]: ...
    async def cancel(self) -> None: ...
    async def list_runs(self, limit: int = 50) -> list[dict[str, Any]]: ...
    def open_run(self, run_id: str) -> AsyncGenerator[RaceMessage, None]: ...
