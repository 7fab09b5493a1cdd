"""The one typed definition of what consumers receive about a race.

A race session turns the engine's events into these messages, numbers them with one run-wide id
sequence (1, 2, 3 ...) and hands each on as a :class:`Frame` (id, SSE event name, provider, JSON
data, encoded once). The server writes frames as SSE, the store keeps them for replay, the
in-process TUI and ``tokenrace run`` read the typed messages, and the remote TUI decodes the
server's SSE back into the same classes with :func:`decode`. ``docs/engine-api.md``'s protocol
section is :func:`markdown` (a test keeps them equal: ``python -m tokenrace.protocol`` prints it).

No I/O and no third-party imports here.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any, Mapping, Union

__all__ = ["ProviderStart", "Delta", "Metrics", "Notice", "ProviderError", "ProviderDone", "RunEnd", "Reset",
           "Message", "Frame", "EVENTS", "event_name", "to_data", "encode", "decode", "dumps", "markdown"]


@dataclass(frozen=True, slots=True)
class ProviderStart:
    """One attempt of one provider's request was sent (a retry sends another); ``t_ms``: when, in ms
    since the run started."""

    provider: str
    model: str = ""
    kind: str = ""
    attempt: int = 1
    t_ms: float | None = None      # when the request was sent, in ms since the run started


@dataclass(frozen=True, slots=True)
class Delta:
    """A piece of the answer (``text``) or of the reasoning (``reasoning``), one of the two per message;
    ``t_ms``: when its bytes arrived, in ms since the run started."""

    provider: str
    text: str = ""
    reasoning: str = ""
    t_ms: float | None = None      # when its bytes arrived, in ms since the run started


@dataclass(frozen=True, slots=True)
class Metrics:
    """Live figures: at most ~4 a second per provider while it streams, about as often while it is silent
    (``elapsed_ms`` moves), and once more when it ends."""

    provider: str
    status: str                    # waiting | streaming | ok | error | truncated | cancelled
    elapsed_ms: float | None = None
    ttft_ms: float | None = None
    tokens: int | None = None
    tokens_per_s: float | None = None
    token_source: str | None = None  # usage (the provider's count) | estimate (ours: show it with "~")


@dataclass(frozen=True, slots=True)
class Notice:
    """Something non-fatal, e.g. "retrying in 1.0 s" or a malformed chunk that was skipped."""

    provider: str
    message: str


@dataclass(frozen=True, slots=True)
class ProviderError:
    """This provider failed; its ``done`` follows, and the other providers go on."""

    provider: str
    message: str
    kind: str = "internal"         # config | connect | timeout | http | stream | protocol | internal
    http_status: int | None = None


@dataclass(frozen=True, slots=True)
class ProviderDone:
    """The provider's final result: ``StreamResult.to_dict()`` (the data is that object itself).

    Exactly one per provider, also for a provider that never started (it ends ``cancelled``)."""

    provider: str
    result: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RunEnd:
    """Every provider is done; the run's ``status`` is done, cancelled or interrupted. Nothing follows."""

    run_id: str                    # sent as "run"
    status: str
    reason: str | None = None      # e.g. "server shutting down"


@dataclass(frozen=True, slots=True)
class Reset:
    """The resume point (``Last-Event-ID``) was unknown: the whole history follows from the start (id 0)."""

    reason: str = ""


Message = Union[ProviderStart, Delta, Metrics, Notice, ProviderError, ProviderDone, RunEnd, Reset]

EVENTS: dict[type, str] = {ProviderStart: "start", Delta: "delta", Metrics: "metrics", Notice: "notice",
                           ProviderError: "error", ProviderDone: "done", RunEnd: "end", Reset: "reset"}


@dataclass(frozen=True, slots=True)
class Frame:
    """One message as it travels: run-wide ``id``, SSE ``event`` name, ``provider`` (None for run-wide
    messages) and the JSON ``data``, encoded once for every consumer."""

    id: int
    event: str
    provider: str | None
    data: str


def event_name(msg: Message) -> str:
    return EVENTS[type(msg)]


_JSON: dict[str, Any] = dict(ensure_ascii=False, separators=(",", ":"))


def dumps(obj: Any) -> str:
    """The protocol's JSON: compact, UTF-8 as is."""
    return json.dumps(obj, **_JSON)


def to_data(msg: Message) -> dict[str, Any]:
    """The JSON object a message is sent as."""
    if isinstance(msg, Delta):
        d: dict[str, Any] = {"provider": msg.provider}
        if msg.reasoning:
            d["reasoning"] = msg.reasoning
        else:
            d["text"] = msg.text
        d["t_ms"] = msg.t_ms
        return d
    if isinstance(msg, ProviderDone):
        return dict(msg.result, provider=msg.provider)
    if isinstance(msg, RunEnd):
        d = {"run": msg.run_id, "status": msg.status}
        if msg.reason:
            d["reason"] = msg.reason
        return d
    return {f.name: getattr(msg, f.name) for f in fields(msg)}


def encode(msg: Message, id: int) -> Frame:
    """The frame of ``msg`` with run-wide ``id``."""
    provider = getattr(msg, "provider", None)
    return Frame(id, EVENTS[type(msg)], provider, dumps(to_data(msg)))


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _int(v: Any, default: int | None = None) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else default


def _str(v: Any) -> str:
    return v if isinstance(v, str) else ("" if v is None else str(v))


def decode(event: str, data: Mapping[str, Any] | str, run_id: str = "") -> Message | None:
    """A received event (name and JSON data, parsed or not) as a message; None for an unknown name.

    Tolerant of missing or mistyped fields (an older or newer server): they get their defaults.
    """
    if isinstance(data, str):
        try:
            parsed = json.loads(data)
        except ValueError:
            return None
        data = parsed if isinstance(parsed, dict) else {}
    p = _str(data.get("provider"))
    if event == "start":
        return ProviderStart(p, _str(data.get("model")), _str(data.get("kind")), _int(data.get("attempt"), 1) or 1,
                             _num(data.get("t_ms")))
    if event == "delta":
        return Delta(p, _str(data.get("text")), _str(data.get("reasoning")), _num(data.get("t_ms")))
    if event == "metrics":
        source = data.get("token_source")
        return Metrics(p, _str(data.get("status")), _num(data.get("elapsed_ms")), _num(data.get("ttft_ms")),
                       _int(data.get("tokens")), _num(data.get("tokens_per_s")),
                       source if isinstance(source, str) else None)
    if event == "notice":
        return Notice(p, _str(data.get("message")))
    if event == "error":
        return ProviderError(p, _str(data.get("message")), _str(data.get("kind")) or "internal",
                             _int(data.get("http_status")))
    if event == "done":
        return ProviderDone(p, dict(data))
    if event == "end":
        reason = data.get("reason")
        return RunEnd(_str(data.get("run")) or run_id, _str(data.get("status")),
                      reason if isinstance(reason, str) else None)
    if event == "reset":
        return Reset(_str(data.get("reason")))
    return None


# ---------------------------------------------------------------- the document

def markdown() -> str:
    """The protocol section of docs/engine-api.md, generated from the classes above."""
    lines = [
        "Both channels (`/api/runs/{id}/events` combined, `/api/runs/{id}/providers/{name}/events` one provider)",
        "carry the same events; ids are one run-wide integer sequence (1, 2, 3 ...), so ids only grow within any",
        "channel and a `Last-Event-ID` from either channel is a resume point. Every message is one SSE event: its",
        "name below, its `id`, and a JSON object as data. Defined in `tokenrace/protocol.py` (dataclasses,",
        "`encode`/`decode`); the server, the store's replay, the TUI (both modes) and `tokenrace run` use it.",
        "",
        "| event | class | data fields | meaning |",
        "|---|---|---|---|",
    ]
    for cls, name in EVENTS.items():
        if cls is ProviderDone:
            shape = "`StreamResult.to_dict()` (has `provider`, `status`)"
        elif cls is Delta:
            shape = "`provider`, `text` *or* `reasoning`, `t_ms`"
        elif cls is RunEnd:
            shape = "`run`, `status`, `reason` (when there is one)"
        else:
            shape = ", ".join(f"`{f.name}`" for f in fields(cls))
        doc = " ".join((cls.__doc__ or "").split()).replace("``", "`")
        lines.append(f"| `{name}` | `{cls.__name__}` | {shape} | {doc} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
