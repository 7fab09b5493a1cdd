"""The output folder of a bench run (other tools rely on these names):

records.jsonl      one line per request, written as each one finishes (so an interrupted run keeps them)
summary.json/.csv  aggregates per provider and load step (see ``summary.py``)
report.md          tables to paste into a pull request
report.html        one self-contained page with static SVG plots (``html.py``)
scenario.yaml      the scenario as run: overrides applied, prompts resolved, secrets replaced by ***
environment.json   tool version, Python, machine, start and end time
"""
from __future__ import annotations

import csv
import json
import os
import platform
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, Mapping, Sequence

import orjson
import yaml

from .. import __version__
from .runner import BenchResult
from .summary import csv_rows, summarize_records, workers_text
from .units import fmt

FILES = ("records.jsonl", "summary.json", "summary.csv", "report.md", "report.html", "scenario.yaml",
         "environment.json")


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).astimezone().isoformat(timespec="seconds")


def default_out_dir(name: str, root: str | Path = "results", now: float | None = None) -> Path:
    stamp = datetime.fromtimestamp(now or time.time()).strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{name}-{stamp}"
    out, n = base, 1
    while out.exists():
        n += 1
        out = base.with_name(f"{base.name}-{n}")
    return out


class RecordWriter:
    """Appends each record to records.jsonl the moment its request finishes."""

    def __init__(self, out_dir: Path) -> None:
        self.path = Path(out_dir) / "records.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: IO[bytes] | None = open(self.path, "wb")

    def write(self, record: Mapping[str, Any]) -> None:
        if self._fh is not None:      # orjson: compact UTF-8 as the stdlib wrote it, a tenth of the CPU
            self._fh.write(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))
            self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def read_records(path: str | Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def summary_doc(result: BenchResult) -> dict[str, Any]:
    sc = result.scenario
    return {
        "name": sc.name, "tool": f"tokenrace {__version__}", "partial": result.partial,
        "started": iso(result.started), "finished": iso(result.finished),
        "duration_s": round(result.finished - result.started, 3),
        "scenario": {"source": sc.source, "prompts": len(sc.prompts), "repetitions": sc.repetitions,
                     "warmup": sc.warmup, "seed": sc.seed, "params": sc.params, "slo": sc.slo,
                     "steps": [s.to_dict() for s in sc.steps]},
        "providers": result.providers, "config": result.config_source,
        "client": {"lag": result.lag, "steps": result.step_lag},
        "warnings": result.warnings,
        "groups": summarize_records(result.records, sc.slo, [p["name"] for p in result.providers]),
    }


def environment_doc(result: BenchResult) -> dict[str, Any]:
    import aiohttp
    return {
        "tool": "tokenrace", "version": __version__,
        "python": platform.python_version(), "python_implementation": platform.python_implementation(),
        "platform": platform.platform(), "machine": platform.machine(), "processor": platform.processor(),
        "cpu_count": os.cpu_count(), "aiohttp": aiohttp.__version__,
        "started": iso(result.started), "finished": iso(result.finished),
        "started_epoch": round(result.started, 3), "finished_epoch": round(result.finished, 3),
        "partial": result.partial, "config": result.config_source, "event_loop_lag": result.lag,
    }


# -- markdown ---------------------------------------------------------------------------------

def _ms(v: Any) -> str:
    return fmt("e2e_ms", v)


def _num(v: Any, nd: int = 1) -> str:
    return "–" if v is None else f"{v:,.{nd}f}"


def _pct(v: Any) -> str:
    return fmt("error_rate", v)


def cost_text(g: Mapping[str, Any]) -> str:
    """Cost per 1,000 requests; ``~`` when it rests on estimated token counts."""
    v = g.get("cost_per_1k_requests_usd")
    return "–" if v is None else ("~" if g.get("cost_estimated") else "") + fmt("cost_per_1k_requests_usd", v)


def priced(groups: Sequence[Mapping[str, Any]]) -> bool:
    return any(g.get("cost_per_1k_requests_usd") is not None for g in groups)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], right_from: int = 1) -> list[str]:
    out = ["| " + " | ".join(header) + " |",
           "|" + "|".join("---" if i < right_from else "---:" for i in range(len(header))) + "|"]
    out += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return out


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def plan_line(doc: Mapping[str, Any]) -> str:
    sc = doc["scenario"]
    steps = ", ".join(step_label(s["kind"], s["value"]) for s in sc["steps"])
    return (f"{plural(len(doc['providers']), 'provider')} · {plural(sc['prompts'], 'prompt')} × "
            f"{plural(sc['repetitions'], 'repetition')} · warmup {sc['warmup']} · {steps} · seed {sc['seed']}")


def errors_text(errors: Mapping[str, int]) -> str:
    return ", ".join(f"{k} ×{v}" for k, v in errors.items()) or "–"


def step_label(kind: str | None, value: Any) -> str:
    if kind is None:
        return "warmup"
    return f"concurrency {value:g}" if kind == "concurrency" else f"rate {value:g}/s"


def group_row(g: Mapping[str, Any], slo: bool, cost: bool = False) -> list[str]:
    f = g["figures"]
    row = [g["provider"], f"{g['ok']}/{g['requests']}", errors_text(g["errors"]),
           _ms(f["ttft_ms"]["p50"]), _ms(f["ttft_ms"]["p90"]), _ms(f["ttft_ms"]["p99"]),
           _ms(f["itl_ms"]["p50"]), _ms(f["itl_ms"]["p99"]), _num(f["tokens_per_s"]["p50"]),
           _ms(f["e2e_ms"]["p50"]), _num(g["request_throughput"], 2), _num(g["output_tokens_per_s"])]
    if slo:
        row += [_num(g["goodput"], 2), _pct(g["goodput_ratio"])]
    if cost:
        row.append(cost_text(g))
    return row


GROUP_HEADER = ["Provider", "OK", "Errors", "TTFT p50", "TTFT p90", "TTFT p99", "ITL p50", "ITL p99",
                "tok/s p50", "E2E p50", "req/s", "out tok/s"]


def group_header(slo: bool, cost: bool) -> list[str]:
    return GROUP_HEADER + (["goodput req/s", "met SLO"] if slo else []) + (["$/1k req"] if cost else [])


def slo_text(slo: Mapping[str, float]) -> str:
    return ", ".join(f"{k} {'≥' if k == 'tokens_per_s' else '≤'} {v:g}" for k, v in slo.items())


COST_NOTE = ("$/1k req: what 1,000 such requests cost at the configured prices (USD); ~ when it rests on "
             "estimated token counts.")


def headline_md(doc: Mapping[str, Any], records: Sequence[Mapping[str, Any]]) -> list[str]:
    """"Who won" per load step, by the noise rule (nothing with one provider)."""
    from .headline import awards
    from .noise import Rule

    got = awards(doc, records)
    if not got:
        return []
    steps = doc["scenario"]["steps"]
    lines = ["## Who won", "", f"{Rule().contest()}", ""]
    for step in steps:
        mine = [a for a in got if a.step == step["step"]]
        if mine:
            if len(steps) > 1:
                lines += [f"**{step_label(step['kind'], step['value']).capitalize()}**", ""]
            lines += [f"- {a.title} ({a.stat_label}): " + (f"**{a.text()}**" if a.winner else a.text()) for a in mine]
            lines.append("")
    return lines


def markdown(doc: Mapping[str, Any], records: Sequence[Mapping[str, Any]] = ()) -> str:
    """report.md; with the run's ``records`` it opens with who won what."""
    sc, groups = doc["scenario"], doc["groups"]
    slo, cost = sc["slo"], priced(doc["groups"])
    lines = [f"# Benchmark: {doc['name']}", ""]
    if doc["partial"]:
        lines += ["> **Partial results**: the run was interrupted; only finished requests are counted.", ""]
    lines += [f"{plan_line(doc)} · {doc['started']} · {doc['tool']}", ""]
    if slo:
        lines += [f"SLO (goodput counts requests meeting all): {slo_text(slo)}", ""]
    for w in doc["warnings"]:
        lines += [f"> ⚠ {w}", ""]
    lines += headline_md(doc, records)
    header = group_header(bool(slo), cost)
    for step in sc["steps"]:
        mine = [g for g in groups if g["step"] == step["step"]]
        if not mine:
            continue
        lines += [f"## {step_label(step['kind'], step['value']).capitalize()}", ""]
        lines += _table(header, [group_row(g, bool(slo), cost) for g in mine], right_from=1)
        lines.append("")
    if len(sc["steps"]) > 1 and groups:
        kind = sc["steps"][0]["kind"]
        order = list(dict.fromkeys([p["name"] for p in doc["providers"]] + [g["provider"] for g in groups]))
        lines += ["## Against load", ""]
        rows = [[g["provider"], f"{g['load_value']:g}", _ms(g["figures"]["ttft_ms"]["p50"]),
                 _ms(g["figures"]["ttft_ms"]["p99"]), _ms(g["figures"]["itl_ms"]["p99"]),
                 _num(g["figures"]["tokens_per_s"]["p50"]), _num(g["request_throughput"], 2), _pct(g["error_rate"])]
                for g in sorted(groups, key=lambda g: (order.index(g["provider"]), g["step"]))]
        lines += _table(["Provider", kind, "TTFT p50", "TTFT p99", "ITL p99", "tok/s p50", "req/s", "errors"],
                        rows, right_from=1)
        lines.append("")
    lag = doc["client"]["lag"]
    state = "**saturated**" if lag.get("saturated") else "not saturated"
    lines += ["## Client", "",
              f"Event-loop lag (the tool's own delay, sampled every {lag['interval_ms']:g} ms): "
              f"p50 {_ms(lag['p50_ms'])} ms, p99 {_ms(lag['p99_ms'])} ms, max {_ms(lag['max_ms'])} ms — {state}.",
              *(["", who] if (who := workers_text(lag, records)) else []),
              "", "Times in ms. TTFT: request sent → first answer token; ITL: gaps between content chunks "
              "(all requests pooled); tok/s: (output tokens − 1) / (last − first token); E2E: request sent → "
              "stream end. Figures count successful requests; errors are counted apart."
              + (" " + COST_NOTE if cost else ""), ""]
    return "\n".join(lines)


# -- writing ----------------------------------------------------------------------------------

def _dump(path: Path, doc: Any) -> None:
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def write_outputs(out_dir: str | Path, result: BenchResult, *, records_written: bool = False) -> dict[str, Any]:
    """Write every file (records.jsonl too unless a RecordWriter already did); returns the summary."""
    from .html import render_html

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if not records_written:
        w = RecordWriter(out)
        for r in result.records:
            w.write(r)
        w.close()
    doc = summary_doc(result)
    _dump(out / "summary.json", doc)
    header, rows = csv_rows(doc["groups"])
    with open(out / "summary.csv", "w", newline="", encoding="utf-8") as fh:
        wr = csv.writer(fh)
        wr.writerow(header)
        wr.writerows(rows)
    (out / "report.md").write_text(markdown(doc, result.records), encoding="utf-8")
    (out / "report.html").write_text(render_html(doc, result.records), encoding="utf-8")
    as_run = dict(result.scenario.as_run)
    if result.scenario.overrides:
        as_run["x-overrides"] = [o if not _secret(o.partition("=")[0]) else o.partition("=")[0] + "=***"
                                 for o in result.scenario.overrides]
    (out / "scenario.yaml").write_text(
        f"# as run by tokenrace {__version__} on {iso(result.started)}; API keys replaced by ***\n"
        + yaml.safe_dump(as_run, sort_keys=False, allow_unicode=True, width=100), encoding="utf-8")
    _dump(out / "environment.json", environment_doc(result))
    return doc


def _secret(key: str) -> bool:
    return "api_key" in key or "headers" in key
