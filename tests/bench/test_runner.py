"""The runner against the simulator: record counts, figures vs profiles, errors, load shapes, Ctrl+C."""
from __future__ import annotations

import itertools
from collections import Counter

from tests.bench import group, records, run, summary

BASIC = """\
prompts: ["Explain SSE in one paragraph.", "Write a haiku about latency."]
params: {max_tokens: 64}
warmup: 1
repetitions: 3
load: {concurrency: 2}
seed: 1
"""


async def test_two_providers_two_prompts_three_repetitions_make_twelve_records(tmp_path):
    outcome = await run(tmp_path, BASIC)
    recs = records(outcome.out_dir)
    assert len(recs) == 12
    assert not any(r["warmup"] for r in recs)
    assert Counter((r["provider"], r["prompt"], r["repetition"]) for r in recs) == Counter(
        itertools.product(["alpha", "beta"], [0, 1], [0, 1, 2]))
    assert all(r["status"] == "ok" and r["step"] == 0 and r["load_kind"] == "concurrency" for r in recs)
    doc = summary(outcome.out_dir)
    assert [(g["provider"], g["requests"], g["ok"]) for g in doc["groups"]] == [("alpha", 6, 6), ("beta", 6, 6)]
    assert doc["partial"] is False


async def test_keep_warmup_writes_flagged_warmup_records_but_the_summary_excludes_them(tmp_path):
    outcome = await run(tmp_path, BASIC, keep_warmup=True)
    recs = records(outcome.out_dir)
    assert len(recs) == 14
    warm = [r for r in recs if r["warmup"]]
    assert sorted(r["provider"] for r in warm) == ["alpha", "beta"] and all(r["step"] is None for r in warm)
    assert sum(g["requests"] for g in summary(outcome.out_dir)["groups"]) == 12


async def test_figures_agree_with_the_simulator_profiles(tmp_path):
    # tolerances hold on a loaded 2-core machine: p50s only, and generous upper bounds
    outcome = await run(tmp_path, BASIC)
    doc = summary(outcome.out_dir)
    for name, ttft, itl, tokens, per_chunk in (("alpha", 25, 3, 12, 1), ("beta", 45, 5, 10, 2)):
        g = group(doc, name)
        f = g["figures"]
        assert ttft - 1 <= f["ttft_ms"]["p50"] <= ttft + 20, (name, f["ttft_ms"])
        assert itl - 1.5 <= f["itl_ms"]["p50"] <= itl + 6, (name, f["itl_ms"])
        assert f["output_tokens"]["min"] == f["output_tokens"]["max"] == tokens
        # chunks that reach us in one read count once (same arrival time): when a busy machine stalls us
        # for longer than the ITL, several merge, which also shortens the measured span a little
        assert 1 <= f["chunks"]["min"] and f["chunks"]["max"] <= tokens / per_chunk
        # output speed: (tokens - 1) over (chunks - 1) gaps of itl ms
        expected_rate = (tokens - 1) / ((tokens / per_chunk - 1) * itl / 1000)
        assert 0.5 * expected_rate <= f["tokens_per_s"]["p50"] <= 1.6 * expected_rate, (name, f["tokens_per_s"])
        assert f["ttft_ms"]["count"] == 6 and g["errors"] == {}
        assert g["request_throughput"] > 0 and g["output_tokens_per_s"] > 0
    for r in records(outcome.out_dir):
        assert r["request_id"].startswith("sim-") and r["text_chars"] > 0
        assert len(r["itl_gaps_ms"]) == r["chunks"] - 1
        assert r["t_queued_ms"] <= r["t_sent_ms"] < r["t_first_ms"] <= r["t_end_ms"]


async def test_a_provider_failing_half_its_requests_shows_the_right_error_counts(tmp_path):
    sim = """\
simulator:
  - {name: good, ttft_ms: 20, itl_ms: 2, answer_tokens: 8}
  - {name: flaky, ttft_ms: 20, itl_ms: 2, answer_tokens: 8, fault: {kind: http_500, rate: 0.5}}
  - {name: cut, ttft_ms: 20, itl_ms: 2, answer_tokens: 8, fault: {kind: truncate, after_tokens: 3, rate: 0.25}}
"""
    outcome = await run(tmp_path, BASIC.replace("warmup: 1", "warmup: 0").replace("repetitions: 3", "repetitions: 4"),
                        sim=sim)
    doc = summary(outcome.out_dir)
    good, flaky, cut = (group(doc, n) for n in ("good", "flaky", "cut"))
    assert (good["requests"], good["ok"], good["errors"]) == (8, 8, {})
    assert (flaky["requests"], flaky["ok"], flaky["errors"], flaky["error_rate"]) == (8, 4, {"http_500": 4}, 0.5)
    assert (cut["ok"], cut["errors"]) == (6, {"truncated": 2})
    assert flaky["figures"]["ttft_ms"]["count"] == 4        # figures count successful requests only
    failed = [r for r in records(outcome.out_dir) if r["provider"] == "flaky" and r["status"] != "ok"]
    assert all(r["status"] == "error" and r["http_status"] == 500 and "flaky" in r["error"] for r in failed)


async def test_concurrency_keeps_exactly_n_requests_in_flight_per_provider(tmp_path):
    outcome = await run(tmp_path, BASIC.replace("concurrency: 2", "concurrency: 3").replace("warmup: 1", "warmup: 0"))
    for name in ("alpha", "beta"):
        recs = [r for r in records(outcome.out_dir) if r["provider"] == name]
        edges = sorted([(r["t_queued_ms"], 1) for r in recs] + [(r["t_end_ms"], -1) for r in recs],
                       key=lambda e: (e[0], e[1]))
        level = peak = 0
        for _, d in edges:
            level += d
            peak = max(peak, level)
        assert peak == 3


async def test_a_rate_step_produces_roughly_the_asked_rate(tmp_path):
    import random
    body = """\
prompts: ["one", "two"]
params: {max_tokens: 8}
repetitions: 15
load: {rate: 40}
seed: 3
"""
    outcome = await run(tmp_path, body)
    doc = summary(outcome.out_dir)
    for name in ("alpha", "beta"):
        g = group(doc, name)
        assert g["requests"] == 30 and g["load_kind"] == "rate"
        # the same seeded Poisson draws the runner made: what we sent must follow them closely
        rng = random.Random(f"3:arrivals:0:{name}")
        offsets = list(itertools.accumulate(rng.expovariate(40) for _ in range(30)))
        planned = 29 / (offsets[-1] - offsets[0])
        assert 0.85 * planned <= g["arrival_rate"] <= 1.15 * planned, (g["arrival_rate"], planned)
        assert 40 * 0.6 <= g["arrival_rate"] <= 40 * 1.6
        starts = sorted(r["t_queued_ms"] for r in records(outcome.out_dir) if r["provider"] == name)
        # open loop: arrivals do not wait for answers, so requests overlap
        assert any(b - a < 25 for a, b in zip(starts, starts[1:]))


async def test_interruption_writes_partial_results(tmp_path):
    stopped = []

    def hook(runner):
        write = runner.on_record

        def on_record(rec, acc, events):
            write(rec, acc, events)
            if len(runner.records) == 5 and not stopped:
                stopped.append(True)
                runner.stop()
        runner.on_record = on_record

    body = BASIC.replace("repetitions: 3", "repetitions: 20")
    outcome = await run(tmp_path, body, on_runner=hook)
    recs = records(outcome.out_dir)
    doc = summary(outcome.out_dir)
    assert doc["partial"] is True and outcome.result.partial
    assert len(recs) == 5 == sum(g["requests"] for g in doc["groups"])
    assert all(r["status"] == "ok" for r in recs)            # cancelled in-flight requests are not records
    assert "Partial results" in (outcome.out_dir / "report.md").read_text()
    assert "Partial results" in (outcome.out_dir / "report.html").read_text()


async def test_slo_goodput_counts_requests_meeting_every_bound(tmp_path):
    body = BASIC + "slo: {ttft_ms: 43, tokens_per_s: 1}\n"
    outcome = await run(tmp_path, body)
    doc = summary(outcome.out_dir)
    alpha, beta = group(doc, "alpha"), group(doc, "beta")
    assert beta["goodput_ratio"] == 0 and beta["goodput"] == 0      # the simulator waits 45 ms > 43 ms
    recs = records(outcome.out_dir)
    assert all(r["slo_ok"] is (r["ttft_ms"] <= 43) for r in recs)
    met = sum(r["slo_ok"] for r in recs if r["provider"] == "alpha")
    assert alpha["goodput_ratio"] == round(met / 6, 4) and met > 0          # 25 ms: 18 ms of slack
    assert alpha["goodput"] == round(met / alpha["duration_s"], 3)


async def test_providers_from_a_config_file_and_a_subset(tmp_path, sim):
    (tmp_path / "cfg.yaml").write_text(
        "providers:\n"
        f"  - {{name: one, kind: openai, model: m, base_url: '{sim.base_url('sim-openai', 'openai')}'}}\n"
        f"  - {{name: two, kind: openai, model: m, base_url: '{sim.base_url('sim-custom', 'openai')}'}}\n"
        "defaults: {params: {max_tokens: 3}, retries: 0}\n", encoding="utf-8")
    body = "config: cfg.yaml\nproviders: [two]\nprompts: [hi]\nrepetitions: 2\n"
    outcome = await run(tmp_path, body, sim="")
    recs = records(outcome.out_dir)
    assert [r["provider"] for r in recs] == ["two", "two"]
    assert all(r["status"] == "ok" and r["output_tokens"] == 3 for r in recs)    # config defaults apply
