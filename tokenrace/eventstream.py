"""Reading and writing AWS ``application/vnd.amazon.eventstream`` without I/O.

The binary framing of Bedrock's ConverseStream (and every AWS event-stream API). One frame,
integers big-endian, CRC-32 = IEEE (``zlib.crc32``)::

    uint32 total_length     the whole frame, these 4 bytes and the final CRC included
    uint32 headers_length   bytes of the header block
    uint32 prelude_crc      CRC-32 of the 8 bytes above
    headers                 repeated: uint8 name length, name (UTF-8), uint8 type, value
    payload                 total_length - headers_length - 16 bytes
    uint32 message_crc      CRC-32 of everything before it, prelude and its CRC included

Header value types: 0 true, 1 false (no value bytes), 2 int8, 3 int16, 4 int32, 5 int64,
6 bytes and 7 string (uint16 length first), 8 timestamp (int64 milliseconds), 9 uuid (16 bytes).

:class:`EventStreamDecoder` is incremental: bytes go in as they arrive, whole frames come out.
A frame split across reads is joined; one read may hold many frames. Both CRCs are checked.
After a lost or changed byte the lengths are garbage and the stream cannot be resynchronised,
so every framing fault raises :class:`EventStreamError` (naming the fault and its byte offset in
the stream) and the decoder stays failed. A frame's size is checked as soon as its 12-byte
prelude is in, so a garbage length never makes the decoder buffer more than the cap.

Integer widths survive a round trip: decoded integers are :class:`Int8` ... :class:`Int64` and
:class:`Timestamp` (``int`` subclasses); :func:`encode_message` writes those widths back, a plain
``int`` as int32 (int64 when it does not fit), a ``datetime`` as a timestamp.

No I/O and no third-party imports here.
"""
from __future__ import annotations

import struct
import uuid
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from .errors import TokenraceError

__all__ = [
    "EventStreamDecoder",
    "EventStreamError",
    "HeaderValue",
    "Int8",
    "Int16",
    "Int32",
    "Int64",
    "Message",
    "Timestamp",
    "encode_message",
    "MAX_FRAME_BYTES",
    "MAX_HEADERS_BYTES",
]

MAX_FRAME_BYTES = 16 * 1024 * 1024     # AWS's own cap on one message
MAX_HEADERS_BYTES = 128 * 1024         # botocore and the smithy spec refuse more
_PRELUDE = 12
_OVERHEAD = 16                         # prelude (12) + message CRC (4)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_U32 = struct.Struct("!I")
_PRELUDE_S = struct.Struct("!III")


class EventStreamError(TokenraceError):
    """The event stream is unusable: a CRC mismatch, an impossible length, an unknown header type.

    ``offset`` is the byte offset in the whole stream where the fault was found."""

    def __init__(self, message: str, offset: int) -> None:
        self.offset, self.detail = offset, message
        super().__init__(f"eventstream: {message} (at byte {offset} of the stream)")


class Int8(int):
    """A header integer written as int8 (type 2)."""

    __slots__ = ()


class Int16(int):
    """A header integer written as int16 (type 3)."""

    __slots__ = ()


class Int32(int):
    """A header integer written as int32 (type 4)."""

    __slots__ = ()


class Int64(int):
    """A header integer written as int64 (type 5)."""

    __slots__ = ()


class Timestamp(int):
    """A header timestamp (type 8): milliseconds since the Unix epoch."""

    __slots__ = ()

    def to_datetime(self) -> datetime:
        """As an aware UTC datetime (OverflowError outside the years 1-9999)."""
        return _EPOCH + timedelta(milliseconds=int(self))


HeaderValue = bool | int | bytes | str | uuid.UUID
"""A decoded header value (ints are Int8/Int16/Int32/Int64/Timestamp); encode also takes datetime."""


@dataclass(frozen=True, slots=True)
class Message:
    """One event-stream frame: headers in wire order, and the raw payload."""

    headers: dict[str, HeaderValue]
    payload: bytes

    def _str(self, name: str) -> str | None:
        value = self.headers.get(name)
        return value if isinstance(value, str) else None

    @property
    def message_type(self) -> str | None:
        """``:message-type``: ``event``, ``exception`` or ``error``."""
        return self._str(":message-type")

    @property
    def event_type(self) -> str | None:
        return self._str(":event-type")

    @property
    def exception_type(self) -> str | None:
        return self._str(":exception-type")

    @property
    def content_type(self) -> str | None:
        return self._str(":content-type")

    @property
    def error_code(self) -> str | None:
        """``:error-code`` of a ``:message-type: error`` frame."""
        return self._str(":error-code")

    @property
    def error_message(self) -> str | None:
        return self._str(":error-message")


# --------------------------------------------------------------------------- encoding

_FIXED = ((Int8, 2, "!b"), (Int16, 3, "!h"), (Int64, 5, "!q"), (Timestamp, 8, "!q"), (Int32, 4, "!i"))


def _encode_value(name: str, value: HeaderValue | datetime) -> bytes:
    if isinstance(value, bool):
        return b"\x00" if value else b"\x01"
    if isinstance(value, int):
        for cls, code, fmt in _FIXED:
            if isinstance(value, cls):
                break
        else:   # a plain int: int32 when it fits
            code, fmt = (4, "!i") if -2**31 <= value < 2**31 else (5, "!q")
        try:
            return bytes((code,)) + struct.pack(fmt, value)
        except struct.error:
            raise ValueError(f"header {name!r}: {value} does not fit a {type(value).__name__}") from None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"header {name!r}: a timestamp needs an aware datetime")
        ms = (value - _EPOCH) // timedelta(milliseconds=1)
        return b"\x08" + struct.pack("!q", ms)
    if isinstance(value, uuid.UUID):
        return b"\x09" + value.bytes
    if isinstance(value, (bytes, str)):
        raw, code = (value, 6) if isinstance(value, bytes) else (value.encode("utf-8"), 7)
        if len(raw) > 0xFFFF:
            raise ValueError(f"header {name!r}: value of {len(raw)} bytes is over 65535")
        return struct.pack("!BH", code, len(raw)) + raw
    raise TypeError(f"header {name!r}: cannot encode a {type(value).__name__}")


def encode_message(headers: Mapping[str, HeaderValue | datetime], payload: bytes) -> bytes:
    """One whole frame (prelude, headers in the mapping's order, payload, both CRCs)."""
    parts: list[bytes] = []
    for name, value in headers.items():
        raw_name = name.encode("utf-8")
        if not 0 < len(raw_name) < 256:
            raise ValueError(f"header name {name!r} must be 1 to 255 bytes of UTF-8")
        parts += (bytes((len(raw_name),)), raw_name, _encode_value(name, value))
    head = b"".join(parts)
    total = _OVERHEAD + len(head) + len(payload)
    if len(head) > MAX_HEADERS_BYTES or total > MAX_FRAME_BYTES:
        raise ValueError(f"frame of {total} bytes (headers {len(head)}) is over the event-stream limits")
    prelude = struct.pack("!II", total, len(head))
    body = b"".join((prelude, _U32.pack(zlib.crc32(prelude)), head, payload))
    return body + _U32.pack(zlib.crc32(body))


# --------------------------------------------------------------------------- decoding

_INTS: dict[int, tuple[int, str, type[int]]] = {
    2: (1, "!b", Int8), 3: (2, "!h", Int16), 4: (4, "!i", Int32), 5: (8, "!q", Int64), 8: (8, "!q", Timestamp)}


def _decode_headers(block: memoryview, base: int) -> dict[str, HeaderValue]:
    """The header block of one frame; ``base`` is its offset in the stream (for errors)."""
    headers: dict[str, HeaderValue] = {}
    pos, end = 0, len(block)

    def need(n: int, what: str) -> None:
        if pos + n > end:
            raise EventStreamError(f"header block ends inside a header's {what}", base + pos)

    while pos < end:
        start = pos
        nlen = block[pos]
        pos += 1
        need(nlen + 1, "name")
        try:
            name = str(block[pos:pos + nlen], "utf-8")
        except UnicodeDecodeError:
            raise EventStreamError("header name is not UTF-8", base + pos) from None
        pos += nlen
        kind = block[pos]
        pos += 1
        value: HeaderValue
        if kind in (0, 1):
            value = kind == 0
        elif kind in (2, 3, 4, 5, 8):
            size, fmt, cls = _INTS[kind]
            need(size, "value")
            value = cls(struct.unpack_from(fmt, block, pos)[0])
            pos += size
        elif kind in (6, 7):
            need(2, "value length")
            (vlen,) = struct.unpack_from("!H", block, pos)
            pos += 2
            need(vlen, "value")
            raw = bytes(block[pos:pos + vlen])
            if kind == 6:
                value = raw
            else:
                try:
                    value = raw.decode("utf-8")
                except UnicodeDecodeError:
                    raise EventStreamError(f"header {name!r}: string value is not UTF-8", base + pos) from None
            pos += vlen
        elif kind == 9:
            need(16, "value")
            value = uuid.UUID(bytes=bytes(block[pos:pos + 16]))
            pos += 16
        else:
            raise EventStreamError(f"header {name!r} has unknown value type {kind}", base + pos - 1)
        if name in headers:
            raise EventStreamError(f"header {name!r} appears twice in one frame", base + start)
        headers[name] = value
    return headers


class EventStreamDecoder:
    """Incremental decoder: :meth:`feed` bytes as they arrive, get whole :class:`Message` s back.

    Amortised linear: bytes are appended to one buffer once and frames are read through a
    memoryview at an offset; the consumed front is dropped only when it is most of the buffer.
    """

    def __init__(self, max_frame_bytes: int = MAX_FRAME_BYTES) -> None:
        self.max_frame_bytes = max_frame_bytes
        self._buf = bytearray()
        self._pos = 0                   # start of the next frame in _buf
        self._base = 0                  # stream offset of _buf[0]
        self._need = _PRELUDE           # bytes the next frame needs in _buf (from _pos) before parsing
        self._failed: EventStreamError | None = None
        self._closed = False

    @property
    def offset(self) -> int:
        """Bytes of the stream consumed as whole frames so far (the offset of the next frame)."""
        return self._base + self._pos

    @property
    def pending(self) -> int:
        """Bytes received of a frame that is not complete yet."""
        return len(self._buf) - self._pos

    def feed(self, chunk: bytes | bytearray | memoryview) -> list[Message]:
        """The frames completed by ``chunk``, in order. Raises :class:`EventStreamError`."""
        if self._failed is not None:
            raise self._failed
        if self._closed:
            raise ValueError("feed() after close()")
        self._buf += chunk
        out: list[Message] = []
        try:
            self._parse(out)
        except EventStreamError as exc:
            self._failed = exc
            raise
        if self._pos and self._pos * 2 >= len(self._buf):    # drop the consumed front, rarely
            del self._buf[:self._pos]
            self._base += self._pos
            self._pos = 0
        return out

    def close(self) -> int:
        """End of the stream. Returns how many bytes of an unfinished frame were left over:
        0 means the stream ended on a frame boundary; more means it was cut (truncated)."""
        self._closed = True
        return self.pending

    def _parse(self, out: list[Message]) -> None:
        buf = self._buf
        with memoryview(buf) as view:   # released before the buffer is resized
            while len(buf) - self._pos >= self._need:
                pos = self._pos
                at = self._base + pos
                total, hlen, pcrc = _PRELUDE_S.unpack_from(view, pos)
                if self._need == _PRELUDE:      # a new prelude: check it before trusting its lengths
                    got = zlib.crc32(view[pos:pos + 8])
                    if got != pcrc:
                        raise EventStreamError(f"prelude CRC mismatch: the frame says {pcrc:#010x}, "
                                               f"its bytes give {got:#010x}", at)
                    if total < _OVERHEAD:
                        raise EventStreamError(f"frame length {total} is below the 16-byte minimum", at)
                    if total > self.max_frame_bytes:
                        raise EventStreamError(f"frame length {total} is over the {self.max_frame_bytes}-byte cap",
                                               at)
                    if hlen > total - _OVERHEAD or hlen > MAX_HEADERS_BYTES:
                        raise EventStreamError(f"headers length {hlen} does not fit a frame of {total} bytes"
                                               if hlen > total - _OVERHEAD else
                                               f"headers length {hlen} is over the {MAX_HEADERS_BYTES}-byte cap", at)
                    self._need = total
                    if len(buf) - pos < total:
                        break
                end = pos + total
                (mcrc,) = _U32.unpack_from(view, end - 4)
                got = zlib.crc32(view[pos:end - 4])
                if got != mcrc:
                    raise EventStreamError(f"message CRC mismatch: the frame says {mcrc:#010x}, "
                                           f"its bytes give {got:#010x}", at + total - 4)
                headers = _decode_headers(view[pos + _PRELUDE:pos + _PRELUDE + hlen], at + _PRELUDE)
                out.append(Message(headers, bytes(view[pos + _PRELUDE + hlen:end - 4])))
                self._pos, self._need = end, _PRELUDE
