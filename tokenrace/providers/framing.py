"""The three ways a response body is cut into wire events: SSE, NDJSON, AWS event-stream frames.

Each :class:`Frames` gives the read loop one interface: ``feed(chunk)`` returns the items it
completed, ``progress`` counts what counts as life for the idle timeout (complete items, and SSE
comment lines: heartbeats), ``close()`` the items a clean end completes and whether a partial item
was left (a truncated frame), and ``parse(item)`` the adapter's parts for one item, upstream text
redacted first (before an adapter could cut an error message short).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Iterable

from ..eventstream import EventStreamDecoder
from ..secrets import Redactor
from ..sse import NDJSONDecoder, SSEDecoder, SSEEvent
from .base import Adapter
from .parts import Part


class Frames:
    progress = 0

    def feed(self, chunk: bytes) -> list[Any]:
        raise NotImplementedError

    def close(self) -> tuple[list[Any], bool]:
        raise NotImplementedError

    def parse(self, item: Any) -> Iterable[Part]:
        raise NotImplementedError


class SSEFrames(Frames):
    def __init__(self, adapter: Adapter, red: Redactor | None) -> None:
        self.dec = SSEDecoder()
        self.adapter, self.red = adapter, red
        self._events = 0

    @property
    def progress(self) -> int:           # type: ignore[override]
        return self._events + self.dec.comments

    def feed(self, chunk: bytes) -> list[Any]:
        events = self.dec.feed(chunk)
        self._events += len(events)
        return events

    def close(self) -> tuple[list[Any], bool]:
        partial = self.dec.has_partial
        self.dec.close()                 # an event without its blank line is discarded
        return [], partial

    def parse(self, item: SSEEvent) -> Iterable[Part]:
        if self.red is not None:
            data = self.red.text(item.data)
            if data is not item.data:
                item = item._replace(data=data)
        return self.adapter.parse_event(item)


class NDJSONFrames(Frames):
    def __init__(self, adapter: Adapter, red: Redactor | None) -> None:
        self.dec = NDJSONDecoder()
        self.adapter, self.red = adapter, red
        self.progress = 0

    def feed(self, chunk: bytes) -> list[Any]:
        lines = self.dec.feed(chunk)
        self.progress += len(lines)
        return lines

    def close(self) -> tuple[list[Any], bool]:
        return self.dec.close(), False   # a last line without its newline still counts

    def parse(self, item: str) -> Iterable[Part]:
        return self.adapter.parse_line(self.red.text(item) if self.red is not None else item)


class EventStreamFrames(Frames):
    def __init__(self, adapter: Adapter, red: Redactor | None) -> None:
        self.dec = EventStreamDecoder()
        self.adapter, self.red = adapter, red
        self.progress = 0

    def feed(self, chunk: bytes) -> list[Any]:
        msgs = self.dec.feed(chunk)
        self.progress += len(msgs)
        return msgs

    def close(self) -> tuple[list[Any], bool]:
        return [], self.dec.close() > 0  # bytes of an unfinished frame: truncated

    def parse(self, item: Any) -> Iterable[Part]:
        if self.red is not None:
            text = item.payload.decode("utf-8", "replace")
            clean = self.red.text(text)
            if clean is not text:
                item = dataclasses.replace(item, payload=clean.encode())
        return self.adapter.parse_message(item)


def frames_for(adapter: Adapter, red: Redactor | None) -> Frames:
    kind = {"sse": SSEFrames, "ndjson": NDJSONFrames, "eventstream": EventStreamFrames}[adapter.framing]
    return kind(adapter, red)
