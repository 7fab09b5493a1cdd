"""The one way a stream's events leave the adapter layer: numbered, timestamped and redacted.

Every string that came from upstream (answer text, reasoning, error and notice messages, request
ids) passes the redactor here, before any consumer sees it; answer and reasoning text each get a
:class:`~tokenrace.secrets.StreamRedactor`, so a key split over several deltas is caught too.
"""
from __future__ import annotations

import time
from typing import Callable

from ..events import (
    ErrorKind,
    Failed,
    Finished,
    FinishStatus,
    Headers,
    Notice,
    ReasoningDelta,
    Started,
    StreamEvent,
    TextDelta,
    Usage,
)
from ..secrets import Redactor, StreamRedactor

EventSink = Callable[[StreamEvent], None]
now_ns = time.perf_counter_ns


class Emitter:
    """Stamps provider name and sequence number onto each event, redacts it, and hands it on."""

    __slots__ = ("name", "sink", "seq", "red", "_text", "_reasoning", "attempt")

    def __init__(self, name: str, sink: EventSink, redactor: Redactor | None = None) -> None:
        self.name, self.sink, self.seq = name, sink, 0
        self.red = redactor if redactor is not None else Redactor()
        self._text: StreamRedactor = self.red.stream()
        self._reasoning: StreamRedactor = self.red.stream()
        self.attempt = 0             # the attempt under way (0: no request sent yet)

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    def clean(self, text: str) -> str:
        """Upstream text with every secret removed (before it is cut short or put in a message)."""
        return self.red.text(text)

    def text(self, t_ns: int, text: str) -> None:
        self.sink(TextDelta(self.name, self._next(), t_ns, self._text.text(text)))

    def reasoning(self, t_ns: int, text: str) -> None:
        self.sink(ReasoningDelta(self.name, self._next(), t_ns, self._reasoning.text(text)))

    def usage(self, t_ns: int, input_tokens: int | None, output_tokens: int | None,
              reasoning_tokens: int | None, reasoning_included: bool, cached_input_tokens: int | None) -> None:
        self.sink(Usage(self.name, self._next(), t_ns, _int(input_tokens), _int(output_tokens),
                        _int(reasoning_tokens), reasoning_included, _int(cached_input_tokens)))

    def notice(self, message: str, t_ns: int | None = None) -> None:
        self.sink(Notice(self.name, self._next(), now_ns() if t_ns is None else t_ns, self.red.text(message)))

    def started(self, t_ns: int, *, model: str, t_queued_ns: int, connect_ns: int, reused: bool,
                attempt: int, t_send_start_ns: int) -> None:
        self.attempt = attempt
        self.sink(Started(self.name, self._next(), t_ns, model, t_queued_ns, connect_ns, reused, attempt,
                          t_send_start_ns))

    def headers(self, t_ns: int, status: int, content_type: str, request_id: str) -> None:
        self.sink(Headers(self.name, self._next(), t_ns, status, content_type, self.red.text(request_id)))

    def finished(self, t_ns: int, status: FinishStatus, reason: str | None) -> None:
        self.sink(Finished(self.name, self._next(), t_ns, status, reason))

    def fail(self, message: str, kind: ErrorKind, *, t_ns: int | None = None, http_status: int | None = None,
             retry_after_s: float | None = None) -> None:
        """The stream failed: ``message`` (without the provider name) is for people."""
        self.sink(Failed(self.name, self._next(), now_ns() if t_ns is None else t_ns,
                         self.red.text(f"{self.name}: {message}"), kind, http_status, retry_after_s, self.attempt))


def _int(v: object) -> int | None:
    """A token count from a provider's JSON: ints as they are, anything else (strings, floats) dropped."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return None
