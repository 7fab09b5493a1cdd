"""Calibration: our measured TTFT/ITL against the simulator's truth, and the naive client beside it."""
from __future__ import annotations

from tokenrace.bench.calibrate import calibrate, format_table, parse_levels

import pytest

from tokenrace.errors import UsageError


async def test_calibration_reports_small_errors_for_us_and_the_naive_client():
    rows = await calibrate((1, 4), min_requests=6, in_process=True)
    assert [(r.client, r.concurrency) for r in rows] == [("tokenrace", 1), ("naive", 1), ("tokenrace", 4),
                                                          ("naive", 4)]
    for r in rows:
        assert r.matched == r.requests >= 6
        assert r.ttft_err["count"] == r.matched and r.itl_err["count"] > 0
        # loose bounds: loopback on a possibly busy 2-core machine; the exact figures go in BENCHMARKS.md
        assert r.ttft_err["p50"] < 50 and r.itl_err["p50"] < 5, r
    ours = rows[0]
    assert ours.first_chunk_lag["p50"] < 10 and ours.lag["p99_ms"] is not None
    table = format_table(rows)
    assert table.count("| tokenrace |") == 2 and table.count("| naive |") == 2


async def test_calibration_against_a_simulator_in_its_own_process():
    rows = await calibrate((2,), naive=False, min_requests=4, in_process=False)
    assert len(rows) == 1 and rows[0].matched == 4 and rows[0].ttft_err["count"] == 4
    assert rows[0].ttft_err["p50"] < 100 and rows[0].to_received["count"] == 4


def test_levels():
    assert parse_levels("1,16, 64") == [1, 16, 64]
    for bad in ("0", "x", "", "1,257"):
        with pytest.raises(UsageError):
            parse_levels(bad)
