"""``tokenrace bench`` from the command line: output, errors, Ctrl+C in a real process, examples, imports."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.bench import FAST_SIM, records, scenario_text, summary, write
from tokenrace.bench.scenario import load_scenario
from tokenrace.cli import main as cli_main

ROOT = Path(__file__).resolve().parents[2]
BODY = """\
prompts: ["one", "two"]
params: {max_tokens: 8}
repetitions: 2
load: {concurrency: 2}
"""


def test_bench_command_writes_the_folder_and_prints_the_report(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    path = write(tmp_path, scenario_text(BODY))
    out = tmp_path / "res"
    assert cli_main(["bench", str(path), "--out", str(out), "--no-progress", "--set", "repetitions=3"]) == 0
    captured = capsys.readouterr()
    assert "# Benchmark: scenario" in captured.out and "| alpha | 6/6 |" in captured.out
    assert f"results written to {out}" in captured.err
    assert len(records(out)) == 12 and summary(out)["scenario"]["repetitions"] == 3


def test_default_output_folder_is_results_name_timestamp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, scenario_text(BODY.replace("repetitions: 2", "repetitions: 1")))
    assert cli_main(["bench", str(path), "--no-progress", "--no-history"]) == 0
    (folder,) = (tmp_path / "results").iterdir()
    assert folder.name.startswith("scenario-") and (folder / "summary.json").is_file()


def test_bad_scenario_exits_2_naming_file_line_and_field(tmp_path, capsys):
    path = write(tmp_path, "prompts: [a]\nload:\n  concurrency: many\n")
    assert cli_main(["bench", str(path), "--no-progress"]) == 2
    assert f"{path}:3: load.concurrency: must be an integer >= 1" in capsys.readouterr().err
    assert cli_main(["bench", "--no-progress"]) == 2


def test_unknown_provider_in_the_subset_is_a_scenario_error(tmp_path, capsys):
    path = write(tmp_path, scenario_text(BODY + "providers: [alpha, gamma]\n"))
    assert cli_main(["bench", str(path), "--no-progress", "--no-history", "--out", str(tmp_path / "o")]) == 2
    assert "providers: unknown provider 'gamma'" in capsys.readouterr().err


def test_ctrl_c_stops_a_real_run_and_still_writes_everything_finished(tmp_path):
    slow = FAST_SIM.replace("ttft_ms: 25", "ttft_ms: 60")
    path = write(tmp_path, scenario_text(BODY.replace("repetitions: 2", "repetitions: 200"), slow))
    out = tmp_path / "res"
    env = dict(os.environ, PYTHONPATH=str(ROOT), XDG_DATA_HOME=str(tmp_path / "data"))
    proc = subprocess.Popen([sys.executable, "-m", "tokenrace", "bench", str(path), "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    try:
        deadline = time.monotonic() + 30
        rec_file = out / "records.jsonl"
        while time.monotonic() < deadline:          # wait for the condition "some requests finished"
            if rec_file.is_file() and rec_file.read_text().count("\n") >= 4:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    doc = summary(out)
    assert doc["partial"] is True
    recs = records(out)
    assert 4 <= len(recs) < 800 and len(recs) == sum(g["requests"] for g in doc["groups"])
    assert all(r["status"] == "ok" for r in recs)
    assert "Partial results" in stdout and "Traceback" not in stderr
    assert json.loads((out / "environment.json").read_text())["partial"] is True


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "examples").glob("bench-*.yaml")))
def test_example_scenarios_are_valid(name):
    sc = load_scenario(ROOT / "examples" / name)
    assert sc.prompts and sc.steps


def test_bench_commands_import_only_argparse_and_bench_never_imports_server_or_tui():
    code = ("import sys; import tokenrace.commands.bench_cmd, tokenrace.commands.compare_cmd;"
            "assert 'aiohttp' not in sys.modules and 'rich' not in sys.modules, 'heavy import at start-up';"
            "import tokenrace.bench.session, tokenrace.bench.calibrate, tokenrace.bench.compare, "
            "tokenrace.bench.progress, tokenrace.bench.html;"
            "bad = [m for m in sys.modules if m.startswith(('tokenrace.server', 'tokenrace.tui', 'tornado', "
            "'textual'))]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
