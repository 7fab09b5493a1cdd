"""Tests for tokenrace.sse: the WHATWG rules and the 16 edge cases of docs/sse-parsing.md."""
from __future__ import annotations

import re
import time

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tokenrace.errors import SSEError
from tokenrace.sse import (
    NDJSONDecoder,
    SSEDecoder,
    SSEEvent,
    encode_comment,
    encode_event,
)

PROPS = settings(max_examples=200, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow])


def parse(*chunks: bytes, **kw) -> list[SSEEvent]:
    d = SSEDecoder(**kw)
    out: list[SSEEvent] = []
    for c in chunks:
        out += d.feed(c)
    out += d.close()
    return out


def parse_bytewise(raw: bytes) -> list[SSEEvent]:
    return parse(*(raw[i:i + 1] for i in range(len(raw))))


def ev(data: str, event: str = "message", id: str = "", retry: int | None = None) -> SSEEvent:
    return SSEEvent(data=data, event=event, id=id, retry=retry)


def reference(raw: bytes) -> tuple[list[SSEEvent], str]:
    """A deliberately naive WHATWG parser over the whole stream at once (the oracle)."""
    text = raw.decode("utf-8", "replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = re.split(r"\r\n|\r|\n", text)[:-1]  # the last piece never ended: dropped
    events, data, etype, last_id, retry = [], "", "", "", None
    resume_id = ""   # EventSource's "last event ID string": the buffer as of the last dispatch
    for line in lines:
        if line == "":
            resume_id = last_id
            if data:
                events.append(SSEEvent(data[:-1], etype or "message", last_id, retry))
            data, etype, retry = "", "", None
            continue
        if line.startswith(":"):
            continue
        if ":" in line:
            field, value = line.split(":", 1)
            if value.startswith(" "):
                value = value[1:]
        else:
            field, value = line, ""
        if field == "event":
            etype = value
        elif field == "data":
            data += value + "\n"
        elif field == "id":
            if "\0" not in value:
                last_id = value
        elif field == "retry":
            if value and all(c in "0123456789" for c in value):
                retry = int(value)
    return events, resume_id


def test_resume_id_ignores_the_id_of_an_event_cut_mid_way():
    """A connection cut inside event 8 must resume after 7, or event 8 is lost."""
    d = SSEDecoder()
    assert [e.id for e in d.feed(b"id: 7\ndata: seven\n\nid: 8\ndata: ei")] == ["7"]
    assert d.last_event_id == "7"
    d.close()
    assert d.last_event_id == "7"
    d2 = SSEDecoder()
    d2.feed(b"id: 9\n\n")          # an id-only block still moves the resume point
    assert d2.last_event_id == "9"


# ------------------------------------------------------------ edge cases 1-16

def test_edge_01_cr_lf_split_across_reads_is_one_line_end():
    d = SSEDecoder()
    assert d.feed(b"data: a\r") == []
    assert d.feed(b"\ndata: b\r") == []          # the LF completes the CRLF, no blank line
    assert d.feed(b"\n\r") == [ev("a\nb")]        # the blank line (lone CR) dispatches at once
    assert d.feed(b"\n") == []                    # ... and this LF belongs to that CR
    assert d.close() == []
    # a lone CR at the end of a read that is *not* followed by LF is still a line end
    assert parse(b"data: a\r", b"data: b\r", b"\r") == [ev("a\nb")]


def test_edge_02_crlf_streams_parse():
    raw = (b'data: {"candidates": [1]}\r\n\r\n'
           b'data: {"candidates": [2]}\r\n\r\n')
    want = [ev('{"candidates": [1]}'), ev('{"candidates": [2]}')]
    assert parse(raw) == want
    assert parse_bytewise(raw) == want


def test_edge_03_no_splitlines_on_unicode_separators():
    specials = "\u2028\u2029\u0085\x0b\x0c\x1c\x1d\x1e"
    payload = '{"text": "a' + specials + 'b"}'
    raw = ("data: " + payload + "\n\n").encode()
    assert parse(raw) == [ev(payload)]
    assert parse_bytewise(raw) == [ev(payload)]


def test_edge_04_multibyte_char_split_across_reads():
    text = "日本語 🎉 é \u2028"
    raw = ("data: " + text + "\n\n").encode()
    for cut in range(1, len(raw)):
        assert parse(raw[:cut], raw[cut:]) == [ev(text)], cut
    assert parse_bytewise(raw) == [ev(text)]


def test_edge_05_always_utf8_and_invalid_bytes_never_raise():
    # no charset anywhere: bytes are UTF-8 (not latin-1)
    assert parse("data: café ✓\n\n".encode()) == [ev("café ✓")]
    # invalid bytes become U+FFFD
    assert parse(b"data: a\xff\xfeb\n\n") == [ev("a\ufffd\ufffdb")]
    # a truncated character before a line end also becomes U+FFFD
    assert parse(b"data: a\xe6\x97\n\n") == [ev("a\ufffd")]


def test_edge_06_leading_bom_is_stripped():
    assert parse(b"\xef\xbb\xbfdata: x\n\n") == [ev("x")]
    assert parse(b"\xef\xbb\xbfevent: e\ndata: x\n\n") == [ev("x", "e")]
    # BOM split across reads
    assert parse(b"\xef", b"\xbb", b"\xbfdata: x\n\n") == [ev("x")]
    assert parse(b"\xef\xbb", b"\xbfdata: x\n\n") == [ev("x")]


def test_edge_07_exactly_one_leading_space_stripped():
    assert parse(b'data:{"a":1}\n\n') == [ev('{"a":1}')]
    assert parse(b"data:  two\n\n") == [ev(" two")]
    assert parse(b"data:\tx\n\n") == [ev("\tx")]
    assert parse(b"data: x \n\n") == [ev("x ")]
    assert parse(b"event:  sp\ndata: x\n\n") == [ev("x", " sp")]


def test_edge_08_comment_lines_never_reach_the_consumer():
    raw = (b": keep-alive\n\n"
           b":\n"
           b'data: {"n":1}\n\n'
           b": ping - 2024-05-01 12:00:00.000000+00:00\r\n\r\n"
           b": OPENROUTER PROCESSING\n\n"
           b'data: {"n":2}\n'
           b": in the middle of an event\n"
           b'data: {"n":3}\n\n')
    assert parse(raw) == [ev('{"n":1}'), ev('{"n":2}\n{"n":3}')]


def test_edge_09_no_phantom_empty_events():
    assert parse(b"event: ping\n\n") == []
    assert parse(b"id: 1\n: comment\n\n") == []
    d = SSEDecoder()
    assert d.feed(b"id: 1\n: comment\n\nevent: ping\n\n") == []
    assert d.last_event_id == "1"
    # the event type of the data-less block does not leak into the next event
    assert d.feed(b"data: x\n\n") == [ev("x", id="1")]


def test_edge_10_empty_data_dispatches_empty_string_but_no_data_does_not():
    assert parse(b"data:\n\n") == [ev("")]
    assert parse(b"data\n\n") == [ev("")]
    assert parse(b"data: \n\n") == [ev("")]
    assert parse(b"data:\ndata:\n\n") == [ev("\n")]
    assert parse(b"event: x\nid: 3\nretry: 5\n\n") == []


def test_edge_11_several_data_lines_join_with_lf():
    raw = b'data: {"a":\ndata:  1,\ndata: "b": 2}\n\n'
    assert parse(raw) == [ev('{"a":\n 1,\n"b": 2}')]


def test_edge_12_several_events_per_read_and_one_event_over_many_reads():
    raw = b"".join(f"data: {i}\n\n".encode() for i in range(50))
    assert parse(raw) == [ev(str(i)) for i in range(50)]
    d = SSEDecoder()
    assert d.feed(raw[:5]) == []
    got = d.feed(raw[5:])
    assert got == [ev(str(i)) for i in range(50)]
    assert parse_bytewise(b"event: big\ndata: " + b"x" * 500 + b"\n\n") == [ev("x" * 500, "big")]


def test_edge_13_very_long_lines_have_a_cap_not_a_64k_limit():
    big = "A" * (3 * 1024 * 1024)
    raw = f'data: {{"sig": "{big}"}}\n\n'.encode()
    chunks = [raw[i:i + 65536] for i in range(0, len(raw), 65536)]
    assert parse(*chunks) == [ev(f'{{"sig": "{big}"}}')]
    # over the cap: a clear error naming the limit
    with pytest.raises(SSEError, match="max_line_chars=1000"):
        parse(b"data: " + b"x" * 2000 + b"\n\n", max_line_chars=1000)


def test_edge_13_cap_fails_before_the_line_ends():
    d = SSEDecoder(max_line_chars=100)
    d.feed(b"data: " + b"x" * 90)
    with pytest.raises(SSEError, match="100"):
        d.feed(b"y" * 20)                 # no line end yet: the decoder refuses to buffer more


def _time_long_line(chunks: list[bytes], n_bytes: int) -> float:
    d = SSEDecoder()
    t0 = time.process_time()             # CPU time: robust to a busy machine
    for c in chunks:
        out = d.feed(c)
    elapsed = time.process_time() - t0
    assert len(out) == 1 and len(out[0].data) == n_bytes
    return elapsed


def test_edge_13_long_line_in_small_chunks_is_linear():
    sizes = (1024 * 1024, 4 * 1024 * 1024)
    lines = {n: b"data: " + b"x" * n + b"\n\n" for n in sizes}
    chunks = {n: [raw[i:i + 64] for i in range(0, len(raw), 64)] for n, raw in lines.items()}
    best = {n: float("inf") for n in sizes}
    for _ in range(5):                    # interleaved, best of 5
        for n in sizes:
            best[n] = min(best[n], _time_long_line(chunks[n], n))
    t1, t4 = best[sizes[0]], best[sizes[1]]
    assert t4 / t1 < 8, (t1, t4)          # linear: ~4; quadratic: ~16


def test_edge_14_retry_only_ascii_digits():
    for bad in ("+5", "5 ", " 5", "-5", "5.0", "٥", "５", "²", "", "0x10", "1e3"):
        assert parse(f"retry: {bad}\ndata: x\n\n".encode()) == [ev("x")], bad
    assert parse(b"retry: 1500\ndata: x\n\n") == [ev("x", retry=1500)]
    assert parse(b"retry:007\ndata: x\n\n") == [ev("x", retry=7)]
    # absurdly many digits: ignored, never raises
    assert parse(b"retry: " + b"9" * 10000 + b"\ndata: x\n\n") == [ev("x")]


def test_edge_15_mixed_line_endings_in_one_stream():
    raw = (b": ping\r\n\r\n"
           b"data: a\n\n"
           b"data: b\r\r"
           b"event: e\r\ndata: c\n\r\n"
           b"data: d\r\n\n")
    want = [ev("a"), ev("b"), ev("c", "e"), ev("d")]
    assert parse(raw) == want
    assert parse_bytewise(raw) == want
    # \r\r\n\n is three line ends: blank, blank after data "x" -> one event, then nothing
    assert parse(b"data: x\r\r\n\n") == [ev("x")]
    assert parse(b"data: x\r\r\n\ndata: y\n\n") == [ev("x"), ev("y")]


def test_edge_16_done_is_ordinary_data_and_truncation_is_visible():
    d = SSEDecoder()
    assert d.feed(b"data: {}\n\ndata: [DONE]\n\n") == [ev("{}"), ev("[DONE]")]
    assert not d.has_partial
    assert d.close() == []
    # a stream that closes mid-event: has_partial tells the adapter, close() discards
    d = SSEDecoder()
    assert d.feed(b"event: message_start\ndata: {}\n\nevent: content_block_delta\ndata: {\"del") \
        == [ev("{}", "message_start")]
    assert d.has_partial
    assert d.close() == []
    assert not d.has_partial


# ------------------------------------------------------------ WHATWG rules

def test_rule_bom_only_at_stream_start():
    assert parse(b"data: \xef\xbb\xbfx\n\n") == [ev("\ufeffx")]
    # only one BOM is stripped
    assert parse(b"\xef\xbb\xbf\xef\xbb\xbfdata: x\n\n") == []   # field is "\ufeffdata"
    d = SSEDecoder()
    d.feed(b"data: a\n\n")
    assert d.feed(b"\xef\xbb\xbfdata: b\n\n") == []              # not at start: not stripped


def test_rule_id_with_nul_is_ignored():
    d = SSEDecoder()
    assert d.feed(b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n") == [ev("a", id="1"), ev("b", id="1")]
    assert d.last_event_id == "1"


def test_rule_empty_id_resets():
    d = SSEDecoder()
    assert d.feed(b"id: 5\ndata: a\n\nid\ndata: b\n\n") == [ev("a", id="5"), ev("b", id="")]
    assert d.feed(b"id: 6\n\nid:\ndata: c\n\n") == [ev("c", id="")]
    assert d.last_event_id == ""


def test_rule_id_persists_across_dispatches():
    d = SSEDecoder()
    got = d.feed(b"id: 42\ndata: a\n\ndata: b\n\n")
    assert got == [ev("a", id="42"), ev("b", id="42")]
    assert d.last_event_id == "42"
    d.close()
    assert d.last_event_id == "42"   # kept for the reconnect's Last-Event-ID


def test_rule_retry_only_digits_and_per_event():
    d = SSEDecoder()
    got = d.feed(b"retry: 3000\n\ndata: a\n\nretry: 10\nretry: x\ndata: b\n\ndata: c\n\n")
    assert got == [ev("a"), ev("b", retry=10), ev("c")]
    assert d.retry == 10            # the stream's reconnection time, also from data-less blocks
    d2 = SSEDecoder()
    d2.feed(b"retry: 3000\n\n")
    assert d2.retry == 3000


def test_rule_unknown_fields_ignored():
    raw = b"foo: bar\nData: no\nDATA: no\nEvent: no\nid : no\n data: no\ndata: yes\n\n"
    assert parse(raw) == [ev("yes")]
    assert parse(b"foo: bar\n\n") == []


def test_rule_field_without_colon_has_empty_value():
    assert parse(b"data\ndata\n\n") == [ev("\n")]
    assert parse(b"event\ndata: x\n\n") == [ev("x")]     # empty type -> "message"
    d = SSEDecoder()
    d.feed(b"id: 9\n\nid\n\n")
    assert d.last_event_id == ""


def test_rule_exactly_one_leading_space_stripped():
    assert parse(b"data:x\n\n") == [ev("x")]
    assert parse(b"data: x\n\n") == [ev("x")]
    assert parse(b"data:   x  \n\n") == [ev("  x  ")]
    d = SSEDecoder()
    d.feed(b"id:  7\n\n")
    assert d.last_event_id == " 7"


def test_rule_invalid_utf8_never_raises():
    for raw in (b"\xff\xfe\xfd\n\n", b"data: \xc0\xaf\n\n", b"data: \xed\xa0\x80\n\n", b"\x80" * 9):
        assert parse(raw) == reference(raw)[0]
        assert parse_bytewise(raw) == reference(raw)[0]


def test_rule_value_after_first_colon_only():
    assert parse(b"data: a: b:c\n\n") == [ev("a: b:c")]
    assert parse(b"event:x:y\ndata::\n\n") == [ev(":", "x:y")]


def test_rule_event_type_defaults_to_message_and_resets_after_dispatch():
    d = SSEDecoder()
    got = d.feed(b"event: delta\ndata: a\n\ndata: b\n\nevent: \ndata: c\n\n")
    assert got == [ev("a", "delta"), ev("b"), ev("c")]


def test_rule_unterminated_event_discarded_at_close():
    d = SSEDecoder()
    assert d.feed(b"data: a\n\ndata: b\n") == [ev("a")]
    assert d.has_partial
    assert d.close() == []
    assert parse(b"data: a") == []
    assert parse(b"data: a\n") == []
    assert parse(b"data: a\r") == []            # one line end is not a blank line


def test_has_partial_states():
    d = SSEDecoder()
    assert not d.has_partial
    d.feed(b"\xe6")                   # half a character
    assert d.has_partial
    d.feed(b"\x97\xa5\n")             # a complete (unknown-field) line
    assert d.has_partial
    d.feed(b"\n")
    assert not d.has_partial
    d.feed(b": just a comment\n")
    assert not d.has_partial
    d.feed(b"da")
    assert d.has_partial


def test_feed_empty_chunk():
    d = SSEDecoder()
    assert d.feed(b"") == []
    assert d.feed(b"data: x\n") == []
    assert d.feed(b"") == []
    assert d.feed(b"\n") == [ev("x")]
    # an empty feed between CR and LF does not break the CRLF pair
    assert d.feed(b"data: y\r") == []
    assert d.feed(b"") == []
    assert d.feed(b"\n") == []
    assert d.feed(b"\r") == [ev("y")]
    assert d.feed(b"") == []
    assert d.feed(b"\ndata: z\n\n") == [ev("z")]


def test_decoder_usable_after_close_for_a_new_stream():
    d = SSEDecoder()
    d.feed(b"id: 3\ndata: half")
    d.close()
    assert d.feed(b"\xef\xbb\xbfdata: new\n\n") == [ev("new", id="3")]


def test_cap_applies_per_line_not_per_chunk():
    d = SSEDecoder(max_line_chars=20)
    raw = b"".join(b"data: %02d\n\n" % i for i in range(40))   # chunk >> cap, lines short
    assert len(d.feed(raw)) == 40
    with pytest.raises(SSEError):
        SSEDecoder(max_line_chars=20).feed(b"data: x\n\n" + b"data: " + b"y" * 30 + b"\n\n")


BLOCKS = ["data: x", "data:x", "data:", "data: ", "data", "data:  x", "event: e\ndata: x",
          "event: \ndata: x", "event:e\ndata: x", "event: e\ndata:x", "event: e\ndata: x\ndata: y",
          "event: e\ndata: x\n", "event: e\nid: 1", "event: e\n", "id: 7\ndata: x", "\ndata: x",
          ": c\ndata: x", "retry: 5\ndata: x", "event: e\ndata: a\ndata: ", "data: x\nevent: e",
          "event: ping", "event: e:f\ndata: x:y"]


@pytest.mark.parametrize("block", BLOCKS)
@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"])
def test_whole_event_blocks_match_reference(block, eol):
    """Chunks holding several whole events take a fast path: it must agree with the rules."""
    text = ("data: first\n\n" + (block + "\n\n") * 3 + "id: 9\n\n" + block + "\n\n").replace("\n", eol)
    raw = text.encode()
    want = reference(raw)
    assert run([raw]) == want
    assert run([raw[i:i + 1] for i in range(len(raw))]) == want
    assert run([b"data: a\nevent: t\n", raw]) == run([b"data: a\nevent: t\n" + raw])
    # one event per chunk (how servers flush): the single-event fast path
    assert run(event_chunks(raw)) == want


@pytest.mark.parametrize("chunk", [
    b"data: x\r\n\n", b"data: x\n\r\n", b"data: a\rb\n\n", b"data: x\r\r\n", b"data: x\r\n\r\n",
    b"event: e\r\ndata: x\n\n", b"event: e\ndata: x\r\n\r\n", b"event: e\rdata: x\n\n",
    b"event: e\ndata: x\rdata: y\n\n", b"data: x\n\ndata: y\n\n", b"data: \xe6\x97\xa5\n\n",
    b"data: \xff\n\n", b"event: \ndata: x\n\n", b"data: x\n", b"data: x\ndata: y\n\n", b"data:x\n\n",
    b"event: a\nid: 1\ndata: x\n\n", b"event: e\n\n", b"event:e\ndata: x\n\n", b"data: \x00\n\n",
])
def test_single_event_chunks_match_reference(chunk):
    """Chunks that look like one simple event take a fast path: it must agree with the rules."""
    for before in (b"", b": hi\n\n", b"id: 4\n\n", b"data: p", b"event: t\n", b"retry: 9\n",
                   b"data: q\r", b"\xe6", b"id: 5\n", b": hi\n\n\xe6", b"data: a\n\n\xe6\x97"):
        raw = before + chunk + chunk + b"data: end\n\n"
        want = reference(raw)
        assert run([before, chunk, chunk, b"data: end\n\n"]) == want, before
        assert run([raw]) == want


# ------------------------------------------------------------ property tests

SPECIALS = ["\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c", "\x1e", "\0", "\ufeff",
            "🎉", "日本", "é", ":", " ", "\t", "\r", "\n", "\r\n"]
TEXT = st.lists(st.one_of(st.sampled_from(SPECIALS), st.characters(blacklist_categories=("Cs",))),
                max_size=20).map("".join)
EOL = st.sampled_from(["\n", "\r\n", "\r"])
FIELD = st.sampled_from(["data"] * 6 + ["event", "id", "retry", "foo", "", "Data"])
VALUE = st.one_of(TEXT, st.integers(0, 10**6).map(str), st.sampled_from(["+5", "5 ", "٥"]))


@st.composite
def line_st(draw) -> str:
    kind = draw(st.sampled_from(["field"] * 4 + ["blank"] * 3 + ["nocolon", "comment"]))
    if kind == "blank":
        return ""
    if kind == "comment":
        return ":" + draw(TEXT)
    if kind == "nocolon":
        return draw(FIELD)
    sp = draw(st.sampled_from(["", " ", "  "]))
    return f"{draw(FIELD)}:{sp}{draw(VALUE)}"


@st.composite
def stream_st(draw) -> bytes:
    lines = draw(st.lists(line_st(), min_size=2, max_size=30))
    out = "\ufeff" if draw(st.booleans()) else ""
    for ln in lines:
        out += ln + draw(EOL)
    if draw(st.booleans()):
        out += draw(TEXT)                     # an unterminated tail
    return out.encode("utf-8", "surrogatepass")


def event_chunks(raw: bytes) -> list[bytes]:
    """Cut after every blank line (LF or CRLF), as a server flushing per event would."""
    ends = [m.end() for m in re.finditer(rb"\n\n|\r\n\r\n", raw)]
    out, prev = [], 0
    for e in ends:
        out.append(raw[prev:e])
        prev = e
    out.append(raw[prev:])
    return out


def cut(raw: bytes, positions: list[int]) -> list[bytes]:
    pos = sorted({p % (len(raw) + 1) for p in positions})
    out, prev = [], 0
    for p in pos + [len(raw)]:
        out.append(raw[prev:p])
        prev = p
    return out


def run(chunks: list[bytes], partial: bool = False) -> tuple:
    """Events and last event id; with ``partial``, also has_partial before close()."""
    d = SSEDecoder()
    out: list[SSEEvent] = []
    for c in chunks:
        out += d.feed(c)
    was_partial = d.has_partial
    out += d.close()
    return (out, d.last_event_id, was_partial) if partial else (out, d.last_event_id)


@PROPS
@given(stream_st(), st.lists(st.integers(0, 10**6), max_size=40))
def test_prop_split_anywhere_equals_whole_and_reference(raw, positions):
    whole = run([raw], partial=True)
    assert run(cut(raw, positions), partial=True) == whole
    assert run(event_chunks(raw), partial=True) == whole
    assert whole[:2] == reference(raw)


@PROPS
@given(stream_st())
def test_prop_bytewise_equals_whole(raw):
    assert run([raw[i:i + 1] for i in range(len(raw))], partial=True) == run([raw], partial=True)


@PROPS
@given(st.binary(max_size=300), st.lists(st.integers(0, 10**6), max_size=20))
def test_prop_arbitrary_bytes_split_invariant(raw, positions):
    whole = run([raw], partial=True)
    assert run(cut(raw, positions), partial=True) == whole
    assert run(event_chunks(raw), partial=True) == whole
    assert whole[:2] == reference(raw)


NO_EOL_TEXT = st.lists(st.one_of(st.sampled_from(["🎉", "日本", "\u2028", "\x85", ":", " "]),
                                 st.characters(blacklist_categories=("Cs",),
                                               blacklist_characters="\r\n\0")),
                       max_size=20).map("".join)


@PROPS
@given(TEXT, st.one_of(st.none(), NO_EOL_TEXT), st.one_of(st.none(), NO_EOL_TEXT, st.integers(0, 10**9)),
       st.one_of(st.none(), st.integers(0, 10**9)), st.lists(st.integers(0, 10**6), max_size=10))
def test_prop_encode_event_round_trips(data, event, id_, retry, positions):
    raw = encode_event(data, event=event, id=id_, retry=retry)
    got, last_id = run(cut(raw, positions))
    want_data = data.replace("\r\n", "\n").replace("\r", "\n")
    assert got == [SSEEvent(want_data, event or "message",
                            "" if id_ is None else str(id_), retry)]


@settings(PROPS, max_examples=100)
@given(st.lists(st.tuples(TEXT, st.one_of(st.none(), TEXT), st.one_of(st.none(), TEXT)), max_size=6),
       st.lists(TEXT, max_size=3), st.lists(st.integers(0, 10**6), max_size=20))
def test_prop_encoded_stream_with_injection_attempts(items, comments, positions):
    """Values containing CR/LF cannot inject fields: a stream of encoded events decodes to them."""
    raw = b"".join(encode_comment(c) for c in comments)
    want, last = [], ""
    for data, event, id_ in items:
        raw += encode_event(data, event=event, id=id_)
        if id_ is not None:
            last = id_.replace("\r", "").replace("\n", "").replace("\0", "")
        e = (event or "").replace("\r", "").replace("\n", "")
        want.append(SSEEvent(data.replace("\r\n", "\n").replace("\r", "\n"), e or "message", last))
    got, _ = run(cut(raw, positions))
    assert got == want


# ------------------------------------------------------------ writer

def test_encode_event_format():
    assert encode_event("hi") == b"data: hi\n\n"
    assert encode_event("") == b"data: \n\n"
    assert encode_event("a\r\nb\rc\nd", event="delta", id=7, retry=1500) == (
        b"event: delta\nid: 7\nretry: 1500\ndata: a\ndata: b\ndata: c\ndata: d\n\n")
    assert encode_event("x", event="a\r\nb", id="1\n2\r3") == b"event: ab\nid: 123\ndata: x\n\n"
    assert encode_event("é🎉") == "data: é🎉\n\n".encode()
    with pytest.raises(ValueError):
        encode_event("x", retry=-1)


def test_encode_event_id_nul_and_empty():
    assert encode_event("x", id="a\0b") == b"id: ab\ndata: x\n\n"
    d = SSEDecoder()
    d.feed(encode_event("x", id="5"))
    assert d.feed(encode_event("y", id="")) == [ev("y", id="")]


def test_encode_comment():
    assert encode_comment("ping") == b": ping\n\n"
    assert encode_comment() == b":\n\n"
    assert encode_comment("a\r\nb\nc") == b": abc\n\n"
    assert parse(encode_comment("x\ndata: injected")) == []


# ------------------------------------------------------------ NDJSON

def nd(*chunks: bytes, **kw) -> list[str]:
    d = NDJSONDecoder(**kw)
    out: list[str] = []
    for c in chunks:
        out += d.feed(c)
    return out + d.close()


def test_ndjson_basic_crlf_blank_lines_and_final_line():
    raw = b'{"a":1}\n{"b":2}\r\n\n\r\n   \n{"c":3}'
    assert nd(raw) == ['{"a":1}', '{"b":2}', '{"c":3}']
    d = NDJSONDecoder()
    assert d.feed(b'{"a":1}\n{"c"') == ['{"a":1}']
    assert d.has_partial
    assert d.close() == ['{"c"']
    assert nd(b'{"x":1}\r') == ['{"x":1}']          # final line: a trailing CR is dropped


def test_ndjson_lone_cr_is_not_a_line_end_and_unicode_separators_kept():
    assert nd(b'{"t":"a\rb"}\n') == ['{"t":"a\rb"}']
    line = '{"t":"a\u2028b\x85c"}'
    assert nd((line + "\n").encode()) == [line]


def test_ndjson_multibyte_split_and_split_anywhere():
    lines = ['{"t":"日本🎉"}', '{"done":true}']
    raw = ("\r\n".join(lines) + "\n").encode()
    for c in range(len(raw) + 1):
        assert nd(raw[:c], raw[c:]) == lines, c
    assert nd(*(raw[i:i + 1] for i in range(len(raw)))) == lines


@PROPS
@given(st.lists(st.tuples(NO_EOL_TEXT, st.sampled_from(["\n", "\r\n"])), max_size=10),
       st.lists(st.integers(0, 10**6), max_size=20), st.booleans())
def test_ndjson_prop_split_anywhere(items, positions, bom):
    raw = "".join(t + e for t, e in items).encode()
    assume(bom or not raw.startswith(b"\xef\xbb\xbf"))
    if bom:
        raw = b"\xef\xbb\xbf" + raw
    want = [t[:-1] if t.endswith("\r") else t for t, _ in items]
    want = [t for t in want if t and not t.isspace()]
    d = NDJSONDecoder()
    got = []
    for c in cut(raw, positions):
        got += d.feed(c)
    got += d.close()
    assert got == want


def test_ndjson_bom_and_cap():
    assert nd(b"\xef\xbb", b'\xbf{"a":1}\n') == ['{"a":1}']
    with pytest.raises(SSEError, match="max_line_chars=10"):
        nd(b"x" * 11, max_line_chars=10)
    with pytest.raises(SSEError):
        nd(b"x" * 5, b"y" * 5 + b"z\n", max_line_chars=10)
