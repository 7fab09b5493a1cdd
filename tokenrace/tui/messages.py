"""What a source tells the TUI: plain dataclasses shaped like the server's SSE protocol.

Both sources (:class:`~tokenrace.tui.client.LocalSource` runs the engine in-process,
:class:`~tokenrace.tui.client.RemoteSource` reads a server's SSE channel) yield exactly these, so
the app and its widgets cannot tell the two modes apart. Figures are never computed from them in
the UI: :class:`Metrics` carries the live figures, :class:`ProviderDone` the final result object.

No Textual (and no I/O) here: the sources and their tests import this module without a UI.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union


@dataclass(frozen=True)
class RunStarted:
    """A run began (or, when watching, was found): its providers are ``{"name","kind","model"}``."""

    run_id: str
    prompt: str
    providers: tuple[dict[str, Any], ...]
    params: dict[str, Any] = field(default_factory=dict)
    replay: bool = False          # True: a finished run read back from history


@dataclass(frozen=True)
class ProviderStart:
    """SSE ``start``: one attempt of one provider's request was sent."""

    provider: str
    model: str = ""
    kind: str = ""
    attempt: int = 1
    t_ms: float | None = None


@dataclass(frozen=True)
class Delta:
    """SSE ``delta``: a piece of the answer (``text``) or of the reasoning (``reasoning``)."""

    provider: str
    text: str = ""
    reasoning: str = ""
    t_ms: float | None = None


@dataclass(frozen=True)
class Metrics:
    """SSE ``metrics``: the live figures (``LiveFigures.to_dict()``)."""

    provider: str
    status: str
    elapsed_ms: float | None = None
    ttft_ms: float | None = None
    tokens: int | None = None
    tokens_per_s: float | None = None


@dataclass(frozen=True)
class Notice:
    """SSE ``notice``: something non-fatal, e.g. "retrying in 1.0 s"."""

    provider: str
    message: str


@dataclass(frozen=True)
class ProviderError:
    """SSE ``error``: this provider failed (its ``ProviderDone`` follows); the others go on."""

    provider: str
    message: str
    kind: str = "internal"
    http_status: int | None = None


@dataclass(frozen=True)
class ProviderDone:
    """SSE ``done``: the provider's final ``StreamResult.to_dict()``."""

    provider: str
    result: dict[str, Any]


@dataclass(frozen=True)
class RunEnd:
    """SSE ``end``: every provider is done."""

    run_id: str
    status: str


@dataclass(frozen=True)
class Reset:
    """SSE ``reset``: the resume point was unknown; the whole history follows from the start."""

    reason: str = ""


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


def message_from_sse(event: str, data: dict[str, Any], run_id: str = "") -> RaceMessage | None:
    """One server SSE event (name and decoded JSON data) as a message; ``None`` for unknown names."""
    p = str(data.get("provider", ""))
    if event == "start":
        return ProviderStart(p, data.get("model") or "", data.get("kind") or "", int(data.get("attempt") or 1),
                             data.get("t_ms"))
    if event == "delta":
        return Delta(p, data.get("text") or "", data.get("reasoning") or "", data.get("t_ms"))
    if event == "metrics":
        return Metrics(p, str(data.get("status", "")), data.get("elapsed_ms"), data.get("ttft_ms"),
                       data.get("tokens"), data.get("tokens_per_s"))
    if event == "notice":
        return Notice(p, str(data.get("message", "")))
    if event == "error":
        return ProviderError(p, str(data.get("message", "")), str(data.get("kind") or "internal"),
                             data.get("http_status"))
    if event == "done":
        return ProviderDone(p, dict(data))
    if event == "end":
        return RunEnd(str(data.get("run") or run_id), str(data.get("status", "")))
    if event == "reset":
        return Reset(str(data.get("reason", "")))
    return None


def message_to_sse(msg: RaceMessage) -> tuple[str, dict[str, Any]] | None:
    """Inverse of :func:`message_from_sse` for the protocol events (local mode stores its runs so)."""
    if isinstance(msg, ProviderStart):
        return "start", {"provider": msg.provider, "model": msg.model, "kind": msg.kind, "attempt": msg.attempt,
                         "t_ms": msg.t_ms}
    if isinstance(msg, Delta):
        d: dict[str, Any] = {"provider": msg.provider}
        if msg.reasoning:
            d["reasoning"] = msg.reasoning
        else:
            d["text"] = msg.text
        d["t_ms"] = msg.t_ms
        return "delta", d
    if isinstance(msg, Metrics):
        return "metrics", {"provider": msg.provider, "status": msg.status, "elapsed_ms": msg.elapsed_ms,
                           "ttft_ms": msg.ttft_ms, "tokens": msg.tokens, "tokens_per_s": msg.tokens_per_s}
    if isinstance(msg, Notice):
        return "notice", {"provider": msg.provider, "message": msg.message}
    if isinstance(msg, ProviderError):
        return "error", {"provider": msg.provider, "message": msg.message, "kind": msg.kind,
                         "http_status": msg.http_status}
    if isinstance(msg, ProviderDone):
        return "done", dict(msg.result)
    if isinstance(msg, RunEnd):
        return "end", {"run": msg.run_id, "status": msg.status}
    return None


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
