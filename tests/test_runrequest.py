"""One validation for every race request: the API body, run's flags, the TUI, bench params."""
from __future__ import annotations

import math

import pytest

from tokenrace.config.models import Config, ProviderConfig
from tokenrace.runrequest import Limits, RequestError, check_params, validate

CFG = Config(tuple(ProviderConfig(n, "openai", model="m", base_url="http://127.0.0.1:9") for n in ("a", "b", "c")))
LIM = Limits(max_prompt_chars=50, max_providers=2, max_tokens=1000, max_stop=2, max_stop_chars=5)


@pytest.mark.parametrize("params, status, words", [
    ({"max_tokens": 0}, 400, "at least 1"),
    ({"max_tokens": 1001}, 400, "at most 1000"),
    ({"max_tokens": 5.0}, 400, "wrong type"),
    ({"max_tokens": True}, 400, "wrong type"),
    ({"temperature": math.nan}, 400, "finite"),
    ({"temperature": math.inf}, 400, "finite"),
    ({"top_p": -math.inf}, 400, "finite"),
    ({"temperature": 2.5}, 400, "within 0..2"),
    ({"top_p": 1.5}, 400, "within 0..1"),
    ({"stop": ["a", 3]}, 400, "list of strings"),
    ({"stop": {"x": 1}}, 400, "list of strings"),
    ({"stop": ["a", "b", "c"]}, 400, "at most 2"),
    ({"stop": ["toolong"]}, 400, "1..5 characters"),
    ({"system": 7}, 400, "wrong type"),
    ({"system": "s" * 51}, 413, "system prompt has 51 characters"),
    ({"api_base": "http://evil"}, 400, "unknown param"),
])
def test_bad_params_are_refused_with_the_field_named(params, status, words):
    with pytest.raises(RequestError) as e:
        validate({"prompt": "hi", "providers": ["a"], "params": params}, CFG, LIM)
    assert e.value.status == status and words in e.value.message
    assert e.value.field == f"params.{next(iter(params))}"


def test_good_requests_keep_the_order_asked_and_drop_nulls_and_blank_system():
    req = validate({"prompt": "hi", "providers": ["c", "a"],
                    "params": {"max_tokens": 9, "temperature": 0, "stop": "x", "top_p": None, "system": "  "}},
                   CFG, LIM)
    assert [p.name for p in req.providers] == ["c", "a"]
    assert dict(req.params) == {"max_tokens": 9, "temperature": 0, "stop": "x"} and req.system is None
    req = validate({"prompt": "hi", "providers": ["a"], "params": {"system": "be brief"}}, CFG, LIM)
    assert req.system == "be brief" and req.shown_params() == {"system": "be brief"}
    assert req.chat().messages[0] == {"role": "system", "content": "be brief"}


@pytest.mark.parametrize("body, status, words", [
    ([], 400, "JSON object"),
    ({"prompt": "x" * 51}, 413, "the limit is 50"),
    ({"prompt": " \n"}, 400, "empty"),
    ({"prompt": "hi", "providers": ["a", "b", "c"]}, 400, "at most 2 per run"),
    ({"prompt": "hi", "providers": ["a", "a"]}, 400, "twice"),
    ({"prompt": "hi", "providers": ["zz"]}, 400, "unknown provider 'zz'"),
    ({"prompt": "hi", "nope": 1}, 400, "unknown field"),
])
def test_bad_bodies(body, status, words):
    with pytest.raises(RequestError) as e:
        validate(body, CFG, LIM)
    assert e.value.status == status and words in e.value.message


def test_bench_params_follow_the_same_rules():
    assert check_params({"max_tokens": 8, "temperature": 0.5}) == {"max_tokens": 8, "temperature": 0.5}
    with pytest.raises(RequestError, match="finite"):
        check_params({"temperature": math.nan})
