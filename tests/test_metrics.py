"""metrics.py on synthetic timelines: every figure of the README's definitions, by hand."""
from __future__ import annotations

import pytest

from tokenrace.events import (Failed, Finished, Headers, Notice, ReasoningDelta, Started, TextDelta, Usage)
from tokenrace.metrics import StreamAccumulator, compute, distribution, estimate_tokens, percentile, summarize

MS = 1_000_000
P = "p"


def timeline(*, usage=True, reasoning=False):
    """sent at 1000 ms; headers +50; text chunks at +200, +220, +250 (+250 twice: one read), +300; end +310."""
    ev = [Started(P, 1, 1000 * MS, model="m", t_queued_ns=990 * MS, connect_ns=3 * MS, reused=False,
                  attempt=1, t_send_start_ns=996 * MS),
          Headers(P, 2, 1050 * MS, status=200)]
    seq = 3
    if reasoning:
        ev.append(ReasoningDelta(P, seq, 1100 * MS, "thinking")); seq += 1
    for t, text in ((1200, "Hello"), (1220, " world"), (1250, ","), (1250, " again"), (1300, "!")):
        ev.append(TextDelta(P, seq, t * MS, text)); seq += 1
    if usage:
        ev.append(Usage(P, seq, 1300 * MS, input_tokens=7, output_tokens=11, reasoning_tokens=2 if reasoning else None)); seq += 1
    ev.append(Finished(P, seq, 1310 * MS, status="ok", reason="stop"))
    return ev


def test_core_figures():
    r = compute(timeline())
    assert r.status == "ok" and r.error is None and r.finish_reason == "stop"
    assert r.text == "Hello world, again!"
    assert r.ttfb_ms == 50.0
    assert r.ttft_ms == 200.0 and r.ttft_any_ms == 200.0
    assert r.e2e_ms == 310.0
    assert r.queue_ms == 3.0          # 996 - 990 - 3 ms of connection set-up
    assert r.connect_ms == 3.0 and r.reused is False
    assert r.output_tokens == 11 and r.token_source == "usage" and r.input_tokens == 7
    # (11 - 1) tokens over 100 ms after the first token
    assert r.tokens_per_s == 100.0 and r.tpot_ms == 10.0
    # chunks are distinct arrival times: 1200, 1220, 1250, 1300 -> gaps 20, 30, 50
    assert r.chunks == 4
    assert r.itl_ms["p50"] == 30.0 and r.itl_ms["max"] == 50.0
    assert r.tokens_per_chunk == 2.75


def test_reasoning_first_then_answer():
    r = compute(timeline(reasoning=True))
    assert r.reasoning == "thinking"
    assert r.ttft_any_ms == 100.0 and r.ttft_ms == 200.0
    assert r.reasoning_tokens == 2
    # speed counts from the first token of any kind: 10 tokens over 200 ms
    assert r.tokens_per_s == 50.0


def test_hidden_reasoning_is_left_out_of_the_speed():
    """OpenAI-style: 500 reasoning tokens thought out of sight (or shown as a short summary) before the
    answer; counting them over the answer's 100 ms would claim ~5,000 tok/s."""
    ev = timeline(reasoning=True)       # a 2-token "summary" at +100 ms, then the answer
    ev = [e if not isinstance(e, Usage) else Usage(P, e.seq, e.t_ns, output_tokens=511, reasoning_tokens=500)
          for e in ev]
    r = compute(ev)
    assert r.output_tokens == 511 and r.reasoning_tokens == 500
    assert r.tokens_per_s == 100.0     # the answer's 11 tokens: (11 - 1) over 100 ms from its first token
    acc = StreamAccumulator(P)
    for e in ev:
        acc.add(e)
    assert acc.reasoning_hidden() and acc.live(1310 * MS).tokens_per_s == 100.0


def test_cost_from_usage_with_cached_input_and_from_estimates():
    from tokenrace.config.models import Price
    price = Price(input=2.0, output=8.0, cached_input=0.5)          # USD per million tokens
    ev = timeline()
    ev = [e if not isinstance(e, Usage) else Usage(P, e.seq, e.t_ns, input_tokens=1000, output_tokens=500,
                                                   cached_input_tokens=400) for e in ev]
    acc = StreamAccumulator(P, price=price)
    for e in ev:
        acc.add(e)
    r = acc.result()
    # 600 fresh input at $2, 400 cached at $0.50, 500 output at $8, per million
    assert r.cost_usd == pytest.approx((600 * 2 + 400 * 0.5 + 500 * 8) / 1e6) and r.cost_estimated is False
    no_usage = StreamAccumulator(P, price=price, prompt_tokens_estimate=12.4)
    for e in timeline(usage=False):
        no_usage.add(e)
    est = no_usage.result()
    assert est.cost_estimated is True and est.cost_usd == pytest.approx((12 * 2 + est.output_tokens * 8) / 1e6)
    assert compute(timeline()).cost_usd is None                     # no price: no cost
    failed = StreamAccumulator(P, price=price, prompt_tokens_estimate=10)
    failed.add(Failed(P, 1, 5, message="p: 401", kind="http"))
    assert failed.result().cost_usd is None                         # nothing generated, nothing reported


def test_estimate_when_no_usage():
    r = compute(timeline(usage=False))
    assert r.token_source == "estimate"
    assert r.output_tokens == round(estimate_tokens("Hello world, again!"))


def test_gemini_style_usage_excludes_reasoning():
    ev = timeline(reasoning=True)
    ev = [e if not isinstance(e, Usage) else Usage(P, e.seq, e.t_ns, output_tokens=9, reasoning_tokens=2,
                                                   reasoning_included=False) for e in ev]
    r = compute(ev)
    assert r.output_tokens == 9            # as the provider reports it
    assert r.tokens_per_s == pytest.approx((9 + 2 - 1) / 0.2)
    acc = StreamAccumulator(P)
    for e in ev:
        acc.add(e)
    assert acc.live(0).tokens == r.output_tokens   # live and final counts agree


def test_failure_keeps_text_and_message():
    ev = timeline()[:4] + [Failed(P, 9, 1230 * MS, message="p: error after the stream started: boom", kind="stream")]
    r = compute(ev)
    assert r.status == "error" and r.error_kind == "stream"
    assert r.text == "Hello world" and "boom" in r.error
    assert r.e2e_ms == 230.0


def test_truncated_and_cancelled():
    base = timeline()[:4]
    r = compute(base + [Finished(P, 9, 1240 * MS, status="truncated")])
    assert r.status == "truncated" and "truncated" in r.error and r.text == "Hello world"
    r = compute(base + [Finished(P, 9, 1240 * MS, status="cancelled")])
    assert r.status == "cancelled"


def test_config_failure_without_start():
    r = compute([Failed(P, 1, 5, message="p: missing environment variable X", kind="config")])
    # nothing was sent: nothing was measured (null, never a made-up 0.0)
    assert r.status == "error" and r.ttft_ms is None and r.output_tokens is None and r.e2e_ms is None
    assert r.attempts == 0 and r.connect_ms is None


def test_notices_and_empty_deltas_ignored_for_timing():
    ev = timeline()
    ev.insert(2, TextDelta(P, 99, 1100 * MS, ""))    # an empty delta is not the first token
    ev.insert(2, Notice(P, 98, 1100 * MS, "skipped a malformed chunk"))
    r = compute(ev)
    assert r.ttft_ms == 200.0 and r.notices == ["skipped a malformed chunk"]


def test_live_figures_follow_the_stream():
    acc = StreamAccumulator(P)
    ev = timeline()
    for e in ev[:3]:
        acc.add(e)
    live = acc.live(now_ns=1210 * MS)
    assert live.status == "streaming" and live.ttft_ms == 200.0 and live.elapsed_ms == 210.0
    for e in ev[3:]:
        acc.add(e)
    assert acc.live(now_ns=9999 * MS).elapsed_ms == 310.0   # frozen at the end
    assert acc.live(0).tokens == 11


def test_estimate_tokens_is_additive_and_sensible():
    whole = "Hello, world! 你好世界 👋🏽 ok"
    pieces = ["Hel", "lo, wor", "ld! 你", "好世界 👋", "🏽 ok"]
    assert sum(estimate_tokens(p) for p in pieces) == pytest.approx(estimate_tokens(whole))
    assert estimate_tokens("你好世界") == 4
    assert estimate_tokens("a" * 40) == 10


def test_percentiles_and_summaries():
    assert percentile([], 50) is None
    assert percentile([5.0], 99) == 5.0
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([1, 2, 3, 4], 100) == 4
    d = distribution([10, 20, 30])
    assert d["p50"] == 20 and d["max"] == 30 and d["mean"] == 20
    s = summarize([1, 2, 3, 4, 5])
    assert s["count"] == 5 and s["min"] == 1 and s["p50"] == 3 and s["p95"] == 4.8 and s["stdev"] == pytest.approx(1.581, abs=1e-3)
