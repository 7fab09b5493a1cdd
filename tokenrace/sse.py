"""Reading and writing ``text/event-stream`` (and Ollama's NDJSON) without I/O.

Follows docs/sse-parsing.md (WHATWG "interpreting an event stream"):

* bytes are decoded as UTF-8 incrementally (invalid bytes become U+FFFD, a
  character split across reads is joined); one BOM is stripped at the very
  start of the stream only;
* lines end at CRLF, LF or a lone CR, and only there (never ``str.splitlines``);
  a CR at the end of one read followed by LF at the start of the next is one
  line end. CR/CRLF are turned into LF on the bytes, before decoding (CR and LF
  are ASCII and never part of a multi-byte character), which is far cheaper
  than on wide text;
* a line that has not ended yet is kept as a list of pieces and joined once when
  it ends, and only newly arrived text is scanned for line ends, so a long line
  fed in many small chunks costs linear time; ``max_line_chars`` caps it;
* an event still open when the stream ends is discarded.

Hot-path notes: a chunk holding exactly one simple event (``data:`` line, maybe
after an ``event:`` line; how servers flush) skips the line machinery; several
events per chunk go through one ``str.split`` and one loop over the lines.

No I/O and no third-party imports here.
"""
from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from .errors import SSEError

__all__ = [
    "SSEEvent",
    "SSEDecoder",
    "NDJSONDecoder",
    "encode_event",
    "encode_comment",
    "DEFAULT_MAX_LINE_CHARS",
]

DEFAULT_MAX_LINE_CHARS = 8 * 1024 * 1024

_BOM = "\ufeff"
_utf8_decode = codecs.utf_8_decode
_lone_cr = re.compile(rb"\r(?!\n)").search   # a CR that is not part of CRLF


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One dispatched event."""

    data: str = ""
    event: str = "message"
    id: str = ""              # the last-event-id buffer at dispatch time
    retry: int | None = None  # set when this event's block carried a valid retry field


# The hot path builds events by filling the slots directly: a frozen dataclass's
# __init__ goes through object.__setattr__ per field and costs about twice as much.
# The result is an ordinary, fully initialised SSEEvent.
_new = object.__new__
_set_data = SSEEvent.data.__set__        # type: ignore[attr-defined]
_set_event = SSEEvent.event.__set__      # type: ignore[attr-defined]
_set_id = SSEEvent.id.__set__            # type: ignore[attr-defined]
_set_retry = SSEEvent.retry.__set__      # type: ignore[attr-defined]


def _make_event(data: str, event: str, id: str, retry: int | None) -> SSEEvent:
    ev = _new(SSEEvent)
    _set_data(ev, data)
    _set_event(ev, event)
    _set_id(ev, id)
    _set_retry(ev, retry)
    return ev


class _LineSplitter:
    """Bytes -> complete lines; the base of the SSE and NDJSON decoders.

    Decoding is ``codecs.utf_8_decode`` with the undecoded tail (at most three
    bytes of a split character) kept between feeds: exactly what
    ``codecs.getincrementaldecoder("utf-8")`` does, without its Python-level
    wrapper on the hot path.
    """

    __slots__ = ("_max", "_undecoded", "_at_start", "_cr", "_pieces", "_pending")

    _KIND = "stream"

    def __init__(self, max_line_chars: int) -> None:
        if max_line_chars < 1:
            raise ValueError("max_line_chars must be at least 1")
        self._max = max_line_chars
        self._undecoded = b""      # bytes of a character split across feeds
        self._at_start = True      # no character decoded yet (a BOM may still come)
        self._cr = False           # the bytes so far ended with a CR (SSE only)
        self._pieces: list[str] = []  # the line not yet ended, in pieces
        self._pending = 0          # total length of _pieces

    def _reset(self) -> None:
        self._undecoded = b""
        self._at_start = True
        self._cr = False
        self._pieces = []
        self._pending = 0

    def _decode(self, chunk: bytes, final: bool = False) -> str:
        if self._undecoded:
            chunk = self._undecoded + chunk
        text, used = _utf8_decode(chunk, "replace", final)
        self._undecoded = chunk[used:] if used < len(chunk) else b""
        return text

    def _too_long(self) -> SSEError:
        self._pieces = []
        self._pending = 0
        return SSEError(
            f"{self._KIND} line longer than max_line_chars={self._max} characters; "
            f"the stream is unusable (raise max_line_chars if such lines are expected)")

    def _start(self, text: str) -> str:
        """Strip one BOM at the very start of the stream. May return ""."""
        self._at_start = False
        return text[1:] if text[0] == _BOM else text

    def _complete_text(self, chunk: bytes) -> str | None:
        """Decoded text holding at least one line end; None when the chunk only
        extended the pending line (or decoded to nothing yet)."""
        text = self._decode(chunk)
        if not text:
            return None
        if self._at_start:
            text = self._start(text)
            if not text:
                return None
        if "\n" not in text:
            self._buffer(text)
            return None
        return text

    def _buffer(self, text: str) -> None:
        """Keep ``text`` (which holds no line end) as part of the pending line."""
        pending = self._pending + len(text)
        if pending > self._max:
            raise self._too_long()
        self._pieces.append(text)
        self._pending = pending

    def _lines(self, text: str) -> list[str]:
        """Complete lines in normalized ``text`` (which holds at least one LF); the
        unterminated rest becomes the pending line. Checks the cap."""
        lines = text.split("\n")
        tail = lines.pop()
        if self._pieces:
            self._pieces.append(lines[0])
            lines[0] = "".join(self._pieces)
        if self._pending + len(text) > self._max:   # only then can a line be too long
            if len(tail) > self._max or max(map(len, lines)) > self._max:
                raise self._too_long()
        if tail:
            self._pieces = [tail]
            self._pending = len(tail)
        elif self._pieces:
            self._pieces = []
            self._pending = 0
        return lines


class SSEDecoder(_LineSplitter):
    """Incremental ``text/event-stream`` decoder: feed bytes, get complete events."""

    __slots__ = ("_data", "_event", "_last_id", "_retry", "_other", "_reconnect", "_resume_id", "comments")

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
        self.comments = 0            # comment lines completed so far (heartbeats count as progress)

    @property
    def last_event_id(self) -> str:
        """What a reconnect sends as ``Last-Event-ID``: the id as of the last dispatch (blank line).

        An ``id:`` line of an event still being received does not count yet, so a
        connection cut mid-event resumes before that event, not after it (WHATWG:
        the last event ID string is set when an event is dispatched).
        """
        return self._resume_id

    @property
    def retry(self) -> int | None:
        """The last valid ``retry`` value of the stream (reconnection time, ms).

        Also set by a ``retry:`` block that carried no data (and so dispatched
        no event), which is how servers usually send it.
        """
        return self._reconnect

    @property
    def has_partial(self) -> bool:
        """True when bytes or fields of an event that has not ended are pending."""
        return bool(self._pieces or self._data or self._other or self._undecoded)

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Decode ``chunk``; return the events it completed (possibly none)."""
        if self._cr and chunk:
            self._cr = False
            if chunk[0] == 10:             # LF completing a CRLF split across feeds
                chunk = chunk[1:]
        if (chunk[-1:] == b"\n" and chunk[:1] in b"de" and not self._undecoded
                and not (self._pieces or self._data or self._other or self._at_start)
                and len(chunk) <= self._max):
            # Fast path: the chunk may be exactly one simple event (servers flush
            # once per event) and nothing is pending.
            text, used = _utf8_decode(chunk, "replace", False)
            if used == len(chunk):
                event = self._one_event(text)
                if event is not None:
                    return [event]
            # not one simple event after all: nothing was changed, take the general path
        # Line ends become LF on the bytes, before decoding (see the module doc).
        if b"\r" in chunk:
            if _lone_cr(chunk) is None:    # CRLF line ends only: drop the CRs
                chunk = chunk.replace(b"\r", b"")
            else:
                if chunk[-1] == 13:        # may pair with an LF starting the next feed
                    self._cr = True
                chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        text = self._complete_text(chunk)
        if text is None:
            return []
        events: list[SSEEvent] = []
        self._process(self._lines(text), events)
        return events

    def _one_event(self, text: str) -> SSEEvent | None:
        """``text`` as one event if it is exactly ``[event: T<eol>]data: D<eol><eol>``
        with <eol> LF or CRLF, else None (the general path then decides)."""
        if text[-2:] == "\n\n":
            end = -2
            eol = "\n"
        elif text[-4:] == "\r\n\r\n":
            end = -4
            eol = "\r\n"
        else:
            return None
        if text[:6] == "data: ":
            body = text[6:end]
            if "\n" in body or "\r" in body:
                return None
            return _make_event(body, "message", self._last_id, None)
        if text[:7] != "event: ":
            return None
        i = text.find(eol)
        n = len(eol)
        if text[i + n:i + n + 6] != "data: ":
            return None
        etype = text[7:i]
        body = text[i + n + 6:end]
        if "\n" in body or "\r" in body or "\r" in etype:
            return None
        return _make_event(body, etype or "message", self._last_id, None)

    def close(self) -> list[SSEEvent]:
        """End of stream: an event without its closing blank line is discarded.

        Returns the events completed by flushing (normally none). Afterwards the
        decoder is ready for a new stream; ``last_event_id`` and ``retry`` are
        kept, as EventSource keeps them across reconnections.
        """
        # Whatever is pending (a split character, an unended line, the fields
        # of an unended event) can only belong to the unterminated event.
        self._reset()
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
        append = data.append
        new, set_data, set_event, set_id, set_retry = (
            _new, _set_data, _set_event, _set_id, _set_retry)
        for line in lines:
            if not line:
                # blank line: dispatch
                self._resume_id = self._last_id
                if data:
                    ev = new(SSEEvent)         # = SSEEvent(data, event, id, retry), faster
                    set_data(ev, data[0] if len(data) == 1 else "\n".join(data))
                    set_event(ev, event or "message")
                    set_id(ev, self._last_id)
                    set_retry(ev, retry)
                    events.append(ev)
                    data.clear()
                event = ""
                retry = None
                other = False
            elif line[:6] == "data: ":   # the common case
                append(line[6:])
            elif line[0] == ":":
                self.comments += 1
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


class NDJSONDecoder(_LineSplitter):
    """Incremental newline-delimited JSON splitter (Ollama's ``application/x-ndjson``).

    Lines end at LF (a CR before it is dropped); a lone CR is not a line end.
    Blank (or whitespace-only) lines are skipped. Lines are not JSON-parsed.
    """

    __slots__ = ()

    _KIND = "NDJSON"

    def __init__(self, max_line_chars: int = DEFAULT_MAX_LINE_CHARS) -> None:
        super().__init__(max_line_chars)

    @property
    def has_partial(self) -> bool:
        """True when part of a line (or of a character) is pending."""
        return bool(self._pieces or self._undecoded)

    def feed(self, chunk: bytes) -> list[str]:
        """Decode ``chunk``; return the non-empty lines it completed."""
        text = self._complete_text(chunk)
        if text is None:
            return []
        return [ln[:-1] if ln[-1] == "\r" else ln
                for ln in self._lines(text) if ln and not ln.isspace()]

    def close(self) -> list[str]:
        """End of stream: return a final line that had no newline (if not blank)."""
        text = self._decode(b"", True)
        if text:
            if self._at_start:
                text = self._start(text)
            if text:
                self._buffer(text)         # holds no LF: only U+FFFD
        last = "".join(self._pieces)
        self._reset()
        if last.endswith("\r"):
            last = last[:-1]
        return [last] if last and not last.isspace() else []


# ---------------------------------------------------------------- writing

_STRIP_EOL = str.maketrans("", "", "\r\n")
_STRIP_EOL_NUL = str.maketrans("", "", "\r\n\0")


def encode_event(data: str, *, event: str | None = None, id: str | int | None = None,
                 retry: int | None = None) -> bytes:
    """One event as UTF-8 bytes, ending with its blank line.

    Line breaks in ``data`` (CRLF, CR, LF) become several ``data:`` lines, so
    the reader gets ``data`` back with every line break as LF. CR and LF are
    removed from ``event`` and ``id`` (a value must not inject fields); NUL is
    also removed from ``id``, since a reader ignores an id containing NUL.
    An empty ``event`` is left out (the reader's type is then ``message``);
    ``id=""`` is written and resets the reader's last event id.
    """
    parts = []
    if event is not None:
        event = event.translate(_STRIP_EOL)
        if event:
            parts.append(f"event: {event}\n")
    if id is not None:
        parts.append(f"id: {str(id).translate(_STRIP_EOL_NUL)}\n")
    if retry is not None:
        if isinstance(retry, bool) or not isinstance(retry, int) or retry < 0:
            raise ValueError(f"retry must be a non-negative int (milliseconds), got {retry!r}")
        parts.append(f"retry: {retry}\n")
    if "\r" in data:
        data = data.replace("\r\n", "\n").replace("\r", "\n")
    parts.append("data: ")
    parts.append(data.replace("\n", "\ndata: ") if "\n" in data else data)
    parts.append("\n\n")
    return "".join(parts).encode("utf-8", "replace")


def encode_comment(text: str = "") -> bytes:
    """A comment line plus blank line (``: text``), e.g. a heartbeat; CR/LF are removed."""
    text = text.translate(_STRIP_EOL)
    return (f": {text}\n\n" if text else ":\n\n").encode("utf-8", "replace")
