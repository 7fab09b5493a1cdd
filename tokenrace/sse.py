"""Reading ``text/event-stream`` without I/O (writing: sse_write; NDJSON: sse_lines).

WHATWG rules as in docs/sse-parsing.md. ``SSEDecoder`` has two paths that give
identical results for every input (tests/test_sse_fast.py checks after every read):
the general path (sse_lines.LineSplitter + ``_process``), line by line, for
anything; and the fast path, taken whenever the general path holds nothing: it
keeps the raw bytes of the event being received (a read without a line end costs
one append) and, when a read completes events, cuts them at the last blank line,
decodes them once and splits them in C (``data:`` runs need no per-line Python;
``event:``/``id:`` blocks one ``partition`` each; other blocks go to ``_process``).
A lone CR, or a partial event with a comment or retry line (they take effect
before the event ends), goes to the general path, which hands back at the next
blank line. Stdlib only.
"""
from __future__ import annotations

from itertools import repeat
from typing import Callable, NamedTuple, cast

from .sse_lines import DEFAULT_MAX_LINE_CHARS, LineSplitter, NDJSONDecoder
from .sse_write import encode_comment, encode_event

__all__ = [
    "SSEEvent",
    "SSEDecoder",
    "NDJSONDecoder",
    "encode_event",
    "encode_comment",
    "DEFAULT_MAX_LINE_CHARS",
]

# Complete lines of a partial event are kept raw only up to this size (re-joining
# them per read would be quadratic); past it the general path takes over.
_HOLD = 4096


class SSEEvent(NamedTuple):
    """One dispatched event (immutable). A NamedTuple, not a frozen dataclass: made with
    ``tuple.__new__`` in C it costs ~4x less, and creation is the parser's main cost."""

    data: str = ""
    event: str = "message"
    id: str = ""              # the last-event-id buffer at dispatch time
    retry: int | None = None  # set when this event's block carried a valid retry field


# SSEEvent(data, event, id, retry) without the Python-level __new__ of a NamedTuple.
_make = cast(Callable[[type[SSEEvent], tuple[str, str, str, "int | None"]], SSEEvent], tuple.__new__)


def _decode(buf: bytes, start: int, stop: int) -> str:
    """``buf[start:stop]`` decoded; a long range straight from the buffer, without a copy."""
    if stop - start > 2048:
        return str(memoryview(buf)[start:stop], "utf-8", "replace")
    return buf[start:stop].decode("utf-8", "replace")


class SSEDecoder(LineSplitter):
    """Incremental ``text/event-stream`` decoder: feed bytes, get complete events."""

    __slots__ = ("_data", "_event", "_last_id", "_retry", "_other", "_reconnect", "_resume_id",
                 "_raw", "_rawlen", "_general", "_comments", "_small")

    _KIND = "event-stream"

    def __init__(self, max_line_chars: int = DEFAULT_MAX_LINE_CHARS) -> None:
        super().__init__(max_line_chars)
        self._data: list[str] = []   # data buffer: one item per data line
        self._event = ""             # event type buffer
        self._last_id = ""           # last event id buffer (survives dispatch)
        self._resume_id = ""         # the buffer as of the last dispatch: EventSource's "last event ID string"
        self._retry: int | None = None  # valid retry seen in the current block
        self._other = False          # a non-data field line seen in the current block
                                     # (so _event and _retry are set only if _other is)
        self._reconnect: int | None = None  # last valid retry of the whole stream
        self._comments = 0           # comment lines completed
        # Fast path: _raw (if _rawlen) holds the raw bytes of the event being received;
        # its complete lines hold no comment, retry or blank line, so parsing them when
        # the event ends changes nothing visible. While _general is true the general
        # path holds something (or the stream starts: BOM) and takes every read.
        self._raw: list[bytes] = []
        self._rawlen = 0
        self._general = True
        self._small = min(2048, max_line_chars)   # a read this long holds no line over the cap

    @property
    def last_event_id(self) -> str:
        """What a reconnect sends as ``Last-Event-ID``: the id as of the last dispatch
        (blank line), so a connection cut mid-event resumes before that event (WHATWG)."""
        return self._resume_id

    @property
    def retry(self) -> int | None:
        """The stream's last valid ``retry`` (reconnection time, ms), also from a block
        without data (how servers usually send it)."""
        return self._reconnect

    @property
    def comments(self) -> int:
        """Comment lines (``: ping`` heartbeats...) completed so far, on any path; kept
        across ``close()``. A comment line counts when its line ends."""
        return self._comments

    @property
    def has_partial(self) -> bool:
        """True when bytes or fields of an event that has not ended are pending."""
        return bool(self._rawlen or self._pieces or self._data or self._other or self._undecoded)

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Decode ``chunk``; return the events it completed (possibly none)."""
        if self._general:
            return self._feed_from_general(chunk)
        # (Byte values, not b"\n": bytes.__contains__ tries an int first, and for a
        # bytes argument raises, formats and clears a TypeError before searching.)
        if 10 not in chunk and 13 not in chunk:
            # No line ends: keep the bytes (most small reads end here).
            if not chunk:
                return []
            self._raw.append(chunk)
            n = self._rawlen = self._rawlen + len(chunk)
            if n > self._max:   # bytes >= characters: only now can a line be too long
                return self._to_general([])
            return []
        n = self._rawlen
        if not n and chunk[:6] == b"data: " and len(chunk) <= self._small:
            # Maybe exactly one "data: D" event (how servers flush), nothing kept.
            if chunk[-2:] == b"\n\n":
                data = chunk[6:-2]
            elif chunk[-4:] == b"\r\n\r\n":
                data = chunk[6:-4]
            else:
                data = b"\n"
            if 10 not in data and 13 not in data:
                return [_make(SSEEvent, (data.decode("utf-8", "replace"), "message",
                                         self._last_id, None))]
        raw = self._raw
        if n:
            raw.append(chunk)
            buf = b"".join(raw)
            self._rawlen = 0
        else:
            buf = chunk
        raw.clear()
        events: list[SSEEvent] = []
        if 13 in chunk:
            return self._feed_cr(buf, len(chunk), events)
        if len(buf) <= 4096:             # (METH_O: no argument parsing; small copies)
            head, sep, tail = buf.rpartition(b"\n\n")
            cut = len(head) + 2 if sep else 0
        else:                            # the kept bytes hold no blank line: search the rest
            cut = buf.rfind(b"\n\n", n - 1 if n else 0) + 2
            tail = b""
        if cut > 1:
            self._span(buf, cut, events)
            if cut == len(buf):
                return events
            buf = tail or buf[cut:]
            if 10 not in buf and len(buf) <= self._max:   # the start of the next event's first line
                raw.append(buf)
                self._rawlen = len(buf)
                return events
        return self._keep(buf, events)

    def _feed_cr(self, buf: bytes, new: int, events: list[SSEEvent]) -> list[SSEEvent]:
        """Fast path for bytes holding CRs (the last ``new`` bytes arrived now): CRLF
        becomes LF; a lone CR goes to the general path."""
        if buf[:6] == b"data: ":
            # CRLF "data: D" events (Gemini): split on the bytes, decode event by event
            # (no bytes.replace pass, and one emoji widens one event, not the span).
            cut = buf.rfind(b"\r\n\r\n", max(0, len(buf) - new - 3)) + 4
            if 3 < cut <= self._max:     # (no line over the cap in there)
                datas = buf[6:cut - 4].split(b"\r\n\r\ndata: ")
                joined = datas[0] if len(datas) == 1 else b"".join(datas)
                if 10 not in joined and 13 not in joined:
                    last_id = self._resume_id = self._last_id
                    events += [_make(SSEEvent, (data.decode("utf-8", "replace"), "message",
                                                last_id, None)) for data in datas]
                    if cut == len(buf):
                        return events
                    buf = buf[cut:]
                    if 10 not in buf and 13 not in buf and len(buf) <= self._max:
                        self._raw.append(buf)
                        self._rawlen = len(buf)
                        return events
                    new = len(buf)
        last_cr = buf[-1] == 13          # may pair with an LF at the start of the next read
        norm = (buf[:-1] if last_cr else buf).replace(b"\r\n", b"\n")
        if 13 in norm:
            return self._general_feed(buf, events)
        cut = norm.rfind(b"\n\n", max(0, len(norm) - new - 2)) + 2
        if cut > 1:
            self._span(norm, cut, events)
            norm = norm[cut:]
        if last_cr:
            # The CR ends a line now (and the next read may start with its LF).
            norm += b"\n"
            if norm == b"\n" or norm[-2] == 10:
                if len(norm) > 1:        # a blank line: dispatch now
                    self._span(norm, len(norm), events)
            else:
                self._keep(norm, events)
            self._cr = self._general = True   # _feed_from_general skips that LF
            return events
        return self._keep(norm, events) if norm else events

    def _keep(self, tail: bytes, events: list[SSEEvent]) -> list[SSEEvent]:
        """Keep ``tail`` (bytes from an event boundary on, with no blank line in them but maybe
        one at the start) as raw bytes, if that is safe."""
        if tail[:1] == b"\n":          # a blank line right after the boundary: dispatches nothing
            tail = tail[1:]
            if not tail:
                return events
        if 10 in tail and (len(tail) > _HOLD or tail[:1] == b":" or tail.partition(b"\n:")[1]
                           or tail.partition(b"retry")[1]):
            return self._general_feed(tail, events)
        self._raw.append(tail)
        self._rawlen = len(tail)
        if len(tail) > self._max:
            return self._to_general(events)
        return events

    def _to_general(self, events: list[SSEEvent]) -> list[SSEEvent]:
        """Hand the kept raw bytes to the general path (which checks the cap in characters)."""
        buf = b"".join(self._raw)
        self._raw.clear()
        self._rawlen = 0
        return self._general_feed(buf, events)

    def _general_feed(self, chunk: bytes, events: list[SSEEvent]) -> list[SSEEvent]:
        events += self._feed_general(chunk)
        self._general = bool(self._pieces or self._data or self._other or self._undecoded
                             or self._cr or self._at_start)
        return events

    def _feed_from_general(self, chunk: bytes) -> list[SSEEvent]:
        """The general path takes ``chunk`` up to its first blank line; the fast path the rest."""
        if self._rawlen:
            # Fast path, kept bytes ending with a line whose end was a CR: skip its LF.
            if not chunk:
                return []
            self._cr = self._general = False
            return self.feed(chunk[1:] if chunk[0] == 10 else chunk)
        if chunk[:1] == b"\n":
            end = 1        # a blank line, or the LF of a CRLF: the state may be clean after it
        elif 10 not in chunk:
            return self._general_feed(chunk, [])
        else:
            end = chunk.find(b"\n\n") + 2
            crlf = chunk.find(b"\n\r\n", 0, end if end > 1 else len(chunk)) + 3
            if crlf > 2:
                end = crlf
            elif end < 2:
                return self._general_feed(chunk, [])
        if end == len(chunk):
            return self._general_feed(chunk, [])
        events = self._general_feed(chunk[:end], [])
        if self._general:
            return self._general_feed(chunk[end:], events)
        events += self.feed(chunk[end:])
        return events

    def _span(self, buf: bytes, end: int, events: list[SSEEvent]) -> None:
        """Parse ``buf[:end]``: whole events, LF line ends only, starting after a blank
        line (or at the stream start) and ending with one."""
        if end > self._max:              # a line may be over the cap: the general path checks
            self._general_feed(buf[:end], events)
        elif end <= 2048:
            # One "data: D" or "event: T" + "data: D" event? (No id line: _last_id stays.)
            if buf[:6] == b"data: ":
                data = buf[6:end - 2]
                if 10 not in data:
                    events.append(_make(SSEEvent, (data.decode("utf-8", "replace"), "message",
                                                   self._last_id, None)))
                    return
            elif buf[:7] == b"event: ":
                etype, sep, data = buf[7:end - 2].partition(b"\ndata: ")
                if sep and 10 not in etype and 10 not in data:
                    events.append(_make(SSEEvent, (data.decode("utf-8", "replace"),
                                                   etype.decode("utf-8", "replace") or "message",
                                                   self._last_id, None)))
                    return
            self._text((buf if end == len(buf) else buf[:end]).decode("utf-8", "replace"), events)
        elif not self._one(buf, end, events):
            self._text(_decode(buf, 0, end), events)

    def _one(self, buf: bytes, end: int, events: list[SSEEvent]) -> bool:
        """``buf[:end]`` as one event, ``event:``/``id:`` lines then one ``data:`` line,
        parsed on the bytes (a long data line is decoded straight from them); False,
        with nothing changed, for anything else."""
        last = end - 2                   # the LF ending the data line
        pos = 0
        etype = "message"
        eid = self._last_id
        find = buf.find
        startswith = buf.startswith
        while True:
            nl = find(b"\n", pos, end)
            if nl == last:
                if not startswith(b"data: ", pos):
                    return False
                data = _decode(buf, pos + 6, nl)
                break
            if startswith(b"event: ", pos):
                etype = buf[pos + 7:nl].decode("utf-8", "replace") or "message"
            elif startswith(b"id: ", pos):
                eid = buf[pos + 4:nl].decode("utf-8", "replace")
                if "\0" in eid:
                    return False
            else:
                return False
            pos = nl + 1
        self._last_id = self._resume_id = eid
        events.append(_make(SSEEvent, (data, etype, eid, None)))
        return True

    def _text(self, text: str, events: list[SSEEvent]) -> None:
        """Whole events, decoded (LF line ends, ending with a blank line)."""
        if text[:6] == "data: ":
            # the common shape: "data: X" blocks only; then every LF is in a separator
            datas = text[6:-2].split("\n\ndata: ")
            if "\n" not in (datas[0] if len(datas) == 1 else "".join(datas)):
                last_id = self._resume_id = self._last_id
                if len(datas) < 32:
                    append = events.append
                    for data in datas:
                        append(_make(SSEEvent, (data, "message", last_id, None)))
                else:                    # a C-level loop (its repeat objects cost ~1 event each)
                    events += map(_make, repeat(SSEEvent),
                                  zip(datas, repeat("message"), repeat(last_id), repeat(None)))
                return
        # Split before blocks starting like the first ("event: ", "id: "...): "event: T\ndata: D",
        # "id: I\ndata: D", "data: D" blocks become events here, others go to _process.
        colon = text.find(":", 0, 6) + 1
        head = text[:colon + 1] if text[colon:colon + 1] == " " else text[:colon]
        field = head.rstrip()
        if field not in ("data:", "event:", "id:"):
            self._process(text.split("\n"), events)
            return
        is_data = field == "data:"
        is_id = field == "id:"
        nospace = head == field          # then a value starting with a space is not ours
        lines: list[str] = []            # lines of blocks left to the general rules
        append = events.append
        for part in text[len(head):-2].split("\n\n" + head):
            if is_data:
                value, sep, data = "", "x", part
            else:
                value, sep, data = part.partition("\ndata: ")
            if (not sep or "\n" in data or "\n" in value or (is_id and "\0" in value)
                    or (nospace and part[:1] == " ")):
                lines += (head + part).split("\n")
                lines.append("")
                continue
            if lines:
                self._process(lines, events)
                lines = []
            if is_id:
                self._last_id = value
                value = ""
            append(_make(SSEEvent, (data, value or "message", self._last_id, None)))
        if lines:
            self._process(lines, events)
        self._resume_id = self._last_id

    def _feed_general(self, chunk: bytes) -> list[SSEEvent]:
        """The general path: any bytes, line by line (WHATWG)."""
        if self._cr and chunk:
            self._cr = False
            if chunk[0] == 10:             # LF completing a CRLF split across feeds
                chunk = chunk[1:]
        # Line ends become LF on the bytes (CR/LF are never part of a multi-byte character).
        if 13 in chunk:
            if chunk[-1] == 13:            # may pair with an LF starting the next feed
                self._cr = True
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        text = self._complete_text(chunk)
        if text is None:
            return []
        events: list[SSEEvent] = []
        self._process(self._lines(text), events)
        return events

    def close(self) -> list[SSEEvent]:
        """End of stream: an event without its closing blank line is discarded.

        Returns the events completed by flushing (normally none). Afterwards the
        decoder is ready for a new stream; ``last_event_id``, ``retry`` and
        ``comments`` are kept, as EventSource keeps them across reconnections.
        """
        if self._rawlen:
            # complete lines of the cut event still take effect (an id line, as on the general path)
            self._to_general([])
        # Anything pending belongs to the unterminated event.
        self._raw.clear()
        self._rawlen = 0
        self._reset()
        self._general = True
        self._data = []
        self._event = ""
        self._retry = None
        self._other = False
        return []

    def _process(self, lines: list[str], events: list[SSEEvent]) -> None:
        """Interpret complete lines (WHATWG), appending dispatched events."""
        data = self._data
        event = self._event
        retry = self._retry
        other = self._other
        comments = 0
        append = data.append
        make = _make
        for line in lines:
            if not line:
                # blank line: dispatch
                self._resume_id = self._last_id
                if data:
                    events.append(make(SSEEvent, (data[0] if len(data) == 1 else "\n".join(data),
                                                  event or "message", self._last_id, retry)))
                    data.clear()
                event = ""
                retry = None
                other = False
            elif line[:6] == "data: ":   # the common case
                append(line[6:])
            elif line[0] == ":":
                comments += 1
            else:
                field, _, value = line.partition(":")
                if value and value[0] == " ":
                    value = value[1:]
                if field == "data":
                    append(value)
                    continue
                other = True
                if field == "event":
                    event = value
                elif field == "id":
                    if "\0" not in value:
                        self._last_id = value
                elif field == "retry":
                    if value.isascii() and value.isdigit():
                        try:
                            retry = self._reconnect = int(value)
                        except ValueError:  # more digits than int() accepts
                            pass
                # any other field is ignored
        self._event = event
        self._retry = retry
        self._other = other
        self._comments += comments
