"""The YAML configuration loader: errors with file:line: field, env vars, look-up, secrets, starter."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokenrace.config import (
    DEFAULT_BASE_URLS,
    KINDS,
    Config,
    ConfigError,
    Secret,
    SSEEndpoint,
    Timeouts,
    expand_env,
    find_config_path,
    load_config,
    parse_config,
    starter_text,
    write_starter,
)

SRC = "tokenrace.yaml"
KEY = "sk-test-SECRET-123"
OK = "providers:\n  - name: a\n    kind: openai\n    model: m\n"


def parse(text: str, env: dict[str, str] | None = None) -> Config:
    return parse_config(text, SRC, env={} if env is None else env)


def error(text: str, env: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse(text, env)
    return info.value


def one(body: str, env: dict[str, str] | None = None):
    """Parse a config whose only provider has ``body`` (YAML lines, indented 4) after name."""
    return parse("providers:\n  - name: p\n" + body, env).providers[0]


# -- every error names file, line and field ----------------------------------------------------

P = "providers:\n  - name: p\n"          # provider 0 starts at line 2; the next field is line 3

ERRORS = [
    # (yaml, line, field or None, text the message must contain)
    ("", 1, None, "the file is empty"),
    ("# only a comment\n", 1, None, "the file is empty"),
    ("\n\n- a\n- b\n", 3, None, "must be a mapping with a 'providers' list (the top level), got a list"),
    ("just text\n", 1, None, "got a string"),
    ("defaults: {}\n", 1, "providers", "missing required field"),
    ("providers: []\n", 1, "providers", "is empty"),
    ("\nproviders:\n", 2, "providers", "must be a list of providers, got null"),
    ("providers: {name: a}\n", 1, "providers", "must be a list of providers, got a mapping"),
    ("providers:\n  - just-a-name\n", 2, "providers[0]", "must be a mapping, got a string"),
    ("provders: []\n", 1, "provders", "unknown field 'provders' (did you mean 'providers'?)"),
    (OK + "defualts: {}\n", 5, "defualts", "did you mean 'defaults'?"),
    (P + "    kind: openai\n    modle: m\n", 4, "providers[0].modle", "unknown field 'modle' (did you mean 'model'?)"),
    (P + "    kind: openai\n    model: m\n    colour: red\n", 5, "providers[0].colour", "unknown field 'colour'"),
    (P + "    kind: openai\n", 2, "providers[0].model", "missing required field 'model'"),
    (P + "    kind: ollama\n    model:\n", 4, "providers[0].model", "must be a string, got null"),
    (P + "    kind: openai\n    model: 4.5\n", 4, "providers[0].model", "got a number (quote it)"),
    (P + "    model: m\n", 2, "providers[0].kind", "missing required field 'kind'"),
    ("providers:\n  - kind: openai\n    model: m\n", 2, "providers[0].name", "missing required field 'name'"),
    ("providers:\n  - name: a b\n    kind: openai\n", 2, "providers[0].name",
     "'a b' may only contain letters, digits, '.', '_' and '-'"),
    ("providers:\n  - name: a/b\n", 2, "providers[0].name", "may only contain"),
    ("providers:\n  - name: 123\n", 2, "providers[0].name", "must be a string, got an integer (quote it)"),
    (P + "    kind: sse\n", 2, "providers[0].base_url", "kind sse needs a base_url"),
    (P + "    kind: openai\n    model: m\n    base_url: localhost:8000\n", 5, "providers[0].base_url",
     "must start with http:// or https://"),
    (P + "    kind: openai\n    model: m\n    params: [1, 2]\n", 5, "providers[0].params", "must be a mapping, got a list"),
    (P + "    kind: openai\n    model: m\n    params: 7\n", 5, "providers[0].params", "must be a mapping, got an integer"),
    (P + "    kind: openai\n    model: m\n    params:\n      a:\n        b: .nan\n", 7, "providers[0].params.a.b",
     "must be a finite number"),
    (P + "    kind: openai\n    model: m\n    params: {1: x}\n", 5, "providers[0].params", "keys must be strings"),
    (P + "    kind: openai\n    model: m\n    params: {day: 2024-01-01}\n", 5, "providers[0].params.day",
     "got a date"),
    (P + "    kind: openai\n    model: m\n    params: {blob: !!binary aGk=}\n", 5, "providers[0].params.blob",
     "must be JSON-like"),
    (P + "    kind: openai\n    model: m\n    params: &r {self: *r}\n", 5, "providers[0].params.self", "recursive"),
    (P + "    kind: openai\n    model: m\n    headers: [a]\n", 5, "providers[0].headers", "must be a mapping of strings"),
    (P + "    kind: openai\n    model: m\n    headers:\n      X-Num: 5\n", 6, "providers[0].headers.X-Num",
     "header values must be strings, got an integer"),
    (P + "    kind: openai\n    model: m\n    headers: {X-On: true}\n", 5, "providers[0].headers.X-On", "got a boolean"),
    (P + "    kind: openai\n    model: m\n    headers: {'Bad Name': x}\n", 5, "providers[0].headers.Bad Name",
     "not a valid HTTP header name"),
    (P + "    kind: openai\n    model: m\n    headers: {X-A: \"a\\nb\"}\n", 5, "providers[0].headers.X-A",
     "cannot contain line breaks"),
    (P + "    kind: openai\n    model: m\n    timeout: 30\n", 5, "providers[0].timeout", "must be a mapping like"),
    (P + "    kind: openai\n    model: m\n    timeout:\n      connect: 1\n      read: 0\n", 7,
     "providers[0].timeout.read", "must be a positive number of seconds, got 0"),
    (P + "    kind: openai\n    model: m\n    timeout: {total: -5}\n", 5, "providers[0].timeout.total", "positive"),
    (P + "    kind: openai\n    model: m\n    timeout: {total: '10'}\n", 5, "providers[0].timeout.total", "positive"),
    (P + "    kind: openai\n    model: m\n    timeout: {total: true}\n", 5, "providers[0].timeout.total", "positive"),
    (P + "    kind: openai\n    model: m\n    timeout: {total: .inf}\n", 5, "providers[0].timeout.total", "positive"),
    (P + "    kind: openai\n    model: m\n    timeout: {raed: 5}\n", 5, "providers[0].timeout.raed",
     "did you mean 'read'?"),
    (P + "    kind: openai\n    model: m\n    retries: -1\n", 5, "providers[0].retries", "must be an integer >= 0, got -1"),
    (P + "    kind: openai\n    model: m\n    retries: 1.5\n", 5, "providers[0].retries", "must be an integer >= 0"),
    (P + "    kind: openai\n    model: m\n    retries: yes\n", 5, "providers[0].retries", "must be an integer >= 0"),
    (P + "    kind: openai\n    model: m\n    auth: jwt\n", 5, "providers[0].auth", "only applies to kind zhipu"),
    (P + "    kind: zhipu\n    model: m\n    auth: jtw\n", 5, "providers[0].auth",
     "'jtw' is not one of key, jwt (did you mean 'jwt'?)"),
    (P + "    kind: openai\n    model: m\n    text_path: x\n", 5, "providers[0].text_path", "only applies to kind sse"),
    (P + "    kind: sse\n    base_url: http://h\n    mode: cumulativ\n", 5, "providers[0].mode",
     "'cumulativ' is not one of delta, cumulative (did you mean 'cumulative'?)"),
    (P + "    kind: sse\n    base_url: http://h\n    method: FETCH\n", 5, "providers[0].method", "is not one of GET, POST"),
    (P + "    kind: sse\n    base_url: http://h\n    text_path: ''\n", 5, "providers[0].text_path", "must not be empty"),
    (P + "    kind: sse\n    base_url: http://h\n    done: 0\n", 5, "providers[0].done",
     "must be a string or null, got an integer (quote it)"),
    (P + "    kind: sse\n    base_url: http://h\n    txt_path: a\n", 5, "providers[0].txt_path", "did you mean 'text_path'?"),
    (P + "    kind: openai\n    model: m\n    model: n\n", 5, "providers[0].model", "duplicate key 'model' (first at line 4)"),
    ("defaults: [1]\n" + OK, 1, "defaults", "must be a mapping"),
    ("defaults:\n  api_key: x\n" + OK, 2, "defaults.api_key", "cannot be a default"),
    ("defaults:\n  parms: {}\n" + OK, 2, "defaults.parms", "did you mean 'params'?"),
    ("defaults:\n  retries: -2\n" + OK, 2, "defaults.retries", "must be an integer >= 0"),
    ("defaults:\n  params: {key: '${NOPE}'}\n" + OK, 2, "defaults.params.key", "missing environment variable NOPE"),
    (P + "    kind: openai\n    model: m\n    api_key: ${OPEN\n", 5, "providers[0].api_key", "unterminated '${'"),
    (P + "    kind: openai\n    model: m\n    api_key: ${1KEY}\n", 5, "providers[0].api_key", "invalid variable reference: write ${NAME}"),
    (P + "    kind: openai\n    model: m\n    params: {a: '${}'}\n", 5, "providers[0].params.a", "invalid variable reference"),
    (P + "    kind: openai\n    model: m\n    params: {a: '${A-b}'}\n", 5, "providers[0].params.a", "invalid variable reference"),
    ("providers:\n  - name: ${WHO}\n    kind: openai\n", 2, "providers[0].name", "missing environment variable WHO"),
    ("providers:\n  - name: p\n    kind: ${KIND}\n", 3, "providers[0].kind", "missing environment variable KIND"),
    # YAML itself
    ("providers:\n  - name: a\n    kind: [openai\n", 4, None, "invalid YAML"),
    ("providers:\n  - name: 'a\n", 3, None, "invalid YAML"),
    ("providers:\n\t- name: a\n", 2, None, "invalid YAML"),
    ("a: 1\n b: 2\n", 2, None, "invalid YAML"),
    ("providers:\n  - name: a\n    kind: \x00\n", 3, None, "unacceptable character #x0000"),
    ("providers:\n  - name: a\n    when: 2024-13-45\n", 3, None, "invalid timestamp value"),
    ("!!python/object/apply:os.system ['true']\n", 1, None, "could not determine a constructor"),
    ("providers: !!python/name:os.system\n", 1, None, "could not determine a constructor"),
    ("a: 1\n---\nb: 2\n", 2, None, "expected a single document"),
    ("providers: *nowhere\n", 1, None, "found undefined alias"),
    ("? [a]\n: 1\n", 1, None, "unhashable key"),
    ("[" * 600 + "]" * 600, 1, None, "invalid YAML"),
]


@pytest.mark.parametrize("text,line,field,detail", ERRORS, ids=[f"e{i}" for i in range(len(ERRORS))])
def test_errors_name_file_line_and_field(text, line, field, detail):
    err = error(text)
    assert (err.file, err.line, err.field) == (SRC, line, field)
    prefix = f"{SRC}:{line}: " + (f"{field}: " if field else "")
    assert str(err).startswith(prefix), str(err)
    assert detail in err.detail, str(err)


def test_kind_typo_message_is_exact():
    text = OK + "  - name: b\n    kind: opnai\n    model: m\n"
    assert str(error(text)) == (f"{SRC}:6: providers[1].kind: 'opnai' is not one of openai, openai-responses, "
                                "anthropic, gemini, zhipu, ollama, azure, bedrock, cohere, sse "
                                "(did you mean 'openai'?)")


def test_duplicate_provider_names_name_both_lines():
    text = OK + "  - name: b\n    kind: ollama\n    model: m\n  - name: a\n    kind: ollama\n    model: x\n"
    err = error(text)
    assert (err.line, err.field) == (8, "providers[2].name")
    assert "duplicate provider name 'a'" in str(err) and "line 2" in str(err) and "line 8" in str(err)


def test_errors_never_echo_the_api_key():
    bad = [P + f"    kind: openai\n    model: m\n    api_key: '{KEY}\n",           # unterminated quote
           P + f"    kind: openai\n    model: m\n    api_key: {KEY}\n    api_key: {KEY}\n",
           P + f"    kind: openai\n    model: m\n    api_key: {KEY}${{\n",
           P + f"    kind: openai\n    model: m\n    api_key: [{KEY}]\n",
           P + f"    kind: openai\n    model: m\n    api_key: ${{{KEY}}}\n",
           P + f"    kind: openai\n    model: m\n    base_url: api.test/?key={KEY}\n",
           P + f"    kind: openai\n    model: m\n    api_key: {KEY}\n    \x07\n"]
    for text in bad:
        assert KEY not in str(error(text))


# -- values ------------------------------------------------------------------------------------

def test_full_provider_and_source():
    cfg = parse_config(
        "providers:\n"
        "  - name: gpt-4o-mini\n"
        "    kind: openai\n"
        "    model: gpt-4o-mini\n"
        "    base_url: https://example.test/v1//\n"
        f"    api_key: {KEY}\n"
        "    params: {temperature: 0.7, max_tokens: 512, stop: [\"\\n\"]}\n"
        "    headers: {X-Team: bench}\n"
        "    timeout: {connect: 2, read: 30.5}\n"
        "    retries: 0\n", "conf/race.yaml", env={})
    p = cfg.providers[0]
    assert cfg.source == "conf/race.yaml" and not cfg.builtin and cfg.defaults == {}
    assert (p.name, p.kind, p.model, p.base_url) == ("gpt-4o-mini", "openai", "gpt-4o-mini", "https://example.test/v1")
    assert p.api_key == Secret(KEY) and p.api_key.reveal() == KEY
    assert p.params == {"temperature": 0.7, "max_tokens": 512, "stop": ["\n"]}
    assert type(p.params) is dict and type(p.params["stop"]) is list     # no loader types leak out
    assert p.headers == {"X-Team": "bench"}
    assert p.timeout == Timeouts(connect=2.0, read=30.5, total=600.0)
    assert (p.retries, p.auth, p.endpoint, p.unavailable, p.line) == (0, "key", None, None, 2)


@pytest.mark.parametrize("kind", [k for k in KINDS if DEFAULT_BASE_URLS[k]])
def test_default_base_url_per_kind(kind):
    p = one(f"    kind: {kind}\n    model: m\n")
    assert p.base_url == DEFAULT_BASE_URLS[kind].rstrip("/")
    assert one(f"    kind: {kind}\n    model: m\n    base_url: null\n").base_url == p.base_url


def test_provider_lines_and_order():
    text = ("# header\n\nproviders:\n  - name: a\n    kind: openai\n    model: m\n\n"
            "  - {name: b, kind: ollama, model: m}\n  -\n    name: c\n    kind: gemini\n    model: m\n")
    cfg = parse(text)
    assert [(p.name, p.line) for p in cfg.providers] == [("a", 4), ("b", 8), ("c", 10)]
    assert [p.name for p in cfg.select(["c", "a"])] == ["a", "c"]


@pytest.mark.parametrize("value", ["", "''", "null", "${EMPTY}", "${UNSET_BUT:-}"])
def test_empty_api_key_is_none(value):
    p = one(f"    kind: openai\n    model: m\n    api_key: {value}\n", env={"EMPTY": ""})
    assert p.api_key is None and p.unavailable is None
    assert one("    kind: openai\n    model: m\n").api_key is None


def test_zhipu_auth_and_anchors_and_extension_keys():
    text = ("x-common: &common\n  kind: zhipu\n  model: glm-4\n  retries: 5\n"
            "providers:\n  - name: z1\n    <<: *common\n    auth: jwt\n  - <<: *common\n    name: z2\n    retries: 1\n")
    z1, z2 = parse(text).providers
    assert (z1.kind, z1.model, z1.auth, z1.retries) == ("zhipu", "glm-4", "jwt", 5)
    assert (z2.auth, z2.retries) == ("key", 1)


# -- defaults ----------------------------------------------------------------------------------

def test_defaults_merge_key_by_key():
    text = ("defaults:\n  params: {max_tokens: 512, temperature: 0}\n  headers: {X-A: a, X-B: b}\n"
            "  timeout: {read: 5}\n  retries: 4\n"
            "providers:\n"
            "  - name: a\n    kind: openai\n    model: m\n"
            "    params: {temperature: 0.9, seed: 1, max_tokens: null}\n    headers: {X-B: own}\n"
            "    timeout: {total: 50}\n    retries: 0\n"
            "  - name: b\n    kind: ollama\n    model: m\n")
    cfg = parse(text)
    a, b = cfg.providers
    # a null keeps the key with None so later merges (merge_params drops None) cannot bring the default back
    assert a.params == {"max_tokens": None, "temperature": 0.9, "seed": 1}
    assert a.headers == {"X-A": "a", "X-B": "own"}
    assert a.timeout == Timeouts(connect=10.0, read=5.0, total=50.0) and a.retries == 0
    assert b.params == {"max_tokens": 512, "temperature": 0}
    assert b.headers == {"X-A": "a", "X-B": "b"} and b.timeout.read == 5.0 and b.retries == 4
    assert cfg.defaults == {"params": {"max_tokens": 512, "temperature": 0}, "headers": {"X-A": "a", "X-B": "b"},
                            "timeout": {"read": 5.0}, "retries": 4}
    a.params["seed"] = 2
    assert cfg.defaults["params"] == {"max_tokens": 512, "temperature": 0}     # no shared dicts


def test_defaults_null_is_empty():
    assert parse("defaults:\n" + OK).defaults == {}


# -- sse endpoint ------------------------------------------------------------------------------

def test_sse_endpoint_from_flat_keys():
    p = one("    kind: sse\n    base_url: http://localhost:9000/\n    path: /chat/stream\n    method: post\n"
            "    body: {prompt: '{prompt}', stream: true, history: []}\n    text_path: choices.0.text\n"
            "    mode: cumulative\n    done: null\n    event: message\n    error_path: null\n")
    assert (p.model, p.base_url) == ("", "http://localhost:9000")
    assert p.endpoint == SSEEndpoint(path="/chat/stream", method="POST",
                                     body={"prompt": "{prompt}", "stream": True, "history": []},
                                     text_path="choices.0.text", mode="cumulative", done=None,
                                     event="message", error_path=None)


def test_sse_endpoint_defaults_and_plain_text():
    p = one("    kind: sse\n    base_url: http://h\n    model: anything\n")
    assert p.endpoint == SSEEndpoint() and p.model == "anything"
    p = one("    kind: sse\n    base_url: http://h\n    text_path: null\n    method: GET\n    body: null\n")
    assert (p.endpoint.text_path, p.endpoint.method, p.endpoint.body, p.endpoint.done) == (None, "GET", None, "[DONE]")


# -- environment -------------------------------------------------------------------------------

def test_expand_env():
    env = {"A": "1", "E": ""}
    assert expand_env("x${A}y", env) == ("x1y", [])
    assert expand_env("${B:-dflt}/${A:-no}", env) == ("dflt/1", [])
    assert expand_env("${E:-used}", env) == ("used", [])                # shell ':-': empty uses the default
    assert expand_env("$$${A} $5 cost$ $A", env) == ("$1 $5 cost$ $A", [])
    assert expand_env("${B}-${C}-${B}", env) == ("--", ["B", "C", "B"])
    assert expand_env("${B:-a:-b}", env) == ("a:-b", [])
    assert expand_env("no dollars", env) == ("no dollars", [])


def test_env_substitution_everywhere_in_a_provider():
    env = {"HOST": "http://gpu:8000", "KEY": KEY, "TEAM": "perf", "T": "0.5"}
    p = one("    kind: openai\n    model: ${MODEL:-llama}\n    base_url: ${HOST}/v1/\n    api_key: ${KEY}\n"
            "    headers: {X-Team: '${TEAM}-$$1'}\n    params: {user: '${TEAM}', tags: ['${TEAM}', 1]}\n", env)
    assert (p.model, p.base_url, p.api_key.reveal()) == ("llama", "http://gpu:8000/v1", KEY)
    assert p.headers == {"X-Team": "perf-$1"} and p.params == {"user": "perf", "tags": ["perf", 1]}
    assert p.unavailable is None


def test_missing_env_var_makes_only_that_provider_unavailable():
    text = ("providers:\n"
            "  - name: gpt-4o-mini\n    kind: openai\n    model: gpt-4o-mini\n    api_key: ${OPENAI_API_KEY}\n"
            "  - name: local\n    kind: ollama\n    model: llama3\n")
    gpt, local = parse(text).providers
    assert gpt.unavailable == ("missing environment variable OPENAI_API_KEY "
                               "(used by provider 'gpt-4o-mini' at tokenrace.yaml:5)")
    assert gpt.api_key is None and local.unavailable is None
    assert parse(text, {"OPENAI_API_KEY": KEY}).providers[0].unavailable is None


def test_several_missing_env_vars_and_unvalidated_fields():
    p = one("    kind: sse\n    base_url: ${URL}\n    model: ${M}\n    headers: {A: '${X}'}\n"
            "    params: {a: [{b: '${Y}'}]}\n    mode: ${MODE}\n    api_key: ${X}\n")
    assert p.unavailable == "missing environment variables URL, M, X, Y, MODE (used by provider 'p' at tokenrace.yaml:4)"
    assert p.endpoint.mode == "delta" and p.base_url == ""
    p = one("    kind: openai\n    model: ${M}\n")                         # model not required when its var is unset
    assert p.unavailable.startswith("missing environment variable M ")


def test_os_environ_is_the_default(monkeypatch):
    monkeypatch.setenv("TR_TEST_MODEL", "from-env")
    text = "providers:\n  - {name: a, kind: openai, model: '${TR_TEST_MODEL}'}\n"
    assert parse_config(text).providers[0].model == "from-env"


# -- secrets -----------------------------------------------------------------------------------

def test_api_key_never_shown():
    cfg = parse(OK + f"    api_key: {KEY}\n  - name: b\n    kind: anthropic\n    model: m\n    api_key: ${{K}}\n",
                {"K": KEY})
    a, b = cfg.providers
    for shown in (repr(cfg), str(cfg), repr(a), str(a), str(b), repr(a.api_key), str(a.api_key),
                  f"{a.api_key}", str(a.public()), repr(cfg.defaults)):
        assert KEY not in shown
    assert a.api_key.reveal() == b.api_key.reveal() == KEY


# -- finding and loading files -----------------------------------------------------------------

@pytest.fixture
def places(tmp_path: Path):
    cwd, home = tmp_path / "work", tmp_path / "home"
    user = home / ".config" / "tokenrace" / "config.yaml"
    cwd.mkdir()
    user.parent.mkdir(parents=True)
    return cwd, home, user


def test_lookup_order(places, tmp_path):
    cwd, home, user = places
    find = lambda explicit=None, env=None: find_config_path(explicit, env=env or {}, cwd=cwd, home=home)  # noqa: E731
    assert find() is None and load_config(env={}, cwd=cwd, home=home) is None
    user.write_text(OK)
    assert find() == user
    (cwd / "tokenrace.yaml").write_text(OK)
    assert find() == cwd / "tokenrace.yaml"
    from_env = tmp_path / "env.yaml"
    from_env.write_text(OK)
    assert find(env={"TOKENRACE_CONFIG": str(from_env)}) == from_env
    assert find(env={"TOKENRACE_CONFIG": ""}) == cwd / "tokenrace.yaml"       # empty: ignored
    (cwd / "mine.yaml").write_text(OK)
    assert find("mine.yaml", env={"TOKENRACE_CONFIG": str(from_env)}) == cwd / "mine.yaml"
    assert find("~/.config/tokenrace/config.yaml") == user


def test_explicit_and_env_files_must_exist(places):
    cwd, home, _ = places
    with pytest.raises(ConfigError, match=r"^config file not found: nope\.yaml$"):
        find_config_path("nope.yaml", env={}, cwd=cwd, home=home)
    with pytest.raises(ConfigError, match=r"config file not found: /no/such\.yaml \(from \$TOKENRACE_CONFIG\)"):
        find_config_path(None, env={"TOKENRACE_CONFIG": "/no/such.yaml"}, cwd=cwd, home=home)
    with pytest.raises(ConfigError, match="is a directory"):
        find_config_path(str(cwd), env={}, cwd=cwd, home=home)


def test_load_config_reads_the_found_file(places):
    cwd, home, _ = places
    (cwd / "tokenrace.yaml").write_text(OK + "    api_key: ${K}\n")
    cfg = load_config(env={"K": KEY}, cwd=cwd, home=home)
    assert cfg.source == str(cwd / "tokenrace.yaml") and cfg.providers[0].api_key.reveal() == KEY
    (cwd / "tokenrace.yaml").write_text(OK + "    kind: openai\n")
    err = pytest.raises(ConfigError, load_config, env={}, cwd=cwd, home=home).value
    assert str(err).startswith(f"{cwd / 'tokenrace.yaml'}:5: providers[0].kind: duplicate key")
    (cwd / "tokenrace.yaml").write_bytes(b"providers: \xff\xfe\n")
    assert "not UTF-8" in str(pytest.raises(ConfigError, load_config, env={}, cwd=cwd, home=home).value)


# -- the starter file --------------------------------------------------------------------------

def uncommented(text: str) -> str:
    """The starter with its commented-out defaults and providers switched on."""
    lines = text.splitlines()
    start = lines.index("# defaults:")
    return "\n".join(lines[:start] + [re.sub(r"^(\s*)# (?=- |  |defaults:)", r"\1", ln) for ln in lines[start:]])


def test_starter_parses_to_one_openai_provider():
    cfg = parse_config(starter_text(), SRC, env={})
    (p,) = cfg.providers
    assert (p.name, p.kind, p.model) == ("gpt-4o-mini", "openai", "gpt-4o-mini")
    assert p.unavailable.startswith("missing environment variable OPENAI_API_KEY (used by provider 'gpt-4o-mini'")
    assert parse_config(starter_text(), SRC, env={"OPENAI_API_KEY": KEY}).providers[0].unavailable is None


def test_starter_examples_are_valid_when_uncommented():
    text = starter_text()
    for word in ("anthropic", "gemini", "zhipu", "auth: jwt", "ollama", "vLLM", "llama.cpp", "kind: sse",
                 "/chat/stream", "text_path: content", "${VAR:-default}"):
        assert word in text
    env = {k: "x" for k in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "ZHIPU_API_KEY",
                            "AZURE_OPENAI_API_KEY", "AWS_BEARER_TOKEN_BEDROCK", "CO_API_KEY")}
    cfg = parse_config(uncommented(text), SRC, env=env)
    assert set(KINDS) <= {p.kind for p in cfg.providers}        # an example of every kind
    assert cfg.provider("gemini-vertex").api_key_command == ("gcloud", "auth", "print-access-token")
    assert cfg.provider("chatglm").endpoint.text_path == "$"
    assert cfg.provider("gin-relay").endpoint.path == "/chat?question={prompt}"
    assert all(p.unavailable is None for p in cfg.providers)
    assert cfg.provider("glm-4-flash").auth == "jwt"
    ep = cfg.provider("my-endpoint").endpoint
    assert (ep.path, ep.body, ep.text_path) == ("/chat/stream", {"prompt": "{prompt}", "stream": True}, "content")
    assert cfg.defaults["params"] == {"max_tokens": 512}


def test_write_starter_refuses_to_overwrite(tmp_path):
    target = tmp_path / "sub" / "tokenrace.yaml"
    assert write_starter(target) == target and target.read_text() == starter_text()
    target.write_text("mine")
    with pytest.raises(ConfigError) as info:
        write_starter(target)
    assert str(info.value).startswith(f"{target}: already exists") and target.read_text() == "mine"
    write_starter(target, force=True)
    assert target.read_text() == starter_text()
    with pytest.raises(ConfigError, match="is a directory"):
        write_starter(tmp_path, force=True)


# -- robustness --------------------------------------------------------------------------------

YAML_CHARS = st.sampled_from(list(":-[]{},#&*!|>'\"%@`?\n\t ${}\\") + ["providers:", "  - ", "name", "kind: ",
                                                                          "openai", "sse", "<<: ", "${X}", "\x00", "é"])


def must_be_config_or_config_error(text: str) -> None:
    try:
        assert isinstance(parse(text), Config)
    except ConfigError as err:
        assert err.file == SRC and err.line is not None and err.line >= 1


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(YAML_CHARS, max_size=40).map("".join))
def test_garbage_text_raises_only_config_error(text):
    must_be_config_or_config_error(text)


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=True),
                    st.sampled_from(["openai", "sse", "p", "${X}", "${", "http://h", "a b", ""]))
FIELDS = st.sampled_from(["name", "kind", "model", "base_url", "api_key", "params", "headers", "timeout",
                          "retries", "auth", "mode", "body", "read", "x", "done"])
VALUES = st.recursive(SCALARS, lambda kids: st.lists(kids, max_size=3) | st.dictionaries(FIELDS, kids, max_size=4),
                      max_leaves=12)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["providers", "defaults", "other"]), VALUES | st.lists(VALUES, max_size=3),
                       max_size=3))
def test_garbage_structure_raises_only_config_error(data):
    must_be_config_or_config_error(yaml.safe_dump(data))


def test_config_imports_no_network_libraries():
    code = ("import sys, tokenrace.config; bad = {'tornado', 'textual', 'aiohttp'} & {m.split('.')[0] for m in sys.modules};"
            "sys.exit(repr(bad) if bad else 0)")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


def test_a_timeout_too_large_for_a_float_is_a_field_error():
    # 400 digits: a positive integer, but not a number of seconds a float can hold (once an OverflowError)
    err = error(P + "    kind: openai\n    model: m\n    timeout: {total: " + "9" * 400 + "}\n")
    assert (err.line, err.field) == (5, "providers[0].timeout.total")
    assert err.detail.startswith("must be a positive number of seconds, got 999")
    assert one("    kind: openai\n    model: m\n    retries: " + "9" * 400 + "\n").retries == int("9" * 400)
