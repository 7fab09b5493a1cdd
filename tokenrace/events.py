"""The normalized stream every provider adapter produces.

One stream (one provider answering one prompt) is an ordered sequence of events:

    Started -> Headers -> (TextDelta | ReasoningDelta | Usage | Notice)* -> Finished | Failed

``Failed`` may also come straight after ``Started`` (HTTP error, connect error,
missing API key). Exactly one terminal event (``Finished`` or ``Failed``) ends a
stream. ``t_ns`` is ``time.perf_counter_ns()`` taken when the bytes arrived,
before any parsing, so consumers can never shift a measurement.

No I/O and no third-party imports here: every layer may import this module.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal, Union

Status = Literal["ok", "error", "truncated", "cancelled"]
FinishStatus = Literal["ok", "truncated", "cancelled"]


@dataclass(frozen=True, slots=True)
class Started:
    """The request was written to the connection (``t_ns`` is ``t_sent``)."""

    provider: str
    seq: int
    t_ns: int
    model: str
    t_queued_ns: int
    connect_ns: int = 0          # connection set-up time; 0 when a pooled connection was reused
    reused: bool = False
    attempt: int = 1             # 1 + number of retries before this attempt
    t_send_start_ns: int = 0     # when sending began (after the connection was ready)


@dataclass(frozen=True, slots=True)
class Headers:
    """Response headers arrived (``t_ns`` is ``t_headers``)."""

    provider: str
    seq: int
    t_ns: int
    status: int
    content_type: str = ""
    request_id: str = ""


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the answer."""

    provider: str
    seq: int
    t_ns: int
    text: str


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """A piece of the model's reasoning ("thinking"), shown apart from the answer."""

    provider: str
    seq: int
    t_ns: int
    text: str


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts reported by the provider; later reports replace earlier ones field by field."""

    provider: str
    seq: int
    t_ns: int
    input_tokens: int | None = None
    output_tokens: int | None = None
    reasoning_tokens: int | None = None
    reasoning_included: bool = True   # False where output_tokens excludes reasoning (Gemini reports thoughts apart)
    cached_input_tokens: int | None = None   # of input_tokens, read from the provider's prompt cache


@dataclass(frozen=True, slots=True)
class Finished:
    """The stream ended without an error.

    ``status`` is ``ok`` when the provider sent its terminal event, ``truncated``
    when the connection closed before it, ``cancelled`` when we stopped it.
    """

    provider: str
    seq: int
    t_ns: int
    status: FinishStatus = "ok"
    reason: str | None = None    # the provider's finish reason: stop, length, end_turn, STOP, ...


@dataclass(frozen=True, slots=True)
class Notice:
    """Something worth telling that does not end the stream (e.g. a malformed chunk was skipped)."""

    provider: str
    seq: int
    t_ns: int
    message: str


ErrorKind = Literal[
    "config", "connect", "timeout", "http", "stream", "protocol", "internal",
]


@dataclass(frozen=True, slots=True)
class Failed:
    """The stream failed; ``message`` is for people and names the provider."""

    provider: str
    seq: int
    t_ns: int
    message: str
    kind: ErrorKind = "internal"
    http_status: int | None = None
    retry_after_s: float | None = None
    attempt: int = 0             # the attempt that failed (0: no request was sent, e.g. a config error)


StreamEvent = Union[Started, Headers, TextDelta, ReasoningDelta, Usage, Notice, Finished, Failed]

EVENT_NAMES: dict[type, str] = {
    Started: "start",
    Headers: "headers",
    TextDelta: "delta",
    ReasoningDelta: "delta",
    Usage: "usage",
    Notice: "notice",
    Finished: "done",
    Failed: "error",
}


def is_terminal(event: StreamEvent) -> bool:
    return isinstance(event, (Finished, Failed))


def event_to_dict(event: StreamEvent) -> dict[str, Any]:
    """A JSON-ready dict with a ``type`` key (the class name, lower case)."""
    d = asdict(event)
    d["type"] = type(event).__name__.lower()
    return d


_BY_TYPE = {cls.__name__.lower(): cls for cls in (Started, Headers, TextDelta, ReasoningDelta, Usage, Notice, Finished, Failed)}


def event_from_dict(d: dict[str, Any]) -> StreamEvent:
    """Inverse of :func:`event_to_dict` (used to replay stored event logs)."""
    d = dict(d)
    cls = _BY_TYPE[d.pop("type")]
    return cls(**d)
