"""compare: thresholds, matching by provider and load, and a planted regression caught end to end."""
from __future__ import annotations

import json

import pytest

from tests.bench import run, summary
from tokenrace.bench.compare import compare, format_comparison, parse_threshold, parse_thresholds
from tokenrace.cli import main as cli_main
from tokenrace.errors import UsageError

# slower than the other tests' profiles, so a loaded machine's noise stays well inside the limits
SIM = """\
simulator:
  - {name: alpha, ttft_ms: 40, itl_ms: 10, answer_tokens: 10}
  - {name: beta, ttft_ms: 40, itl_ms: 10, answer_tokens: 10}
"""
BODY = """\
prompts: ["a b", "c d"]
params: {max_tokens: 12}
repetitions: 3
load: {concurrency: 2}
"""


def test_threshold_specs():
    t = parse_threshold("ttft_p50=+10%")
    assert (t.figure, t.stat, t.sign, t.amount, t.relative) == ("ttft_ms", "p50", "+", 10, True)
    assert t.crossed(100, 111) and not t.crossed(100, 109) and not t.crossed(100, 50)
    t = parse_threshold("tokens_per_s_p50=-10%")
    assert (t.figure, t.stat, t.sign) == ("tokens_per_s", "p50", "-")
    assert t.crossed(100, 89) and not t.crossed(100, 95) and not t.crossed(100, 200)
    t = parse_threshold("itl_ms_p99=5%")
    assert t.crossed(100, 94) and t.crossed(100, 106) and not t.crossed(100, 104)
    t = parse_threshold("error_rate=+0.05")
    assert (t.figure, t.stat, t.relative) == ("error_rate", None, False)
    assert t.crossed(0.0, 0.1) and not t.crossed(0.0, 0.04)
    assert parse_threshold("e2e_p90=+50").crossed(1000, 1051)
    assert parse_threshold("ttft_p50=+10%").crossed(100, None)      # the figure vanished: no successes
    assert len(parse_thresholds("ttft_p50=+10%, tokens_per_s_p50=-10%")) == 2


@pytest.mark.parametrize("spec", ["ttft=+10%", "ttft_p50", "ttft_p50=ten", "latency_p50=+1%", "ttft_p42=+1%"])
def test_bad_threshold_specs_are_usage_errors(spec):
    with pytest.raises(UsageError):
        parse_threshold(spec)


def _doc(ttft_p50, provider="p", value=4, rate=100.0):
    fig = {"count": 10, "mean": ttft_p50, "min": ttft_p50, "p50": ttft_p50, "p90": ttft_p50, "p95": ttft_p50,
           "p99": ttft_p50, "max": ttft_p50, "stdev": 0}
    return {"partial": False, "groups": [{
        "provider": provider, "load_kind": "concurrency", "load_value": value, "step": 0, "error_rate": 0.0,
        "request_throughput": 1.0, "output_tokens_per_s": 50.0, "goodput": None,
        "figures": {"ttft_ms": fig, "tokens_per_s": dict(fig, p50=rate)}}]}


def test_groups_match_by_provider_and_load_not_step_number():
    old, new = _doc(100), _doc(130)
    new["groups"][0]["step"] = 3
    cmp = compare(old, new, parse_thresholds("ttft_p50=+10%"))
    assert cmp.failed
    bad = [c for c in cmp.changes if c.failed]
    assert [(c.figure, c.stat, c.old, c.new, round(c.change)) for c in bad] == [("ttft_ms", "p50", 100, 130, 30)]
    assert bad[0].verdict == "worse"
    text = format_comparison(cmp, "old", "new")
    assert "FAIL ttft_p50=+10%" in text and "+30.0%" in text and "1 threshold(s) crossed" in text
    assert not compare(old, _doc(105), parse_thresholds("ttft_p50=+10%")).failed


def test_a_provider_missing_from_the_new_run_fails_when_thresholds_are_given():
    cmp = compare(_doc(100), _doc(100, provider="other"), parse_thresholds("ttft_p50=+10%"))
    assert cmp.failed and cmp.only_old == [("p", "concurrency", 4)] and cmp.only_new == [("other", "concurrency", 4)]
    assert not compare(_doc(100), _doc(100, provider="other")).failed


async def test_compare_detects_a_planted_regression(tmp_path, capsys):
    base = await run(tmp_path, BODY, out="old", sim=SIM)
    same = await run(tmp_path, BODY, out="same", sim=SIM)
    # plant it: the new run's first provider answers 6 times later and at a fifth of the speed; the limits
    # are wide because identical runs on a busy 2-core machine can differ by tens of per cent
    slow = await run(tmp_path, BODY, out="new", sim=SIM, sets=["simulator.0.ttft_ms=250", "simulator.0.itl_ms=50"])
    limits = "ttft_p50=+100%,tokens_per_s_p50=-60%"
    assert cli_main(["compare", str(base.out_dir), str(same.out_dir), "--fail-on", limits]) == 0
    capsys.readouterr()
    assert cli_main(["compare", str(base.out_dir), str(slow.out_dir), "--fail-on", limits]) == 1
    out = capsys.readouterr().out
    failing = [line for line in out.splitlines() if "FAIL" in line]
    assert len(failing) == 2 and all(line.startswith("alpha") for line in failing), out
    assert cli_main(["compare", str(base.out_dir), str(slow.out_dir / "summary.json"), "--json",
                     "--fail-on", limits]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["failed"] and {c["figure"] for c in doc["changes"] if c["failed"]} == {"ttft_ms", "tokens_per_s"}
    assert summary(slow.out_dir)["groups"][0]["figures"]["ttft_ms"]["p50"] >= 249


def test_compare_usage_errors_exit_2(tmp_path, capsys):
    assert cli_main(["compare", str(tmp_path / "nope"), str(tmp_path)]) == 2
    assert "not found" in capsys.readouterr().err
