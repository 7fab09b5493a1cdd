"""The validation base of the config loader and the bench scenario loader.

:class:`Validator` reads typed fields out of the :mod:`.yamlmarks` containers. Every problem is a
:class:`ConfigError` naming ``file:line: field`` (or the ``--set`` option the value came from);
unknown keys get a did-you-mean, keys written twice are refused, and strings can be
``${VAR}``-expanded. It knows nothing of providers or scenarios: ``loader.ConfigParser`` and
``bench.scenario`` build their rules on it, so both files read and fail the same way.
"""
from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any, Final, TypeVar

from ..errors import ConfigError
from .yamlmarks import EnvSyntaxError, MarkedDict, expand_env, line_of, marked

S = TypeVar("S", bound=str)
NAME_RE = re.compile(r"[A-Za-z0-9._-]+")   # names that end up in URLs, tables and folder names


class _Unset:
    """The type of :data:`UNSET`: a field that is not in the file at all."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset()

_TYPE_NAMES: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (type(None), "null"), (bool, "a boolean"), (int, "an integer"), (float, "a number"), (str, "a string"),
    (dict, "a mapping"), ((list, tuple), "a list"), (date, "a date (quote it to make it a string)"))


def type_name(value: Any) -> str:
    """What a YAML value is, in the words of an error message."""
    return next((name for t, name in _TYPE_NAMES if isinstance(value, t)), type(value).__name__)


def suggest(word: Any, choices: Sequence[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or ""."""
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def join(path: str, key: Any) -> str:
    """The field path of ``key`` inside ``path`` (the top level is "")."""
    return f"{path}.{key}" if path else str(key)


def read_source(path: Path, cannot_read: str = "cannot read") -> str:
    """A UTF-8 file's text (a BOM is dropped); a ConfigError naming the file when it cannot be had."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.start})", file=str(path)) from None
    except OSError as exc:
        why = " (it is a directory)" if path.is_dir() else ""
        raise ConfigError(f"{cannot_read}: {exc.strerror or exc}{why}", file=str(path)) from None


def _in_range(value: Any, integer: bool, lo: float, lo_open: bool, hi: float) -> bool:
    if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
        return False
    if not integer:
        try:
            value = float(value)      # an int too large for a float is out of range, not a traceback
        except OverflowError:
            return False
        if not math.isfinite(value):
            return False
    return (lo < value if lo_open else lo <= value) and value <= hi


@contextmanager
def nesting_guard(source: str) -> Iterator[None]:
    """Validation recurses with the data: past Python's limit it is a ConfigError, not a traceback
    (``load_yaml`` guards the YAML parser's own recursion)."""
    try:
        yield
    except RecursionError:
        raise ConfigError("nested too deeply", file=source, line=1) from None


class Validator:
    """Typed field readers with file:line: field errors.

    ``overrides`` are field paths whose values came from ``--set PATH=VALUE``: an error in one
    names that option, since no line of the file holds the bad value. ``missing`` decides what a
    missing ``${VAR}`` is: None makes it an error, a list collects ``(name, line)`` for the caller.
    """

    def __init__(self, source: str, env: Mapping[str, str], overrides: Sequence[str] = ()) -> None:
        self.source, self.env, self.overrides = source, env, list(overrides)
        self.missing: list[tuple[str, int]] | None = None
        self.env_values: list[str] = []      # every value substituted from the environment, in order

    def fail(self, message: str, line: int | None, path: str | None) -> ConfigError:
        norm = (path or "").replace("[", ".").replace("]", "")
        for p in self.overrides:
            if norm and (norm == p or norm.startswith(p + ".") or p.startswith(norm + ".")):
                return ConfigError(message, file=f"--set {p}", field=path or None)
        return ConfigError(message, file=self.source, line=line, field=path or None)

    # -- containers --

    def mapping(self, value: Any, line: int, path: str, what: str = "a mapping") -> MarkedDict:
        if not isinstance(value, dict):
            raise self.fail(f"must be {what}, got {type_name(value)}", line, path)
        if isinstance(value, MarkedDict):
            m = value
        else:                            # a plain mapping (not from a file): no lines to name
            m = marked(value)
            m.line = line
        for key, dup_line, first in m.dups:
            raise self.fail(f"duplicate key '{key}' (first at line {first})", dup_line, join(path, key))
        return m

    def check_keys(self, m: MarkedDict, allowed: Sequence[str], path: str, *,
                   elsewhere: Mapping[str, str] | None = None) -> None:
        """Every key is one of ``allowed`` (or an ``x-`` extension at the top level); ``elsewhere``
        maps a key that is valid in another place to the message that says so."""
        for key in m:
            if key in allowed or (path == "" and isinstance(key, str) and key.startswith("x-")):
                continue
            where = join(path, key)
            if elsewhere and key in elsewhere:
                raise self.fail(elsewhere[key], m.line_of(key), where)
            raise self.fail(f"unknown field '{key}'{suggest(key, allowed)}", m.line_of(key), where)

    # -- scalars --

    def _bounded(self, value: Any, line: int, path: str, *, integer: bool, lo: float, lo_open: bool,
                 hi: float, expected: str | None) -> None:
        if not _in_range(value, integer, lo, lo_open, hi):
            if expected is None:
                expected = "an integer" if integer else "a number"
                expected += f" > {lo:g}" if lo_open else f" >= {lo:g}"
                if hi < math.inf:
                    expected += f" and <= {hi:g}"
            raise self.fail(f"must be {expected}, got {value!r}", line, path)

    def integer(self, value: Any, line: int, path: str, *, lo: float = 0, hi: float = math.inf) -> int:
        """An integer (not a boolean) within ``lo..hi``."""
        self._bounded(value, line, path, integer=True, lo=lo, lo_open=False, hi=hi, expected=None)
        return int(value)

    def number(self, value: Any, line: int, path: str, *, lo: float = 0, lo_open: bool = False,
               hi: float = math.inf, expected: str | None = None) -> float:
        """A finite number (not a boolean) within the bounds, as a float; ``expected`` words the error."""
        self._bounded(value, line, path, integer=False, lo=lo, lo_open=lo_open, hi=hi, expected=expected)
        return float(value)

    def flag(self, m: MarkedDict, key: str, path: str) -> bool:
        value = m[key]
        if not isinstance(value, bool):
            raise self.fail("must be true or false", m.line_of(key), join(path, key))
        return value

    def nonempty_text(self, m: MarkedDict, key: str, path: str, default: Any = None) -> Any:
        """A non-empty string taken as written (no ``${VAR}``); ``default`` when absent or null."""
        if key not in m or m[key] is None:
            return default
        value = m[key]
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"must be a non-empty string, got {value!r}", m.line_of(key), join(path, key))
        return value

    def text(self, m: MarkedDict, key: str, path: str, *, default: Any = UNSET,
             nullable: bool = False) -> tuple[Any, bool]:
        """A string field, env-expanded: ``(value, missing variable?)``; ``default`` when absent."""
        if key not in m:
            return default, False
        value, line, where = m[key], m.line_of(key), join(path, key)
        if value is None and nullable:
            return None, False
        if not isinstance(value, str):
            hint = " (quote it)" if isinstance(value, (int, float)) else ""   # a date's name says so itself
            raise self.fail(f"must be a string{' or null' if nullable else ''}, got {type_name(value)}{hint}",
                            line, where)
        return self.sub(value, line, where)

    def choice(self, m: MarkedDict, key: str, path: str, choices: Sequence[S], default: S,
               *, normalize: Callable[[str], str] = lambda s: s) -> S:
        """One of ``choices`` (env-expanded; ``default`` when absent or its variable is missing)."""
        value, missing = self.text(m, key, path, default=default)
        if missing:
            return default
        value = normalize(value)
        for c in choices:
            if c == value:
                return c
        raise self.fail(f"{value!r} is not one of {', '.join(choices)}{suggest(value, choices)}",
                        m.line_of(key), join(path, key))

    def safe_name(self, value: str, line: int, path: str, why: str = "") -> str:
        if not NAME_RE.fullmatch(value):
            raise self.fail(f"{value!r} may only contain letters, digits, '.', '_' and '-'{why}", line, path)
        return value

    # -- ${VAR} expansion --

    def sub(self, text: str, line: int, path: str) -> tuple[str, bool]:
        """Environment-expanded ``text`` and whether a variable was missing."""
        try:
            value, missing = expand_env(text, self.env, self.env_values)
        except EnvSyntaxError as exc:
            raise self.fail(str(exc), line, path) from None
        if missing and self.missing is None:
            raise self.fail(f"missing environment variable {missing[0]}", line, path)
        if missing and self.missing is not None:
            self.missing.extend((name, line) for name in missing)
        return value, bool(missing)

    def data(self, value: Any, line: int, path: str, active: set[int] | None = None) -> Any:
        """Env-expand every string in a JSON-like value; reject what JSON cannot carry."""
        active = set() if active is None else active
        if isinstance(value, str):
            return self.sub(value, line, path)[0]
        if isinstance(value, float) and not math.isfinite(value):
            raise self.fail("must be a finite number (JSON has no NaN or infinity)", line, path)
        if value is None or isinstance(value, (bool, int, float)):
            return value
        if not isinstance(value, (dict, list)):
            raise self.fail(f"must be JSON-like (mapping, list, string, number, boolean, null), "
                            f"got {type_name(value)}", line, path)
        if id(value) in active:
            raise self.fail("a YAML alias refers to its own container (recursive value)", line, path)
        active.add(id(value))
        try:
            if isinstance(value, list):
                return [self.data(v, line_of(value, i, line), f"{path}[{i}]", active)
                        for i, v in enumerate(value)]
            self.mapping(value, line, path)
            out = {}
            for k, v in value.items():
                if not isinstance(k, str):
                    raise self.fail(f"keys must be strings, got {type_name(k)} {k!r} (quote it)",
                                    line_of(value, k, line), path)
                out[k] = self.data(v, line_of(value, k, line), f"{path}.{k}", active)
            return out
        finally:
            active.discard(id(value))
