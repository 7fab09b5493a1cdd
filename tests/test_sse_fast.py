"""SSEDecoder's fast path against its general path and a small reference decoder written from
the WHATWG rules (docs/sse-parsing.md), on random streams mixing every edge case, fed in pieces
split anywhere: every single byte, random cuts, fixed 7 B / 64 B reads, one event per read.

After every read the fast decoder must agree with one that only ever takes the general path:
the events returned, ``last_event_id``, ``retry``, ``comments``, ``has_partial`` and any error.
"""
from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokenrace.errors import SSEError
from tokenrace.sse import SSEDecoder, SSEEvent

PROPS = settings(max_examples=300, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


class GeneralOnly(SSEDecoder):
    """The same decoder with the fast path switched off: every read goes line by line."""

    __slots__ = ()

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        return self._feed_general(chunk)


def spec_decode(raw: bytes) -> tuple[list[SSEEvent], str, int | None, int]:
    """Reference: the whole stream at once, rule by rule. Returns events, the last event id
    as of the last dispatch, the stream's last valid retry and the number of comment lines."""
    text = raw.decode("utf-8", "replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = re.split(r"\r\n|\r|\n", text)[:-1]      # the last piece never ended
    events: list[SSEEvent] = []
    data, etype, last_id, resume_id = "", "", "", ""
    block_retry: int | None = None
    retry: int | None = None
    comments = 0
    for line in lines:
        if line == "":
            resume_id = last_id
            if data:
                events.append(SSEEvent(data[:-1], etype or "message", last_id, block_retry))
            data, etype, block_retry = "", "", None
            continue
        if line.startswith(":"):
            comments += 1
            continue
        field, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if field == "event":
            etype = value
        elif field == "data":
            data += value + "\n"
        elif field == "id":
            if "\0" not in value:
                last_id = value
        elif field == "retry":
            if value and all(c in "0123456789" for c in value):
                block_retry = retry = int(value)
    return events, resume_id, retry, comments


# ------------------------------------------------------------ random streams

# Lone surrogates become single raw bytes (surrogateescape): invalid and truncated UTF-8.
SPECIALS = ["\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c", "\x1e", "\0", "\ufeff", "🎉", "日本",
            "é", ":", " ", "  ", "\t", "data: ", "\n\n", "retry", "\udcff", "\udce6\udc97", "\udcef\udcbb"]
VALUE = st.lists(st.one_of(st.sampled_from(SPECIALS),
                           st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n")),
                 max_size=12).map("".join)
JSONISH = st.integers(0, 10**6).map(lambda i: '{"choices":[{"delta":{"content":"tok %d"}}]}' % i)
LONG = st.sampled_from([2100, 4200, 9000]).flatmap(
    lambda n: st.sampled_from(["x", "é", "日"]).map(lambda c: c * (n // len(c.encode()))))
DATA = st.one_of(JSONISH, JSONISH, VALUE, LONG)
RETRY = st.one_of(st.integers(0, 10**5).map(str), st.sampled_from(["+5", "5 ", "٥", "", "1e3"]))


SP = st.sampled_from(["", " ", " ", " ", "  "])   # mostly one space, as servers write


@st.composite
def common_block(draw) -> list[str]:
    """The shapes real servers send (what the fast path is for)."""
    data = "data:" + draw(SP) + draw(DATA)
    kind = draw(st.sampled_from(["data", "data", "data", "event", "id", "event+id"]))
    if kind == "data":
        return [data]
    if kind == "event":
        etype = draw(st.sampled_from(["content_block_delta", "ping", "", "e:f", " x"]))
        return ["event:" + draw(SP) + etype, data]
    if kind == "id":
        return ["id:" + draw(SP) + draw(st.one_of(st.integers(0, 99).map(str), VALUE)), data]
    return ["event: delta", "id:" + draw(SP) + draw(st.integers(0, 99).map(str)), data]


@st.composite
def odd_line(draw) -> str:
    """Any line at all: comments, fields without a space or a colon, retry, unknown fields."""
    kind = draw(st.sampled_from(["field", "field", "comment", "nocolon", "retry"]))
    if kind == "comment":
        return ":" + draw(VALUE)
    if kind == "nocolon":
        return draw(st.sampled_from(["data", "event", "id", "retry", "foo", "Data"]))
    if kind == "retry":
        return "retry:" + draw(st.sampled_from(["", " "])) + draw(RETRY)
    field = draw(st.sampled_from(["data", "data", "event", "id", "foo", "Data", " data"]))
    return f"{field}:{draw(st.sampled_from(['', ' ', '  ']))}{draw(DATA)}"


BLOCK = st.one_of(common_block(), common_block(), common_block(),
                  st.lists(odd_line(), min_size=1, max_size=4))
EOL = ["\n", "\r\n", "\r"]


@st.composite
def stream_st(draw) -> bytes:
    blocks = draw(st.lists(BLOCK, min_size=1, max_size=12))
    style = draw(st.sampled_from(["\n", "\n", "\r\n", "\r\n", "\r", "mixed"]))
    out = "\ufeff" if draw(st.integers(0, 4)) == 0 else ""
    for block in blocks:
        for line in block + [""] * draw(st.sampled_from([1, 1, 1, 2])):
            out += line + (draw(st.sampled_from(EOL)) if style == "mixed" else style)
    if draw(st.booleans()):          # an unterminated event (or line) at the end
        out += draw(st.sampled_from(["data: cut", "event: e\ndata: x\n", "id: 9\n", ": c\n",
                                     "retry: 7\n", "data: a\r", "\udce6"]))
    return out.encode("utf-8", "surrogateescape")


def cut(raw: bytes, positions: list[int]) -> list[bytes]:
    pos = sorted({p % (len(raw) + 1) for p in positions})
    return [raw[a:b] for a, b in zip([0] + pos, pos + [len(raw)])]


def fixed(raw: bytes, n: int) -> list[bytes]:
    return [raw[i:i + n] for i in range(0, len(raw), n)] or [b""]


def per_event(raw: bytes) -> list[bytes]:
    ends = [m.end() for m in re.finditer(rb"\n\n|\r\n\r\n|\r\r", raw)]
    return cut(raw, ends)


def state(d: SSEDecoder) -> tuple:
    return d.last_event_id, d.retry, d.comments, d.has_partial


def run_both(chunks: list[bytes], **kw) -> tuple[list[SSEEvent], str, int | None, int]:
    """Feed both decoders; assert they agree after every read (and on errors); return the
    fast decoder's events, last_event_id, retry and comments after close()."""
    fast, slow = SSEDecoder(**kw), GeneralOnly(**kw)
    got: list[SSEEvent] = []
    for i, c in enumerate(chunks):
        try:
            want = slow.feed(c)
        except SSEError:
            with pytest.raises(SSEError):
                fast.feed(c)
            raise
        out = fast.feed(c)
        assert out == want, (i, c)
        assert state(fast) == state(slow), (i, c)
        got += out
    assert fast.close() == slow.close() == []
    assert state(fast) == state(slow)
    return got, fast.last_event_id, fast.retry, fast.comments


def splits(raw: bytes, positions: list[int]) -> list[list[bytes]]:
    return [[raw], cut(raw, positions), fixed(raw, 7), fixed(raw, 64), per_event(raw)]


@PROPS
@given(stream_st(), st.lists(st.integers(0, 10**6), max_size=30))
def test_prop_fast_equals_general_and_reference(raw, positions):
    want = spec_decode(raw)
    for chunks in splits(raw, positions):
        assert run_both(chunks) == want


@settings(PROPS, max_examples=150)
@given(stream_st())
def test_prop_every_single_byte(raw):
    assert run_both([raw[i:i + 1] for i in range(len(raw))]) == spec_decode(raw)


@settings(PROPS, max_examples=150)
@given(st.lists(stream_st(), min_size=2, max_size=4), st.lists(st.integers(0, 10**6), max_size=30))
def test_prop_many_events_per_read(streams, positions):
    """Long runs of events in big reads (the C-level split) with odd blocks among them."""
    raw = b"".join(s.lstrip(b"\xef\xbb\xbf") for s in streams if s.endswith((b"\n", b"\r")))
    want = spec_decode(raw)
    for chunks in splits(raw, positions):
        assert run_both(chunks) == want


@settings(PROPS, max_examples=150)
@given(stream_st(), st.lists(st.integers(0, 10**6), max_size=20), st.integers(1, 300))
def test_prop_line_cap_same_error_at_the_same_read(raw, positions, cap):
    """A line over max_line_chars fails at the same read on both paths, after the same events."""
    for chunks in splits(raw, positions):
        try:
            run_both(chunks, max_line_chars=cap)
        except SSEError as e:
            assert f"max_line_chars={cap}" in str(e)


@PROPS
@given(st.binary(max_size=400), st.lists(st.integers(0, 10**6), max_size=20))
def test_prop_arbitrary_bytes(raw, positions):
    want = spec_decode(raw)
    for chunks in splits(raw, positions):
        assert run_both(chunks) == want


# ------------------------------------------------------------ comments counter

def test_comments_counts_completed_comment_lines_on_every_path():
    raw = (b": keep-alive\n\n"            # alone in its block
           b'data: {"n":1}\n\n'
           b":\r\n"                        # empty comment, CRLF, inside an event
           b'data: {"n":2}\r\n\r\n'
           b": ping\r: two\r\r"            # lone CRs
           b"data: x\n: in the middle\ndata: y\n\n"
           b"data: z\n\n"
           b":not yet ended")
    for chunks in ([raw], [raw[i:i + 1] for i in range(len(raw))], fixed(raw, 7), per_event(raw)):
        d = SSEDecoder()
        for c in chunks:
            d.feed(c)
        assert d.comments == 5
        d.feed(b"\n")                      # now the last comment line has ended
        assert d.comments == 6
        d.close()
        assert d.comments == 6             # kept across close(), like last_event_id


def test_comments_counted_as_soon_as_the_line_ends():
    """The lead's idle timeout counts comment lines as progress: a heartbeat counts when its
    line ends, even while an event is half received."""
    d = SSEDecoder()
    assert d.feed(b"data: a\n\ndata: b") == [SSEEvent("a")]
    assert d.comments == 0
    d.feed(b"\n: ping")
    assert d.comments == 0
    d.feed(b"\n")
    assert d.comments == 1
    assert d.feed(b"\n") == [SSEEvent("b")]
    assert d.feed(b": one\n\n: two\n\n") == []
    assert d.comments == 3
    d.feed(b":")
    d.close()                              # an unended comment line is not counted
    assert d.comments == 3


def test_comments_not_confused_with_data_or_fields():
    d = SSEDecoder()
    d.feed(b"data: :x\n\ndata::y\n\nevent: :\ndata: z\n\n x\n\n")
    assert d.comments == 0


# ------------------------------------------------------------ fast path specifics

def test_crlf_blank_line_split_after_its_cr_dispatches_at_once():
    d = SSEDecoder()
    assert d.feed(b"data: a\r\n\r") == [SSEEvent("a")]   # the lone CR could end the blank line
    assert d.feed(b"\ndata: b\r\n\r\n") == [SSEEvent("b")]


def test_many_events_in_one_read_with_odd_blocks_among_them():
    raw = (b"data: 1\n\n" * 3 + b": hb\n\n" + b"id: 7\ndata: 2\n\n" + b"event: e\ndata: 3\n\n"
           + b"retry: 50\ndata: 4\n\n" + b"data: 5\ndata: 6\n\n" + b"id: a\x00b\ndata: 7\n\n"
           + b"data:8\n\n" + b"\n\n" + b"data: 9\n\n")
    d = SSEDecoder()
    got = d.feed(raw)
    assert got == [SSEEvent("1")] * 3 + [SSEEvent("2", id="7"), SSEEvent("3", "e", "7"),
                                         SSEEvent("4", id="7", retry=50), SSEEvent("5\n6", id="7"),
                                         SSEEvent("7", id="7"), SSEEvent("8", id="7"),
                                         SSEEvent("9", id="7")]
    assert (d.last_event_id, d.retry, d.comments) == ("7", 50, 1)


@pytest.mark.parametrize("field", ["event", "id", "data"])
def test_many_blocks_per_read_with_mixed_spacing_after_the_colon(field):
    """Blocks are split on the first block's spacing; others keep exactly-one-space rules."""
    first, other = (f"{field}:x", f"{field}: y") if field == "data" else (
        f"{field}:x\ndata: 1", f"{field}: y\ndata: 2")
    start = b"data: 0\n\n"                # (the stream's first read goes the general way)
    raw = f"{first}\n\n{other}\n\n{other.replace(': ', ':  ')}\n\n".encode()
    want = spec_decode(start + raw)
    assert run_both([start, raw]) == want
    assert run_both([start] + [raw[i:i + 1] for i in range(len(raw))]) == want
    if field == "event":
        assert [e.event for e in want[0]] == ["message", "x", "y", " y"]


def test_retry_line_of_an_unfinished_event_takes_effect_at_once():
    """WHATWG sets the reconnection time when the line is read, not when the event ends."""
    d = SSEDecoder()
    d.feed(b"data: a\n\n")
    d.feed(b"retry: 1234\ndata: partial")
    assert d.retry == 1234
    d.close()
    assert d.retry == 1234


def test_id_line_of_a_cut_event_still_carries_over_after_close():
    for chunks in ([b"data: a\n\nid: 3\ndata: half"], [b"data: a\n\n", b"id: 3\n", b"data: half"]):
        d = SSEDecoder()
        for c in chunks:
            d.feed(c)
        assert d.last_event_id == ""
        d.close()
        assert d.feed(b"data: new\n\n") == [SSEEvent("new", id="3")]


@pytest.mark.parametrize("size", [1, 7, 64, 4096, 65536])
def test_long_event_lines_in_any_read_size(size):
    blob = "é" * 300_000
    raw = b"".join(f'id: {i}\ndata: {{"b64": "{blob}"}}\n\n'.encode() for i in range(3))
    got = run_both(fixed(raw, size))
    assert got[0] == [SSEEvent(f'{{"b64": "{blob}"}}', id=str(i)) for i in range(3)]


def test_cap_with_raw_bytes_kept_counts_characters_not_bytes():
    """The fast path keeps bytes; the cap is in characters (a 3-byte character counts one)."""
    d = SSEDecoder(max_line_chars=100)
    d.feed(b"data: a\n\n")
    d.feed("data: ".encode() + "日".encode() * 60)       # 186 bytes, 66 characters
    d.feed("日".encode() * 30)                            # 96 characters
    assert d.feed(b"\n\n") == [SSEEvent("日" * 90)]
    with pytest.raises(SSEError, match="max_line_chars=100"):
        d.feed("data: ".encode() + "日".encode() * 95)   # 101 characters, no line end yet


def test_parser_modules_import_only_the_stdlib():
    """tokenrace/sse*.py: stdlib and each other only (no I/O, no third-party imports)."""
    import ast
    import sys
    from pathlib import Path

    pkg = Path(__file__).resolve().parents[1] / "tokenrace"
    files = sorted(pkg.glob("sse*.py"))
    assert {f.name for f in files} >= {"sse.py", "sse_lines.py", "sse_write.py"}
    allowed_local = {"errors", "sse_lines", "sse_write"}
    for f in files:
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    assert node.module in allowed_local, (f.name, node.module)
                    continue
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in sys.stdlib_module_names | {"__future__"}, (f.name, name)
