"""Scenario files: what a valid one becomes, --set overrides, and errors that name file, line and field."""
from __future__ import annotations

import pytest

from tests.bench import write
from tokenrace.bench.scenario import load_scenario, parse_scenario
from tokenrace.errors import ConfigError

FULL = """\
name: chat-latency
simulator:
  - {name: fast, ttft_ms: 20, itl_ms: 2}
providers: [fast]
prompts:
  - "Explain SSE in one paragraph."
  - {file: prompts.txt}
  - {file: chat.jsonl}
  - messages:
      - {role: system, content: Be brief.}
      - {role: user, content: Hi}
system: You are terse.
params: {max_tokens: 256, temperature: 0}
warmup: 1
repetitions: 3
load:
  concurrency: [1, 4]
slo: {ttft_ms: 800, tokens_per_s: 20}
seed: 42
x-note: ignored
"""


def _full(tmp_path):
    (tmp_path / "prompts.txt").write_text("first line\n\n  second line\n", encoding="utf-8")
    (tmp_path / "chat.jsonl").write_text('{"prompt": "p", "system": "s"}\n"plain"\n'
                                         '[{"role": "user", "content": "m"}]\n', encoding="utf-8")
    return write(tmp_path, FULL)


def test_a_full_scenario_becomes_a_plan(tmp_path):
    sc = load_scenario(_full(tmp_path))
    assert sc.name == "chat-latency" and sc.simulator and sc.sim_providers[0].profile.ttft_ms == 20
    assert sc.provider_names == ("fast",)
    assert [p.messages[-1]["content"] for p in sc.prompts] == [
        "Explain SSE in one paragraph.", "first line", "  second line", "p", "plain", "m", "Hi"]
    assert sc.prompts[3].messages[0] == {"role": "system", "content": "s"}
    assert sc.prompts[1].origin.endswith("prompts.txt:1") and sc.prompts[2].origin.endswith("prompts.txt:3")
    assert [(s.kind, s.value) for s in sc.steps] == [("concurrency", 1), ("concurrency", 4)]
    assert (sc.warmup, sc.repetitions, sc.seed) == (1, 3, 42)
    assert sc.params == {"max_tokens": 256, "temperature": 0} and sc.system == "You are terse."
    assert sc.slo == {"ttft_ms": 800.0, "tokens_per_s": 20.0}
    # as run: prompts resolved so the copy in the output folder runs on its own
    assert sc.as_run["prompts"][1] == "first line" and "messages" in sc.as_run["prompts"][3]


def test_defaults_when_fields_are_left_out():
    sc = parse_scenario("prompts: hello\n", "s.yaml")
    assert sc.name == "s" and [p.label for p in sc.prompts] == ["hello"]
    assert [(s.kind, s.value) for s in sc.steps] == [("concurrency", 1)]
    assert (sc.warmup, sc.repetitions, sc.seed, sc.slo) == (0, 1, 0, {})
    assert not sc.simulator and sc.config is None and not sc.inline_providers


def test_set_overrides_fields_with_yaml_values(tmp_path):
    sc = load_scenario(_full(tmp_path), ["repetitions=5", "load.concurrency=[2, 8]", "params.max_tokens=32",
                                         "slo.e2e_ms=2000", "name=other"])
    assert sc.repetitions == 5 and [s.value for s in sc.steps] == [2, 8]
    assert sc.params["max_tokens"] == 32 and sc.slo["e2e_ms"] == 2000 and sc.name == "other"
    assert sc.as_run["repetitions"] == 5
    # switching the load shape replaces the other one
    sc = load_scenario(_full(tmp_path), ["load.rate=2.5"])
    assert [(s.kind, s.value) for s in sc.steps] == [("rate", 2.5)]
    # whole mappings and lists are YAML too
    sc = load_scenario(_full(tmp_path), ["slo={ttft_ms: 5, e2e_ms: 9}", "load={rate: [1, 2]}", "prompts=[x, y]",
                                         "simulator.0.fault={kind: http_500, rate: 0.5}"])
    assert sc.slo == {"ttft_ms": 5, "e2e_ms": 9} and [s.value for s in sc.steps] == [1, 2]
    assert [p.label for p in sc.prompts] == ["x", "y"] and sc.sim_providers[0].profile.fault.rate == 0.5


@pytest.mark.parametrize("sets, message", [
    (["repetitions"], "--set 'repetitions': expected KEY=VALUE"),
    (["repetiton=2"], "unknown field 'repetiton' (did you mean 'repetitions'?)"),
    (["repetitions=0"], "--set repetitions: repetitions: must be an integer >= 1, got 0"),
    (["load.concurrency=[1, x]"], "--set load.concurrency: load.concurrency[1]: must be an integer"),
    (["prompts.7=hi"], "not an index of the list"),
    (["slo={ttft: 5}"], "--set slo: slo.ttft: unknown field 'ttft'"),
])
def test_set_errors_name_the_option(tmp_path, sets, message):
    with pytest.raises(ConfigError) as e:
        load_scenario(_full(tmp_path), sets)
    assert message in str(e.value)


BAD = [
    ("prompts: [a]\nrepetiton: 3\n", "2: repetiton: unknown field 'repetiton' (did you mean 'repetitions'?)"),
    ("prompts: [a]\nrepetitions: 0\n", "2: repetitions: must be an integer >= 1, got 0"),
    ("prompts: [a]\nwarmup: -1\n", "2: warmup: must be an integer >= 0"),
    ("prompts: [a]\nload:\n  concurrency: 2\n  rate: 1\n", "3: load: give exactly one of concurrency"),
    ("prompts: [a]\nload:\n  concurrency:\n    - 1\n    - 0\n", "5: load.concurrency[1]: must be an integer >= 1"),
    ("prompts: [a]\nload: {rate: [1, -2]}\n", "2: load.rate[1]: must be a number > 0"),
    ("prompts: [a]\nload: {concurency: 2}\n", "2: load.concurency: unknown field 'concurency' (did you mean"),
    ("name: x\n", "1: prompts: missing required field"),
    ("prompts: []\n", "1: prompts: must be a non-empty list"),
    ("prompts:\n  - ok\n  - 3\n", "3: prompts[1]: must be a string, {file: PATH} or {messages: [...]}"),
    ("prompts:\n  - {file: nope.txt}\n", "2: prompts[0].file: cannot read prompts file"),
    ("prompts:\n  - {messages: [{role: robot, content: x}]}\n", "prompts[0].messages[0].role: role must be one of"),
    ("prompts: [a]\nslo: {ttft: 5}\n", "2: slo.ttft: unknown field 'ttft' (did you mean 'ttft_ms'?)"),
    ("prompts: [a]\nslo: {ttft_ms: 0}\n", "2: slo.ttft_ms: must be a number > 0"),
    ("prompts: [a]\nconfig: missing.yaml\n", "2: config: config file not found"),
    ("prompts: [a]\nproviders: [a, {name: b}]\n", "providers[0]: mix of names and definitions"),
    ("prompts: [a]\nproviders:\n  - name: p\n    kind: opena\n    model: m\n",
     "4: providers[0].kind: 'opena' is not one of"),
    ("prompts: [a]\nproviders: [x]\ndefaults: {retries: 1}\n", "3: defaults: 'defaults' only applies to inline"),
    ("prompts: [a]\nsimulator: [{name: s, ttft_ms: fast}]\n", "2: simulator[0].ttft_ms: must be a number >= 0"),
    ("prompts: [a]\nsimulator: [{name: s, fault: {kind: boom}}]\n", "simulator[0].fault: unknown fault kind"),
    ("prompts: [a]\nsimulator: true\nconfig: c.yaml\n", "give only one of config, simulator and inline"),
    ("prompts: [a]\nname: 'a b'\n", "2: name: 'a b' may only contain"),
    ("prompts: [a\n", "invalid YAML"),
    ("prompts: [a]\nseed: 1\nseed: 2\n", "3: seed: duplicate key 'seed' (first at line 2)"),
    ("- a\n", "1: must be a mapping, got a list"),
]


@pytest.mark.parametrize("text, message", BAD)
def test_bad_scenarios_name_file_line_and_field(tmp_path, text, message):
    path = write(tmp_path, text, "bad.yaml")
    with pytest.raises(ConfigError) as e:
        load_scenario(path)
    assert str(e.value).startswith(f"{path}:"), str(e.value)
    assert message in str(e.value), str(e.value)


def test_errors_inside_a_jsonl_prompts_file_name_that_file_and_line(tmp_path):
    (tmp_path / "p.jsonl").write_text('"ok"\n{"prompt": 3}\n', encoding="utf-8")
    path = write(tmp_path, "prompts: {file: p.jsonl}\n")
    with pytest.raises(ConfigError) as e:
        load_scenario(path)
    assert str(e.value).startswith(f"{tmp_path / 'p.jsonl'}:2: ")
    (tmp_path / "p.jsonl").write_text('"ok"\n{oops\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"p\.jsonl:2: invalid JSON"):
        load_scenario(path)


def test_inline_providers_use_the_config_rules_and_keys_are_masked_in_the_copy(tmp_path):
    text = ("prompts: [a]\nproviders:\n  - name: p\n    kind: openai\n    model: m\n    api_key: ${K}\n"
            "    headers: {X-Token: secret-value}\n")
    sc = load_scenario(write(tmp_path, text), env={"K": "sk-very-secret"})
    assert sc.inline_providers[0].api_key.reveal() == "sk-very-secret"
    assert sc.inline_providers[0].base_url == "https://api.openai.com/v1"
    copy = repr(sc.as_run)
    assert "sk-very-secret" not in copy and "secret-value" not in copy and "${K}" not in copy
    assert sc.as_run["providers"][0]["api_key"] == "***"


def test_a_missing_scenario_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the scenario"):
        load_scenario(tmp_path / "none.yaml")


# -- paths the shared validation base (tokenrace/config/validate.py) added or unified --------------

BIG = "9" * 400     # an integer too large for a float: once an OverflowError traceback


@pytest.mark.parametrize("text, message", [
    (f"prompts: [a]\nsimulator: [{{name: s, ttft_ms: {BIG}}}]\n", "2: simulator[0].ttft_ms: must be a number >= 0"),
    (f"prompts: [a]\nslo: {{ttft_ms: {BIG}}}\n", "2: slo.ttft_ms: must be a number > 0"),
    ("prompts: [a]\nproviders: [2024-01-01]\n", "2: providers[0]: must be a provider name, got a date (quote it"),
    ("prompts: [a]\nproviders:\n  - {name: p, kind: openai, model: m}\n  - {name: p, kind: ollama, model: m}\n",
     "4: providers[1].name: duplicate provider name 'p' (first defined at line 3, again at line 4)"),
], ids=["huge-ttft", "huge-slo", "date-name", "duplicate-inline-name"])
def test_more_bad_scenarios_name_file_line_and_field(tmp_path, text, message):
    path = write(tmp_path, text, "bad.yaml")
    with pytest.raises(ConfigError) as e:
        load_scenario(path)
    assert str(e.value).startswith(f"{path}:{message}"), str(e.value)


def test_an_integer_json_cannot_hold_names_the_prompts_file_and_line(tmp_path):
    (tmp_path / "p.jsonl").write_text('"ok"\n' + "1" * 5000 + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_scenario(write(tmp_path, "prompts: {file: p.jsonl}\n"))
    assert str(e.value).startswith(f"{tmp_path / 'p.jsonl'}:2: invalid JSON: Exceeds the limit"), str(e.value)


def test_set_on_an_inline_provider_names_the_option(tmp_path):
    path = write(tmp_path, "prompts: [a]\nproviders:\n  - {name: p, kind: openai, model: m}\n")
    with pytest.raises(ConfigError) as e:
        load_scenario(path, ["providers.0.kind=opnai"])
    assert str(e.value) == ("--set providers.0.kind: providers[0].kind: 'opnai' is not one of openai, "
                            "openai-responses, anthropic, gemini, zhipu, ollama, azure, bedrock, cohere, sse "
                            "(did you mean 'openai'?)")
    assert load_scenario(path, ["providers.0.model=n"]).inline_providers[0].model == "n"


def test_a_set_value_yaml_cannot_build_is_taken_as_text(tmp_path):
    sc = load_scenario(write(tmp_path, "prompts: [a]\n"), ["name=2024-13-45"])   # no such date: once a traceback
    assert sc.name == "2024-13-45"


def test_a_key_written_twice_in_a_prompt_mapping_is_an_error(tmp_path):
    path = write(tmp_path, "prompts:\n  - file: a.txt\n    file: b.txt\n", "bad.yaml")
    with pytest.raises(ConfigError) as e:
        load_scenario(path)
    assert str(e.value) == f"{path}:3: prompts[0].file: duplicate key 'file' (first at line 2)"
