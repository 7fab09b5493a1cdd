"""tokenrace.eventstream: the AWS event-stream codec, on the recorded Bedrock streams and on made-up frames."""
from __future__ import annotations

import json
import struct
import uuid
import zlib
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tokenrace.errors import TokenraceError
from tokenrace.eventstream import (MAX_FRAME_BYTES, EventStreamDecoder, EventStreamError, Int8, Int16, Int32,
                                   Int64, Message, Timestamp, encode_message)

from .conftest import FIXTURES

EXPECTED = json.loads((FIXTURES / "expected.json").read_text())
BEDROCK = sorted(name for name in EXPECTED if name.endswith(".bin"))


def _whole(data: bytes) -> list[Message]:
    dec = EventStreamDecoder()
    msgs = dec.feed(data)
    assert dec.close() == 0
    return msgs


def _pieces(data: bytes, cuts: list[int]) -> tuple[list[Message], int]:
    dec = EventStreamDecoder()
    out: list[Message] = []
    prev = 0
    for cut in sorted(set(cuts)) + [len(data)]:
        out += dec.feed(data[prev:cut])
        prev = cut
    return out, dec.close()


def _reduce(msgs: list[Message]) -> dict:
    """What a Bedrock adapter takes from the frames (for the expectations in expected.json)."""
    r: dict = {"text": "", "reasoning": "", "status": "truncated"}
    for m in msgs:
        assert m.content_type == "application/json"
        body = json.loads(m.payload)
        if m.message_type == "exception":
            r["status"], r["error"] = "error", f"{m.exception_type}: {body['message']}"
        elif m.event_type == "contentBlockDelta":
            delta = body["delta"]
            r["text"] += delta.get("text", "")
            r["reasoning"] += delta.get("reasoningContent", {}).get("text", "")
        elif m.event_type == "messageStop":
            r["finish_reason"] = body["stopReason"]
        elif m.event_type == "metadata":
            r["status"] = "ok"
            r["input_tokens"], r["output_tokens"] = body["usage"]["inputTokens"], body["usage"]["outputTokens"]
    return r


@pytest.mark.parametrize("name", BEDROCK)
def test_recorded_bedrock_streams_decode_to_their_expectation(name):
    data = (FIXTURES / name).read_bytes()
    msgs = _whole(data)
    got, exp = _reduce(msgs), EXPECTED[name]["expect"]
    assert got["status"] == exp["status"] and got["text"] == exp["text"]
    for key in ("reasoning", "finish_reason", "input_tokens", "output_tokens"):
        if key in exp:
            assert got[key] == exp[key], key
    if "error_contains" in exp:
        assert exp["error_contains"] in got["error"] and got["error"].startswith("throttlingException: ")
    assert all(list(m.headers)[0] in (":event-type", ":exception-type") for m in msgs)
    # re-encoding the decoded frames gives the recorded bytes back (header order and types kept)
    assert b"".join(encode_message(m.headers, m.payload) for m in msgs) == data


@pytest.mark.parametrize("name", BEDROCK)
def test_every_byte_boundary_gives_the_same_messages(name):
    data = (FIXTURES / name).read_bytes()
    whole = _whole(data)
    for cut in range(1, len(data)):
        assert _pieces(data, [cut]) == (whole, 0), cut
    dec = EventStreamDecoder()
    one_by_one = [m for i in range(len(data)) for m in dec.feed(data[i:i + 1])]
    assert one_by_one == whole and dec.close() == 0


@settings(max_examples=150, deadline=None)
@given(name=st.sampled_from(BEDROCK), cuts=st.lists(st.integers(min_value=0, max_value=3000), max_size=40))
def test_random_splits_give_the_same_messages(name, cuts):
    data = (FIXTURES / name).read_bytes()
    assert _pieces(data, [c for c in cuts if c <= len(data)]) == (_whole(data), 0)


def test_messages_arrive_as_soon_as_their_last_byte_does():
    frames = [encode_message({":event-type": f"e{i}"}, b"x" * i) for i in range(5)]
    dec = EventStreamDecoder()
    stream = b"".join(frames)
    ends = {sum(map(len, frames[:i + 1])) for i in range(5)}
    for i in range(len(stream)):
        got = dec.feed(stream[i:i + 1])
        assert len(got) == (1 if i + 1 in ends else 0)
        assert dec.offset + dec.pending == i + 1
    assert dec.offset == len(stream)


# --------------------------------------------------------------------------- header types and round trips

ALL_TYPES = {"yes": True, "no": False, "i8": Int8(-128), "i16": Int16(32767), "i32": Int32(-2**31),
             "i64": Int64(2**63 - 1), "blob": b"\x00\xff\x10", "text": "héllo 你好 👋",
             "when": Timestamp(1767312613123), "id": uuid.UUID("12345678-1234-5678-1234-567812345678")}


def test_every_header_type_on_the_wire():
    data = encode_message(ALL_TYPES, b"{}")
    # the bytes of each header, by hand from the spec: name length, name, type, value
    expect = [b"\x03yes\x00", b"\x02no\x01", b"\x02i8\x02\x80", b"\x03i16\x03\x7f\xff", b"\x03i32\x04\x80\x00\x00\x00",
              b"\x03i64\x05\x7f" + b"\xff" * 7, b"\x04blob\x06\x00\x03\x00\xff\x10",
              b"\x04text\x07" + struct.pack("!H", 18) + "héllo 你好 👋".encode(),
              b"\x04when\x08" + struct.pack("!q", 1767312613123),
              b"\x02id\x09" + bytes.fromhex("12345678123456781234567812345678")]
    head = b"".join(expect)
    total, = struct.unpack_from("!I", data)
    assert data[4:8] == struct.pack("!I", len(head)) and total == len(data) == 16 + len(head) + 2
    assert data[8:12] == struct.pack("!I", zlib.crc32(data[:8]))
    assert data[12:12 + len(head)] == head and data[-6:-4] == b"{}"
    assert data[-4:] == struct.pack("!I", zlib.crc32(data[:-4]))
    (msg,) = _whole(data)
    assert msg.headers == ALL_TYPES and list(msg.headers) == list(ALL_TYPES)
    assert [type(msg.headers[k]) for k in ("i8", "i16", "i32", "i64", "when")] == [Int8, Int16, Int32, Int64, Timestamp]
    assert msg.headers["when"].to_datetime() == datetime(2026, 1, 2, 0, 10, 13, 123000, tzinfo=timezone.utc)


def test_plain_values_pick_their_wire_types():
    data = encode_message({"small": 7, "big": 2**40, "at": datetime(2026, 1, 2, tzinfo=timezone.utc)}, b"")
    (msg,) = _whole(data)
    assert type(msg.headers["small"]) is Int32 and type(msg.headers["big"]) is Int64
    assert msg.headers["at"] == Timestamp(1767312000000)


def test_convenience_properties():
    msg = _whole(encode_message({":message-type": "exception", ":exception-type": "throttlingException",
                                 ":content-type": "application/json"}, b"{}"))[0]
    assert (msg.message_type, msg.exception_type, msg.content_type, msg.event_type) == \
        ("exception", "throttlingException", "application/json", None)
    err = _whole(encode_message({":message-type": "error", ":error-code": "InternalFailure",
                                 ":error-message": "boom"}, b""))[0]
    assert (err.message_type, err.error_code, err.error_message) == ("error", "InternalFailure", "boom")
    assert _whole(encode_message({":event-type": Int8(1)}, b""))[0].event_type is None   # not a string


def test_encode_refuses_what_the_wire_cannot_hold():
    with pytest.raises(ValueError, match="does not fit"):
        encode_message({"x": Int8(200)}, b"")
    with pytest.raises(ValueError, match="65535"):
        encode_message({"x": "a" * 70000}, b"")
    with pytest.raises(ValueError, match="1 to 255"):
        encode_message({"": "a"}, b"")
    with pytest.raises(ValueError, match="aware"):
        encode_message({"x": datetime(2026, 1, 1)}, b"")
    with pytest.raises(ValueError, match="limits"):
        encode_message({}, b"x" * MAX_FRAME_BYTES)
    with pytest.raises(TypeError):
        encode_message({"x": 1.5}, b"")         # type: ignore[dict-item]


_NAMES = st.text(st.characters(codec="utf-8"), min_size=1, max_size=20).filter(
    lambda s: len(s.encode()) < 256)
_VALUES = st.one_of(
    st.booleans(), st.integers(-128, 127).map(Int8), st.integers(-2**15, 2**15 - 1).map(Int16),
    st.integers(-2**31, 2**31 - 1).map(Int32), st.integers(-2**63, 2**63 - 1).map(Int64),
    st.integers(-2**63, 2**63 - 1).map(Timestamp), st.binary(max_size=300),
    st.text(max_size=100),
    st.uuids())
_MESSAGES = st.builds(lambda h, p: (h, p), st.dictionaries(_NAMES, _VALUES, max_size=8), st.binary(max_size=2000))


@settings(max_examples=200, deadline=None)
@given(messages=st.lists(_MESSAGES, min_size=1, max_size=6), cuts=st.lists(st.integers(0, 20000), max_size=30))
def test_round_trip_any_frames_any_splits(messages, cuts):
    stream = b"".join(encode_message(h, p) for h, p in messages)
    got, left = _pieces(stream, [c for c in cuts if c <= len(stream)])
    assert left == 0
    assert [(m.headers, m.payload) for m in got] == messages
    assert [[type(v) for v in m.headers.values()] for m in got] == [[type(v) for v in h.values()] for h, _ in messages]


# --------------------------------------------------------------------------- errors

GOOD = encode_message({":event-type": "messageStart", ":message-type": "event"}, b'{"role":"assistant"}')


def _fails(data: bytes, match: str) -> EventStreamError:
    dec = EventStreamDecoder()
    with pytest.raises(EventStreamError, match=match) as info:
        dec.feed(data)
    assert isinstance(info.value, TokenraceError)
    with pytest.raises(EventStreamError):           # stays failed: no resynchronising on garbage
        dec.feed(GOOD)
    return info.value


def test_bad_prelude_crc_names_the_frame_offset():
    bad = bytearray(GOOD)
    bad[5] ^= 0x01                                   # headers length changed: its CRC no longer matches
    err = _fails(GOOD + GOOD + bytes(bad), "prelude CRC mismatch")
    assert err.offset == 2 * len(GOOD) and f"at byte {2 * len(GOOD)} of the stream" in str(err)


def test_bad_message_crc_names_the_crc_offset():
    for i in (14, len(GOOD) - 6, len(GOOD) - 1):      # a header byte, a payload byte, the CRC itself
        bad = bytearray(GOOD)
        bad[i] ^= 0x20
        err = _fails(GOOD + bytes(bad), "message CRC mismatch")
        assert err.offset == len(GOOD) + len(GOOD) - 4


def test_bad_crc_is_found_even_when_fed_byte_by_byte():
    bad = bytearray(GOOD)
    bad[-10] ^= 0xFF
    dec = EventStreamDecoder()
    with pytest.raises(EventStreamError, match="message CRC"):
        for i in range(len(bad)):
            dec.feed(bytes(bad[i:i + 1]))
    assert i == len(bad) - 1


def _prelude(total: int, hlen: int) -> bytes:
    p = struct.pack("!II", total, hlen)
    return p + struct.pack("!I", zlib.crc32(p))


def test_oversize_length_fails_at_once_without_buffering():
    err = _fails(_prelude(MAX_FRAME_BYTES + 1, 0), "over the 16777216-byte cap")
    assert err.offset == 0
    small = EventStreamDecoder(max_frame_bytes=1024)
    with pytest.raises(EventStreamError, match="1024-byte cap"):
        small.feed(GOOD + _prelude(2048, 0))


def test_impossible_lengths():
    _fails(_prelude(15, 0), "below the 16-byte minimum")
    _fails(_prelude(40, 30), "does not fit a frame of 40 bytes")
    _fails(_prelude(300_000, 200_000), "over the 131072-byte cap")


def _frame(head: bytes, payload: bytes = b"") -> bytes:
    """A frame with a hand-made header block and correct CRCs."""
    body = _prelude(16 + len(head) + len(payload), len(head)) + head + payload
    return body + struct.pack("!I", zlib.crc32(body))


def test_unknown_header_type_and_broken_headers():
    err = _fails(GOOD + _frame(b"\x01a\x07\x00\x01b" + b"\x03odd\x0a"), "header 'odd' has unknown value type 10")
    assert err.offset == len(GOOD) + 12 + 6 + 4      # the type byte
    _fails(_frame(b"\x04name\x07\x00\x09abc"), "ends inside a header's value")
    _fails(_frame(b"\x09nam"), "ends inside a header's name")
    _fails(_frame(b"\x01a\x07\x00\x02\xff\xfe"), "string value is not UTF-8")
    _fails(_frame(b"\x01a\x00\x01a\x01"), "header 'a' appears twice")


def test_truncated_stream_is_reported_by_close():
    stream = GOOD + GOOD
    for cut in (1, 11, 12, len(GOOD) + 20, len(stream) - 1):
        dec = EventStreamDecoder()
        msgs = dec.feed(stream[:cut])
        assert len(msgs) == cut // len(GOOD) and dec.close() == cut % len(GOOD) > 0
    dec = EventStreamDecoder()
    dec.feed(stream)
    assert dec.close() == 0
    with pytest.raises(ValueError):
        dec.feed(b"")


def test_many_frames_in_small_pieces_stay_linear():
    """A long stream in 7-byte reads: the buffer never holds more than about a frame."""
    frame = encode_message({":event-type": "contentBlockDelta"}, b'{"delta":{"text":"' + b"x" * 200 + b'"}}')
    stream = frame * 2000
    dec = EventStreamDecoder()
    count = peak = 0
    for i in range(0, len(stream), 7):
        count += len(dec.feed(stream[i:i + 7]))
        peak = max(peak, len(dec._buf))
    assert count == 2000 and dec.close() == 0 and peak < 2 * len(frame) + 16
