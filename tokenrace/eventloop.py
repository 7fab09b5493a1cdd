"""The event loop every measuring loop runs on: uvloop where it is installed, else asyncio's.

``tokenrace run``'s and the TUI's engine thread, ``serve``, ``bench`` and its worker processes all take
their loop from here, so every consumer measures on the same kind of loop. No third-party import at
module level (uvloop is tried when a loop is made).
"""
from __future__ import annotations

import asyncio
from typing import Any, Coroutine, TypeVar

T = TypeVar("T")


def new_event_loop(uvloop: bool = True) -> asyncio.AbstractEventLoop:
    """uvloop's loop when installed (its reads and timers cost a fraction of asyncio's), else asyncio's;
    ``uvloop=False`` always gives asyncio's."""
    if uvloop:
        try:
            import uvloop as _uvloop
        except ImportError:          # Windows, or not installed: the standard loop measures the same way
            pass
        else:
            return _uvloop.new_event_loop()
    return asyncio.new_event_loop()


def loop_name() -> str:
    return type(asyncio.get_running_loop()).__module__.split(".")[0]


def run(coro: Coroutine[Any, Any, T], *, uvloop: bool = True) -> T:
    """``asyncio.run`` on :func:`new_event_loop`."""
    with asyncio.Runner(loop_factory=lambda: new_event_loop(uvloop)) as runner:
        return runner.run(coro)
