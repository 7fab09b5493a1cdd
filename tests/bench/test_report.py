"""The output folder: names other tools rely on, contents, a self-contained report.html (its plots, the
SLO on them, who won, cost per 1,000 requests, its layout in chromium), run history."""
from __future__ import annotations

import asyncio
import csv
import json
import os
import re
from pathlib import Path

import pytest

from tests.bench import records, run, summary
from tokenrace.bench.headline import awards
from tokenrace.bench.html import render_html
from tokenrace.bench.report import FILES, markdown
from tokenrace.bench.summary import FIGURES, STATS, summarize_records
from tokenrace.bench.svgplot import Limit, box_plot

ROOT = Path(__file__).resolve().parents[2]

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
    # TTFT, tokens/s, E2E, ITL CDF, latency and throughput against load
    assert html.count("<svg") == 6
    for title in ("Time to first token", "Output speed", "Whole answer", "Inter-token latency", "Latency against load"):
        assert title in html
    # the SLO (ttft_ms 500) is drawn on the TTFT plot and on latency against load, not on the others
    svgs = re.findall(r"<svg.*?</svg>", html, re.S)
    with_slo = [re.search(r"<title>(.*?)</title>", svg).group(1) for svg in svgs if 'class="slo"' in svg]
    assert with_slo == ["Time to first token, per request", "Latency against load"]
    assert all("SLO TTFT ≤ 500 ms" in svg for svg in svgs if 'class="slo"' in svg)
    # every plot scales with the page instead of a fixed pixel width
    assert all(re.match(r'<svg [^>]*width="100%"', svg) for svg in svgs)


async def test_no_sweep_means_no_against_load_plot(tmp_path):
    outcome = await run(tmp_path, SWEEP.replace("[1, 2]", "1"))
    html = (outcome.out_dir / "report.html").read_text()
    assert html.count("<svg") == 4 and "Latency against load" not in html


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


# -- plots, who won, cost ---------------------------------------------------------------------

def _rect_widths(svg: str) -> list[float]:
    return [float(w) for w in re.findall(r'<rect x="[-\d.]+" y="[-\d.]+" width="([\d.]+)" height="24.0"', svg)]


def test_cdf_points_run_from_the_first_value_to_the_last():
    from tokenrace.bench.svgplot import cdf_points

    for n in (1, 2, 50, 199, 200, 201, 5000):
        pts = cdf_points([float(i) for i in range(n)])
        assert pts[0][0] == 0 and pts[-1] == (n - 1, 1.0) and len(pts) == min(n, 200)
        assert all(a[0] <= b[0] and a[1] < b[1] for a, b in zip(pts, pts[1:]))


def test_a_narrow_distribution_beside_a_wide_one_is_still_a_box_not_a_sliver():
    fast = [100 + i * 0.2 for i in range(20)]          # 100–104 ms
    slow = [2000 + i * 5 for i in range(20)]           # 2,000–2,095 ms: 20 times further out
    svg = box_plot([("fast", fast), ("slow", slow)], "TTFT", "ms", limit=Limit(900, "SLO TTFT ≤ 900 ms"))
    zoomed = _rect_widths(svg)                         # each row on its own scale (height 24: the zoomed box)
    assert len(zoomed) == 2
    panel = 1000 * 0.58 - 140                          # the zoomed panel's width in viewBox units, roughly
    assert all(w > 0.25 * panel for w in zoomed), zoomed   # p25–p75 is half the values: a wide box, both rows
    assert "SLO TTFT ≤ 900 ms" in svg and 'class="slo-miss"' in svg


def _synthetic(provider_values: dict[str, list[float]], cost: float | None = None) -> tuple[dict, list[dict]]:
    recs = [{"provider": name, "model": "m", "step": 0, "load_kind": "concurrency", "load_value": 1,
             "warmup": False, "status": "ok", "ttft_ms": v, "e2e_ms": v + 500, "tokens_per_s": 50.0,
             "output_tokens": 20, "itl_ms": {"p50": 10.0}, "itl_gaps_ms": [10.0], "cost_usd": cost,
             "cost_estimated": False if cost is not None else None, "t_queued_ms": i * 10.0,
             "t_end_ms": i * 10.0 + v + 500} for name, vals in provider_values.items() for i, v in enumerate(vals)]
    doc = {"name": "s", "tool": "tokenrace", "partial": False, "started": "t0", "finished": "t1",
           "scenario": {"source": "s.yaml", "prompts": 1, "repetitions": 1, "warmup": 0, "seed": 0, "params": {},
                        "slo": {}, "steps": [{"step": 0, "kind": "concurrency", "value": 1}]},
           "providers": [{"name": n, "kind": "openai", "model": "m"} for n in provider_values], "config": None,
           "client": {"lag": {"interval_ms": 20, "p50_ms": 0.1, "p99_ms": 0.5, "max_ms": 1.0, "saturated": False},
                      "steps": []},
           "warnings": [], "groups": summarize_records(recs, None, list(provider_values))}
    return doc, recs


def test_who_won_needs_a_win_beyond_noise_and_says_tie_otherwise():
    same = [100.0 + (i * 37) % 11 for i in range(10)]
    doc, recs = _synthetic({"a": same, "b": [v * 1.3 for v in same], "c": list(reversed(same))})
    got = {a.title: a for a in awards(doc, recs)}
    ttft = got["Fastest first token"]
    # a and c have the very same values: neither beats the other, so it is a tie (b is 30 % slower)
    assert ttft.winner is None and set(ttft.tied) == {"a", "c"}
    assert got["Fastest output"].all_equal          # 50 tok/s everywhere
    doc, recs = _synthetic({"a": same, "b": [v * 1.3 for v in same]})
    ttft = next(a for a in awards(doc, recs) if a.title == "Fastest first token")
    assert ttft.winner == "a" and ttft.runner_up == "b" and ttft.p < 0.05
    md = markdown(doc, recs)
    assert "## Who won" in md and "Mann–Whitney U" in md
    assert re.search(r"Fastest first token \(TTFT p50\): \*\*a: [\d.]+ ms \(next: b, [\d.]+ ms; p ", md)
    assert "Who won" in render_html(doc, recs)
    doc, recs = _synthetic({"a": same})
    assert awards(doc, recs) == [] and "Who won" not in markdown(doc, recs)


def test_cost_per_1000_requests_is_in_both_reports():
    doc, recs = _synthetic({"a": [100.0] * 5, "b": [120.0] * 5}, cost=0.000125)
    assert doc["groups"][0]["cost_per_1k_requests_usd"] == pytest.approx(0.125)
    md = markdown(doc, recs)
    assert "$/1k req" in md and re.search(r"^\| a \|.*\| \$0\.1250 \|$", md, re.M)
    html = render_html(doc, recs)
    assert "<th>$/1k req</th>" in html and "<td>$0.1250</td>" in html and "1,000 such requests" in html
    doc, recs = _synthetic({"a": [100.0] * 5, "b": [120.0] * 5})
    assert "$/1k req" not in markdown(doc, recs)     # no price: no column


PRICED = """\
name: three-simulated-providers
providers:
  - {{name: quick, kind: openai, model: q, base_url: "{openai}", price: {{input: 0.15, output: 0.6}}}}
  - {{name: thinker, kind: anthropic, model: t, base_url: "{anthropic}", price: {{input: 3, output: 15}}}}
  - {{name: local, kind: ollama, model: l, base_url: "{ollama}"}}
prompts: ["Explain SSE in one paragraph.", "Write a haiku about latency."]
params: {{max_tokens: 24}}
repetitions: {repetitions}
load: {{concurrency: [1, 2]}}
slo: {{ttft_ms: 500, tokens_per_s: 40}}
"""


def _measure_in_chromium(html_path: Path, shot: Path | None) -> dict:
    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(html_path.as_uri())
            got = page.evaluate("""() => ({
                body: document.body.getBoundingClientRect().width
                      - parseFloat(getComputedStyle(document.body).paddingLeft)
                      - parseFloat(getComputedStyle(document.body).paddingRight),
                svgs: [...document.querySelectorAll('figure svg')].map(s => s.getBoundingClientRect().width),
                overflow: document.documentElement.scrollWidth > document.documentElement.clientWidth,
                boxes: [...document.querySelectorAll('figure svg rect[height="24.0"]')]
                       .map(r => r.getBoundingClientRect().width),
            })""")
            if shot is not None:         # the top of the report: who won, the tables, TTFT and tokens/s
                end = page.query_selector_all("figure")[2].bounding_box()["y"]
                page.screenshot(path=str(shot), full_page=True, clip={"x": 0, "y": 0, "width": 1400, "height": end})
            return got
        finally:
            browser.close()


async def test_report_html_in_chromium_plots_fill_the_page(tmp_path, sim):
    from tests.e2e.conftest import _browser_missing_reason

    reason = _browser_missing_reason()
    if reason:
        if os.environ.get("TOKENRACE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser tests are required (TOKENRACE_REQUIRE_BROWSER=1) but {reason}")
        pytest.skip(reason)
    keep = os.environ.get("TOKENRACE_SCREENSHOTS") == "1"       # docs/screenshots/report.png, from more requests
    body = PRICED.format(openai=sim.base_url("sim-openai", "openai"),
                         anthropic=sim.base_url("sim-anthropic", "anthropic"),
                         ollama=sim.base_url("sim-ollama", "ollama"), repetitions=6 if keep else 2)
    outcome = await run(tmp_path, body, sim="")
    shots = ROOT / "docs" / "screenshots" if keep else tmp_path
    got = await asyncio.to_thread(_measure_in_chromium, outcome.out_dir / "report.html", shots / "report.png")
    assert got["body"] >= 1100 and len(got["svgs"]) == 6
    assert all(w >= 0.98 * got["body"] for w in got["svgs"]), got        # the plots fill the page's width
    assert not got["overflow"]
    assert got["boxes"] and min(got["boxes"]) >= 20, got["boxes"]       # no box is a sliver on screen
    md = (outcome.out_dir / "report.md").read_text()
    doc = summary(outcome.out_dir)
    quick = next(g for g in doc["groups"] if g["provider"] == "quick")
    assert f"${quick['cost_per_1k_requests_usd']:,.4f}" in md and "Fastest first token (TTFT p50): **quick" in md
