"""The output folder: names other tools rely on, contents, a self-contained report.html, run history."""
from __future__ import annotations

import csv
import json
import re

from tests.bench import records, run, summary
from tokenrace.bench.report import FILES
from tokenrace.bench.summary import FIGURES, STATS

SWEEP = """\
prompts: ["a b c", "d e f"]
params: {max_tokens: 16}
repetitions: 2
load: {concurrency: [1, 2]}
slo: {ttft_ms: 500}
"""
METRICS_MD_FIGURES = ("queue_ms", "connect_ms", "reused", "ttfb_ms", "ttft_ms", "ttft_any_ms", "e2e_ms",
                      "output_tokens", "reasoning_tokens", "token_source", "tokens_per_s", "tpot_ms", "itl_ms",
                      "chunks", "tokens_per_chunk")


async def test_every_output_file_is_written_with_the_documented_shape(tmp_path):
    outcome = await run(tmp_path, SWEEP)
    out = outcome.out_dir
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    for rec in records(out):
        for key in ("provider", "prompt", "repetition", "step", "load_kind", "load_value", "status", "error",
                    "started_at", "t_sent_ms", "t_end_ms", "text_chars", "warmup") + METRICS_MD_FIGURES:
            assert key in rec, key
        assert "text" not in rec
    doc = summary(out)
    assert len(doc["groups"]) == 4 and [g["step"] for g in doc["groups"]] == [0, 0, 1, 1]
    g = doc["groups"][0]
    assert set(g["figures"]) == set(FIGURES) and set(g["figures"]["ttft_ms"]) == set(STATS)
    for key in ("errors", "error_rate", "request_throughput", "output_tokens_per_s", "goodput", "duration_s"):
        assert key in g
    with open(out / "summary.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 4 * len(FIGURES)
    row = next(r for r in rows if r["provider"] == "alpha" and r["figure"] == "ttft_ms" and r["step"] == "1")
    assert float(row["p50"]) == doc["groups"][2]["figures"]["ttft_ms"]["p50"]
    env = json.loads((out / "environment.json").read_text())
    for key in ("version", "python", "machine", "platform", "started", "finished"):
        assert env[key]
    md = (out / "report.md").read_text()
    assert "## Concurrency 1" in md and "## Concurrency 2" in md and "## Against load" in md
    assert re.search(r"^\| alpha \| 4/4 \| – \|", md, re.M)
    assert "event-loop lag" in md.lower()
    scen = (out / "scenario.yaml").read_text()
    assert "repetitions: 2" in scen and "alpha" in scen


async def test_report_html_is_self_contained_with_the_plots(tmp_path):
    outcome = await run(tmp_path, SWEEP)
    html = (outcome.out_dir / "report.html").read_text()
    assert html.startswith("<!doctype html>")
    assert "<script" not in html and "<link" not in html and "src=" not in html and "@import" not in html
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", html)    # nothing to fetch
    assert html.count("<svg") == 5            # TTFT, tokens/s, ITL CDF, latency and throughput against load
    for title in ("Time to first token", "Output speed", "Inter-token latency", "Latency against load"):
        assert title in html


async def test_no_sweep_means_no_against_load_plot(tmp_path):
    outcome = await run(tmp_path, SWEEP.replace("[1, 2]", "1"))
    html = (outcome.out_dir / "report.html").read_text()
    assert html.count("<svg") == 3 and "Latency against load" not in html


async def test_api_keys_never_reach_the_output_folder(tmp_path, monkeypatch, sim):
    monkeypatch.setenv("BENCH_TEST_KEY", "sk-never-written")
    body = f"""\
providers:
  - name: o
    kind: openai
    model: m
    base_url: {sim.base_url("sim-openai", "openai")}
    api_key: ${{BENCH_TEST_KEY}}
prompts: [hi]
params: {{max_tokens: 4}}
"""
    outcome = await run(tmp_path, body, sim="", sets=["providers.0.api_key=sk-also-secret"])
    assert records(outcome.out_dir)[0]["status"] == "ok"
    for name in FILES:
        text = (outcome.out_dir / name).read_text()
        assert "sk-never-written" not in text and "sk-also-secret" not in text, name
    assert "api_key: '***'" in (outcome.out_dir / "scenario.yaml").read_text()


async def test_results_go_into_the_run_history_database(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    from tokenrace.store import RunStore

    outcome = await run(tmp_path, SWEEP.replace("[1, 2]", "1"), history=True)
    assert outcome.history is None
    async with RunStore() as store:
        runs = await store.list_runs(10, source="bench")
        assert [r["id"] for r in runs] == [outcome.run_id]
        stored = await store.get_run(outcome.run_id)
    assert stored["status"] == "done" and len(stored["results"]) == 8
    assert stored["params"]["bench"]["out_dir"] == str(outcome.out_dir)
    assert [g["provider"] for g in stored["params"]["bench"]["groups"]] == ["alpha", "beta"]
