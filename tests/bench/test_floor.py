"""The floor client and the calibration's per-process clients against the simulator's truth."""
from __future__ import annotations

from tokenrace.bench.calibrate import calibrate, format_table
from tokenrace.bench.floor import parse_response


async def test_the_floor_row_matches_the_truth_and_every_row_carries_it():
    rows = await calibrate((2,), naive=False, min_requests=4, in_process=True, floor_row=True)
    floor, ours = rows
    assert (floor.client, ours.client) == ("floor", "tokenrace")
    for r in rows:
        # every request matched to its truth by the simulator's id, chunk for chunk (ITL pairs need equal texts)
        assert r.matched == r.requests == 4 and r.itl_err["count"] == 4 * 15
        assert r.cpu_ms is not None and r.cpu_ms > r.cpu_steady_ms > 0      # whole process includes start-up
        assert r.floor["ttft_p50"] == floor.ttft_err["p50"] and r.floor["cpu_ms"] == floor.cpu_ms
    assert floor.loop in ("uvloop", "asyncio") and floor.first_chunk_lag["count"] == 4
    table = format_table(rows)
    assert "| 2 | floor |" in table and f"({floor.ttft_err['p50']:.2f})" in table


def test_a_response_split_anywhere_gives_each_event_the_read_that_completed_it():
    events = [b'data: {"choices":[{"delta":{"content":"%s"}}]}\n\n' % t.encode() for t in ("a", "b", "c")]
    events.append(b"data: [DONE]\n\n")
    body = b"".join(b"%x\r\n%s\r\n" % (len(e), e) for e in events) + b"0\r\n\r\n"
    raw = b"HTTP/1.1 200 OK\r\nx-sim-request-id: sim-7\r\nTransfer-Encoding: chunked\r\n\r\n" + body
    last = []                            # raw offset of each content event's last byte (its blank line's "\n")
    pos = 0
    for _ in range(3):
        pos = raw.index(b"\n\n", raw.index(b"data:", pos)) + 1
        last.append(pos)
    for cut in range(1, len(raw)):
        rid, chunks = parse_response([(1, raw[:cut]), (2, raw[cut:])])
        assert rid == "sim-7" and [t for _, t in chunks] == ["a", "b", "c"]
        assert [t for t, _ in chunks] == [1 if end < cut else 2 for end in last], cut
