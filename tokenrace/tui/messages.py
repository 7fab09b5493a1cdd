"""What a source tells the TUI: the race protocol's messages, plus what only a UI needs.

Both sources (:class:`~tokenrace.tui.local.LocalSource` runs a race session in-process,
:class:`~tokenrace.tui.remote.RemoteSource` reads a server's SSE channel) yield the dataclasses of
:mod:`tokenrace.protocol` (``ProviderStart``, ``Delta``, ``Metrics``, ``Notice``, ``ProviderError``,
``ProviderDone``, ``RunEnd``, ``Reset``) and the three below, so the app and its widgets cannot tell
the two modes apart. Figures are never computed from them in the UI: ``Metrics`` carries the live
figures, ``ProviderDone`` the final result object.

No Textual (and no I/O) here: the sources and their tests import this module without a UI.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union

from ..protocol import Delta, Metrics, Notice, ProviderDone, ProviderError, ProviderStart, Reset, RunEnd
from .conversation import Turn

__all__ = ["RunStarted", "Connection", "SourceError", "RaceMessage", "coalesce", "ProviderStart", "Delta",
           "Metrics", "Notice", "ProviderError", "ProviderDone", "RunEnd", "Reset"]


@dataclass(frozen=True)
class RunStarted:
    """A run began (or, when watching, was found): its providers are ``{"name","kind","model"}``."""

    run_id: str
    prompt: str
    providers: tuple[dict[str, Any], ...]
    params: dict[str, Any] = field(default_factory=dict)
    replay: bool = False          # True: a finished run read back from history
    parent: str | None = None     # the run it follows up (the previous turn of its conversation)
    turns: tuple[Turn, ...] | None = None   # the conversation's earlier turns, when read back with it


@dataclass(frozen=True)
class Connection:
    """Remote mode only: the event stream dropped (``reconnecting``) or came back (``connected``)."""

    state: str                    # connected | reconnecting
    attempt: int = 0
    delay_s: float = 0.0
    detail: str = ""


@dataclass(frozen=True)
class SourceError:
    """The run could not be started or followed at all (bad URL, server gone, config error)."""

    message: str


RaceMessage = Union[RunStarted, ProviderStart, Delta, Metrics, Notice, ProviderError, ProviderDone, RunEnd,
                    Reset, Connection, SourceError]


def coalesce(messages: list[RaceMessage]) -> list[RaceMessage]:
    """Merge each provider's consecutive deltas of one kind (answer or reasoning) in a batch.

    Order is kept within each provider (a provider's ``done`` still follows all its text); the
    interleaving between providers, which nothing depends on, is not. Run-wide messages stay where
    they are relative to everything before and after them. Fewer, larger deltas mean fewer widget
    updates per second without changing what is shown.
    """
    out: list[RaceMessage] = []
    groups: dict[str, list[RaceMessage]] = {}

    def flush() -> None:
        for group in groups.values():
            out.extend(group)
        groups.clear()

    for m in messages:
        name = getattr(m, "provider", None)
        if not name:
            flush()
            out.append(m)
            continue
        group = groups.setdefault(name, [])
        prev = group[-1] if group else None
        if isinstance(m, Delta) and isinstance(prev, Delta) and bool(prev.text) == bool(m.text) \
                and bool(prev.reasoning) == bool(m.reasoning):
            group[-1] = Delta(name, prev.text + m.text, prev.reasoning + m.reasoning, prev.t_ms)
        else:
            group.append(m)
    flush()
    return out
