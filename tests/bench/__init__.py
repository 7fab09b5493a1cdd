"""Bench tests run against the in-process simulator with fast profiles (tens of ms per request)."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

FAST_SIM = """\
simulator:
  - {name: alpha, ttft_ms: 25, itl_ms: 3, answer_tokens: 12}
  - {name: beta, ttft_ms: 45, itl_ms: 5, answer_tokens: 10, tokens_per_chunk: 2}
"""


def scenario_text(body: str, sim: str = FAST_SIM) -> str:
    return sim + textwrap.dedent(body)


def write(tmp_path: Path, text: str, name: str = "scenario.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


async def run(tmp_path: Path, body: str, *, sets=(), sim: str = FAST_SIM, out: str = "out", **kw):
    """Write the scenario, run it into tmp_path/out and return the outcome."""
    from tokenrace.bench.scenario import load_scenario
    from tokenrace.bench.session import run_bench

    path = write(tmp_path, scenario_text(body, sim))
    sc = load_scenario(path, sets)
    kw.setdefault("history", False)
    kw.setdefault("handle_sigint", False)
    return await run_bench(sc, tmp_path / out, **kw)


def records(out_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (Path(out_dir) / "records.jsonl").read_text().splitlines() if line]


def summary(out_dir: Path) -> dict:
    return json.loads((Path(out_dir) / "summary.json").read_text())


def group(doc: dict, provider: str, step: int = 0) -> dict:
    return next(g for g in doc["groups"] if g["provider"] == provider and g["step"] == step)
