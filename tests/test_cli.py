"""The command line as a user runs it: a real subprocess, real configs, the simulator over loopback."""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys

import pytest
import pytest_asyncio

from tokenrace.config.models import KINDS
from tokenrace.simulator import Fault, Profile, Simulator

FAKE_KEY = "sk-test-LEAK-CHECK-123"


async def tokenrace(*args: str, cwd=None, env=None, stdin: bytes | None = None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tokenrace", *args, cwd=cwd,
        env={**os.environ, "HOME": str(cwd or "/nonexistent"), **(env or {})},
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(stdin), 60)
    return proc.returncode, out.decode(), err.decode()


@pytest_asyncio.fixture
async def csim():
    s = Simulator([Profile("fast", ttft_ms=20, itl_ms=3, answer_tokens=12),
                   Profile("broken", ttft_ms=20, itl_ms=3, answer_tokens=12, fault=Fault("http_500"))])
    await s.start()
    yield s
    await s.stop()


def write_config(tmp_path, sim, extra: str = "") -> str:
    path = tmp_path / "tokenrace.yaml"
    path.write_text(f"""providers:
  - name: quick
    kind: openai
    model: m1
    base_url: {sim.base_url('fast', 'openai')}
    api_key: ${{TEST_KEY}}
  - name: careful
    kind: anthropic
    model: m2
    base_url: {sim.base_url('fast', 'anthropic')}
{extra}""")
    return str(path)


async def test_run_json_is_one_document_with_the_promised_fields(tmp_path, csim):
    cfg = write_config(tmp_path, csim)
    code, out, err = await tokenrace("run", "hello", "-c", cfg, "--json", cwd=tmp_path, env={"TEST_KEY": FAKE_KEY})
    assert code == 0, err
    doc = json.loads(out)
    assert doc["prompt"] == "hello"
    assert [r["provider"] for r in doc["results"]] == ["quick", "careful"]
    for r in doc["results"]:
        assert r["status"] == "ok" and r["error"] is None and r["text"]
        for key in ("model", "reasoning", "ttft_ms", "e2e_ms", "output_tokens", "token_source", "tokens_per_s"):
            assert key in r
        assert set(r["itl_ms"]) >= {"p50", "p90", "p99"}
    assert FAKE_KEY not in out + err


async def test_run_exit_1_when_a_provider_fails_and_others_still_answer(tmp_path, csim):
    extra = f"""  - name: down
    kind: gemini
    model: m3
    base_url: {csim.base_url('broken', 'gemini')}
    retries: 0
"""
    cfg = write_config(tmp_path, csim, extra)
    code, out, err = await tokenrace("run", "hello", "-c", cfg, "--json", cwd=tmp_path, env={"TEST_KEY": "k"})
    assert code == 1
    res = {r["provider"]: r for r in json.loads(out)["results"]}
    assert res["quick"]["status"] == "ok" and res["careful"]["status"] == "ok"
    assert res["down"]["status"] == "error" and res["down"]["error"].startswith("down: 500")


async def test_missing_env_var_fails_only_that_provider(tmp_path, csim):
    cfg = write_config(tmp_path, csim)
    env = {k: v for k, v in os.environ.items() if k != "TEST_KEY"}
    code, out, err = await tokenrace("run", "hi", "-c", cfg, "--json", cwd=tmp_path, env=env)
    assert code == 1
    res = {r["provider"]: r for r in json.loads(out)["results"]}
    assert "TEST_KEY" in res["quick"]["error"] and "quick" in res["quick"]["error"]
    assert res["careful"]["status"] == "ok"


async def test_config_error_exit_2_names_file_line_field_without_traceback(tmp_path):
    bad = tmp_path / "tokenrace.yaml"
    bad.write_text("providers:\n  - name: a\n    kind: openai\n    model: m\n  - name: b\n    kind: opnai\n    model: m\n")
    code, out, err = await tokenrace("run", "hi", "-c", str(bad), cwd=tmp_path)
    assert code == 2
    assert f"{bad}:6: providers[1].kind: 'opnai' is not one of" in err
    assert "Traceback" not in err


async def test_usage_errors_exit_2(tmp_path, csim):
    cfg = write_config(tmp_path, csim)
    code, _, err = await tokenrace("run", "hi", "-c", cfg, "-p", "nope", cwd=tmp_path)
    assert code == 2 and "unknown provider 'nope'" in err
    code, _, err = await tokenrace("run", "   ", "-c", cfg, cwd=tmp_path)
    assert code == 2 and "empty" in err
    code, _, err = await tokenrace("run", "hi", "-c", str(tmp_path / "missing.yaml"), cwd=tmp_path)
    assert code == 2 and "not found" in err and "Traceback" not in err


async def test_run_table_output_and_prompt_from_stdin(tmp_path, csim):
    cfg = write_config(tmp_path, csim)
    code, out, err = await tokenrace("run", "-", "-c", cfg, "-p", "careful", cwd=tmp_path,
                                     env={"TEST_KEY": "k"}, stdin=b"from stdin")
    assert code == 0, err
    assert "careful" in out and "quick" not in out and "TTFT" in out


async def test_builtin_simulator_needs_no_config(tmp_path):
    code, out, err = await tokenrace("run", "hello", "--json", "--max-tokens", "8", cwd=tmp_path)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["config"] == "built-in simulator"
    from tokenrace.config.defaults import BUILTIN
    assert [r["provider"] for r in doc["results"]] == [b[0] for b in BUILTIN]
    assert {b[1] for b in BUILTIN} == set(KINDS)              # one of each kind
    assert all(r["status"] == "ok" for r in doc["results"])


async def test_providers_lists_without_secrets_and_checks(tmp_path, csim):
    cfg = write_config(tmp_path, csim).replace("", "")
    with open(cfg, "a") as f:
        f.write("    headers: {X-Secret-Header: shh-HEADER-VALUE}\n")
    env = {"TEST_KEY": FAKE_KEY}
    code, out, err = await tokenrace("providers", "-c", cfg, "--json", cwd=tmp_path, env=env)
    assert code == 0, err
    rows = json.loads(out)["providers"]
    assert [r["name"] for r in rows] == ["quick", "careful"]
    code, out2, err2 = await tokenrace("providers", "-c", cfg, "--check", cwd=tmp_path, env=env)
    assert code == 0, err2
    assert "ok" in out2
    for text in (out, err, out2, err2):
        assert FAKE_KEY not in text and "shh-HEADER-VALUE" not in text


async def test_init_writes_a_starter_that_loads(tmp_path):
    code, out, err = await tokenrace("init", cwd=tmp_path)
    assert code == 0, err
    assert (tmp_path / "tokenrace.yaml").exists()
    code, _, err = await tokenrace("init", cwd=tmp_path)
    assert code == 2 and "exists" in err
    code, out, err = await tokenrace("providers", "--json", cwd=tmp_path, env={"OPENAI_API_KEY": ""})
    assert code == 0, err
    assert json.loads(out)["providers"][0]["name"] == "gpt-4o-mini"


@pytest.mark.parametrize("cmd", ["run", "simulate", "providers", "init", "serve", "tui", "bench", "compare"])
async def test_every_command_has_help(cmd):
    code, out, _ = await tokenrace(cmd, "--help")
    assert code == 0 and "usage: tokenrace " + cmd in out


def _walk(parser: argparse.ArgumentParser, path: str = "tokenrace"):
    """(command path, action) for every argument of every (sub)command, and each subcommand's own entry."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            listed = {a.dest: a for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield path, listed.get(name)
                yield from _walk(sub, f"{path} {name}")
        else:
            yield path, action


def test_every_option_of_every_command_has_help_text():
    from tokenrace.cli import build_parser

    parser = build_parser()
    walked = list(_walk(parser))
    missing = [f"{path}: {'/'.join(a.option_strings) or a.dest}" if a is not None else f"{path}: a subcommand"
               for path, a in walked if a is None or not (a.help or "").strip() or a.help == argparse.SUPPRESS]
    assert not missing, "options without help text: " + "; ".join(missing)
    assert len(walked) > 60                     # it really walked into every subcommand
    # and `tokenrace <cmd> --help` prints each one (a help string is not lost to a formatter)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, p in sub.choices.items():
        text = " ".join(p.format_help().split())
        for a in p._actions:
            if a.help and a.help != argparse.SUPPRESS:
                first = " ".join((a.help % {"default": a.default, "prog": p.prog}).split())[:30]
                assert first in text, (name, a.dest, first)


def test_every_subcommand_is_on_the_parser():
    from tokenrace.cli import build_parser
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert set(sub.choices) == {"run", "simulate", "providers", "init", "serve", "tui", "bench", "compare", "worker"}


@pytest.mark.parametrize("cmd", ["serve", "tui", "bench", "compare", "worker"])
def test_a_command_module_that_fails_to_import_stops_the_cli_loudly(cmd):
    # None in sys.modules makes the import raise ModuleNotFoundError: the case the CLI once skipped silently
    code = (f"import sys; sys.modules['tokenrace.commands.{cmd}_cmd'] = None\n"
            "from tokenrace.cli import main; sys.exit(main(['--help']))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and f"tokenrace.commands.{cmd}_cmd" in proc.stderr, proc.stderr
    assert "ModuleNotFoundError" in proc.stderr


async def test_run_shows_the_cost_of_priced_providers(tmp_path, csim):
    extra = """    price: {input: 3, output: 15}
"""
    cfg = write_config(tmp_path, csim, extra)       # the price belongs to "careful" (the last provider)
    code, out, err = await tokenrace("run", "hello", "-c", cfg, "--json", cwd=tmp_path, env={"TEST_KEY": "k"})
    assert code == 0, err
    res = {r["provider"]: r for r in json.loads(out)["results"]}
    assert res["quick"]["cost_usd"] is None and res["quick"]["cost_estimated"] is None
    careful = res["careful"]
    assert careful["cost_usd"] == pytest.approx((careful["input_tokens"] * 3 + careful["output_tokens"] * 15) / 1e6)
    assert careful["cost_estimated"] is False
    code, out, err = await tokenrace("run", "hello", "-c", cfg, "--no-text", cwd=tmp_path, env={"TEST_KEY": "k"})
    assert "Cost" in out and f"${careful['cost_usd']:.6f}" in out


async def test_run_continue_last_asks_a_follow_up_in_the_same_thread(tmp_path):
    env = {"XDG_DATA_HOME": str(tmp_path / "data")}
    code, out, err = await tokenrace("run", "First question", "-p", "sim-openai", "--json", "--max-tokens", "8",
                                     cwd=tmp_path, env=env)
    assert code == 0, err
    first = json.loads(out)
    code, out, err = await tokenrace("run", "Second question", "-p", "sim-openai", "--json", "--max-tokens", "8",
                                     "--continue", "last", cwd=tmp_path, env=env)
    assert code == 0, err
    second = json.loads(out)
    assert second["parent"] == first["run"]
    code, out, err = await tokenrace("run", "x", "--continue", "no-such-run", cwd=tmp_path, env=env)
    assert code == 2 and "no run 'no-such-run'" in err
    code, out, err = await tokenrace("run", "x", "--continue", "last", "--no-history", cwd=tmp_path, env=env)
    assert code == 2 and "--no-history" in err


async def test_providers_on_the_builtin_simulator_prints_nothing_that_changes_from_run_to_run(tmp_path):
    outs = []
    for _ in range(2):
        code, out, err = await tokenrace("providers", cwd=tmp_path, env={"COLUMNS": "120"})
        assert code == 0, err
        outs.append(out)
    assert outs[0] == outs[1]                       # no throwaway port
    assert "built-in simulator (in-process" in outs[0] and "127.0.0.1" not in outs[0] and "sim-openai" in outs[0]
    code, out, err = await tokenrace("providers", "--json", cwd=tmp_path)
    doc = json.loads(out)
    assert doc["config"] == "built-in simulator" and all(r["base_url"] is None for r in doc["providers"])


async def test_providers_from_a_config_still_show_their_base_urls(tmp_path, csim):
    cfg = write_config(tmp_path, csim)
    code, out, err = await tokenrace("providers", "-c", cfg, "--json", cwd=tmp_path, env={"TEST_KEY": "k"})
    assert code == 0, err
    assert json.loads(out)["providers"][0]["base_url"] == csim.base_url("fast", "openai")


async def test_run_suggests_the_closest_provider_name(tmp_path, csim):
    code, _, err = await tokenrace("run", "hi", "-p", "sim-opnai", "--no-history", cwd=tmp_path)
    assert code == 2 and "unknown provider 'sim-opnai' (did you mean 'sim-openai'?)" in err, err
    cfg = write_config(tmp_path, csim)
    code, _, err = await tokenrace("run", "hi", "-c", cfg, "-p", "quik", "--no-history", cwd=tmp_path)
    assert code == 2 and "unknown provider 'quik' (did you mean 'quick'?)" in err, err


async def test_tui_suggests_the_closest_provider_name(tmp_path, csim):
    code, _, err = await tokenrace("tui", "-p", "sim-opnai", cwd=tmp_path)
    assert code == 2 and "unknown provider 'sim-opnai' (did you mean 'sim-openai'?)" in err, err
    cfg = write_config(tmp_path, csim)
    code, _, err = await tokenrace("tui", "-c", cfg, "-p", "quik", cwd=tmp_path)
    assert code == 2 and "unknown provider 'quik' (did you mean 'quick'?)" in err, err


async def test_bench_suggests_the_closest_provider_name(tmp_path):
    scenario = tmp_path / "s.yaml"
    scenario.write_text("simulator: true\nproviders: [sim-opnai]\nprompts: [hi]\n")
    code, _, err = await tokenrace("bench", str(scenario), "--no-progress", "--no-history", cwd=tmp_path)
    assert code == 2 and "unknown provider 'sim-opnai' (did you mean 'sim-openai'?)" in err, err
    code, _, err = await tokenrace("bench", str(scenario), "--set", "providers=[sim-ollma]", "--no-progress",
                                   "--no-history", cwd=tmp_path)
    assert code == 2 and "unknown provider 'sim-ollma' (did you mean 'sim-ollama'?)" in err, err


def test_a_reader_that_stops_early_gets_no_traceback(tmp_path):
    # `tokenrace compare A B --all | head`: far more than a pipe buffer of output, and the reader leaves
    groups = [{"provider": f"p{i:03d}", "load_kind": "concurrency", "load_value": 1, "step": 0, "requests": 8,
               "error_rate": 0.0, "request_throughput": 1.0, "figures": {"ttft_ms": {"p50": 100.0 + i}}}
              for i in range(600)]
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "summary.json").write_text(json.dumps({"groups": groups}))
    proc = subprocess.Popen([sys.executable, "-m", "tokenrace", "compare", str(tmp_path / "a"), str(tmp_path / "b"),
                             "--all"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().startswith(b"compare ")
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 1 and "Traceback" not in err and "BrokenPipe" not in err, err
