"""The validation base both loaders share: readers, bounds, --set naming, values from no file."""
from __future__ import annotations

import math

import pytest

from tokenrace.config.validate import Validator
from tokenrace.config.yamlmarks import load_yaml
from tokenrace.errors import ConfigError


def v(overrides=()):
    return Validator("f.yaml", {"HOME_DIR": "/h"}, overrides)


@pytest.mark.parametrize("value, kw, message", [
    (0, {"lo": 1}, "must be an integer >= 1, got 0"),
    (5, {"lo": 1, "hi": 4}, "must be an integer >= 1 and <= 4, got 5"),
    (1.0, {}, "must be an integer >= 0, got 1.0"),
    (True, {}, "must be an integer >= 0, got True"),
])
def test_integer_bounds(value, kw, message):
    with pytest.raises(ConfigError) as e:
        v().integer(value, 3, "a.b", **kw)
    assert str(e.value) == f"f.yaml:3: a.b: {message}"


@pytest.mark.parametrize("value, kw, message", [
    (0, {"lo_open": True}, "must be a number > 0, got 0"),
    (math.nan, {}, "must be a number >= 0, got nan"),
    (10 ** 400, {}, "must be a number >= 0, got 1" + "0" * 400),
    ("1", {"expected": "a positive number of seconds"}, "must be a positive number of seconds, got '1'"),
])
def test_number_bounds(value, kw, message):
    with pytest.raises(ConfigError) as e:
        v().number(value, 3, "a.b", **kw)
    assert str(e.value) == f"f.yaml:3: a.b: {message}"


def test_readers_return_typed_values():
    assert v().integer(10 ** 400, 1, "x") == 10 ** 400          # ints compare exactly, however large
    assert v().number(2, 1, "x") == 2.0 and isinstance(v().number(2, 1, "x"), float)
    m, _ = load_yaml("mode: Cumulative\npath: ${HOME_DIR}/x\n", "f.yaml")
    assert v().choice(m, "mode", "", ("delta", "cumulative"), "delta", normalize=str.lower) == "cumulative"
    assert v().text(m, "path", "") == ("/h/x", False)
    with pytest.raises(ConfigError, match=r"^f\.yaml:1: mode: 'Cumulative' is not one of delta, cumulative "
                                          r"\(did you mean 'cumulative'\?\)$"):
        v().choice(m, "mode", "", ("delta", "cumulative"), "delta")


def test_an_error_in_a_value_set_on_the_command_line_names_the_option():
    assert str(v(["load.rate"]).fail("bad", 4, "load.rate[1]")) == "--set load.rate: load.rate[1]: bad"
    assert str(v(["load.rate"]).fail("bad", 4, "load")) == "--set load.rate: load: bad"
    assert str(v(["load.rate"]).fail("bad", 4, "slo")) == "f.yaml:4: slo: bad"
    assert str(v(["load.rate"]).fail("bad", 4, None)) == "f.yaml:4: bad"


def test_a_plain_mapping_reads_like_one_from_a_file_at_the_line_given():
    m = v().mapping({"a": 1}, 7, "p")
    assert m == {"a": 1} and m.line_of("a") == 7
    with pytest.raises(ConfigError, match=r"^f\.yaml:7: p\.nmae: unknown field 'nmae' \(did you mean 'name'\?\)$"):
        v().check_keys(v().mapping({"nmae": 1}, 7, "p"), ("name",), "p")
