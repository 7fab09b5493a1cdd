"""Request bodies as JSON: UTF-8, finite numbers only, bounded nesting. No tornado here.

``json.loads`` alone accepts ``NaN``/``Infinity`` (which the page's ``JSON.parse`` rejects, so one
stored run would break the history) and recurses once per nesting level (100000 ``[`` end in a
RecursionError). The depth is measured before parsing, without recursion.
"""
from __future__ import annotations

import itertools
import json
import re
from typing import Any

MAX_DEPTH = 64

# a JSON string, escapes included: brackets inside one are text, not nesting
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_DELTA = [0] * 256
for _open, _close in (b"[]", b"{}"):
    _DELTA[_open], _DELTA[_close] = 1, -1


class BodyError(Exception):
    """A body the server refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def too_deep(body: bytes, max_depth: int = MAX_DEPTH) -> bool:
    """Whether arrays and objects in ``body`` nest deeper than ``max_depth`` (strings skipped); C-speed passes."""
    if body.count(b"[") + body.count(b"{") <= max_depth:     # cannot be deeper: no scan
        return False
    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    return max(itertools.accumulate(map(_DELTA.__getitem__, brackets)), default=0) > max_depth


def _constant(name: str) -> Any:
    raise BodyError(400, f"the request body holds {name}; JSON numbers must be finite")


def _float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise BodyError(400, f"the request body holds the number {text[:40]}, which is not finite "
                             f"(beyond the range of a double); JSON numbers must be finite")
    return value


def _int(text: str) -> int:
    value = int(text)
    if len(text) > 300:              # beyond 1.8e308 the page's JSON.parse makes it Infinity
        try:
            float(value)
        except OverflowError:
            raise BodyError(400, f"the request body holds an integer of {len(text)} digits, which is not "
                                 f"finite as a double; JSON numbers must be finite") from None
    return value


def parse_json(body: bytes, max_depth: int = MAX_DEPTH) -> Any:
    """``body`` as JSON, or :class:`BodyError` (400) naming what is wrong."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BodyError(400, "the request body is not UTF-8") from None
    if too_deep(body, max_depth):
        raise BodyError(400, f"the request body is nested more than {max_depth} levels deep")
    try:
        return json.loads(text, parse_constant=_constant, parse_float=_float, parse_int=_int)
    except BodyError:
        raise
    except RecursionError:          # not reached after the depth check; never a 500 if it were
        raise BodyError(400, f"the request body is nested more than {max_depth} levels deep") from None
    except ValueError as e:
        raise BodyError(400, f"the request body is not valid JSON ({e})") from None
