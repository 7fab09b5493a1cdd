"""What an adapter makes of one wire event: typed parts, turned into timestamped events by ``stream.py``.

Parts are named tuples: as cheap to build as plain tuples on the hot path, and typed. An adapter
never sees the clock or the connection; ``stream.py`` stamps each part with its chunk's arrival time.
"""
from __future__ import annotations

from typing import NamedTuple, Union


class Text(NamedTuple):
    """A piece of the answer."""

    text: str


class Reasoning(NamedTuple):
    """A piece of the model's reasoning (thinking, reasoning summary)."""

    text: str


class UsageReport(NamedTuple):
    """Token counts the provider reported; ``None`` fields leave earlier reports as they were."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    reasoning_tokens: int | None = None
    reasoning_included: bool = True    # False where output_tokens excludes reasoning (Gemini)
    cached_input_tokens: int | None = None   # of input_tokens (which include them), read from a prompt cache


class Finish(NamedTuple):
    """The provider's finish reason (stop, length, end_turn, STOP, content_filter ...)."""

    reason: str


class Done(NamedTuple):
    """The provider's terminal event arrived: the stream is complete."""


class StreamError(NamedTuple):
    """An error reported inside the stream, after the 200 (the provider's own words)."""

    message: str


class Oddity(NamedTuple):
    """Something odd but not fatal, e.g. a malformed chunk that was skipped (becomes a ``Notice``)."""

    message: str


DONE = Done()
Part = Union[Text, Reasoning, UsageReport, Finish, Done, StreamError, Oddity]
