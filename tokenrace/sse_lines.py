"""Bytes -> complete lines: the general (line by line) base of the SSE decoder, and the
NDJSON decoder (Ollama), which is nothing more. Both are re-exported by ``tokenrace.sse``.

UTF-8 is decoded incrementally (invalid bytes become U+FFFD; a character split
across reads is joined); one BOM is stripped at the very start of the stream
only. A line that has not ended yet is kept as a list of pieces and joined once
when it ends, and only newly arrived text is scanned for line ends, so a long
line fed in many small chunks costs linear time; ``max_line_chars`` caps it.
Line ends must already be LF here (the SSE decoder turns CR/CRLF into LF on the
bytes; NDJSON drops a CR before LF itself). No I/O, stdlib only.
"""
from __future__ import annotations

import codecs

from .errors import SSEError

__all__ = ["LineSplitter", "NDJSONDecoder", "DEFAULT_MAX_LINE_CHARS"]

DEFAULT_MAX_LINE_CHARS = 8 * 1024 * 1024

_BOM = "\ufeff"
_utf8_decode = codecs.utf_8_decode


class LineSplitter:
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


class NDJSONDecoder(LineSplitter):
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
