"""An asyncio loop on a thread of its own, so measuring never waits behind a busy UI.

The TUI (in-process mode) and ``tokenrace run`` run their race session here: the UI redraws on its
own loop or thread while this loop stamps bytes as they arrive. (On the UI loop, Textual's redraws
pushed a 120 ms TTFT to 355 ms at 200x50.) This is the project's one use of a thread for that
purpose; coroutines are submitted from the other side with :meth:`call` / :meth:`call_soon`.
"""
from __future__ import annotations

import asyncio
import sys
import threading
from concurrent.futures import Future
from typing import Any, Callable, Coroutine, TypeVar

from .eventloop import new_event_loop

T = TypeVar("T")
SWITCH_INTERVAL_S = 0.0005


class EngineThread:
    """An asyncio loop on a daemon thread."""

    def __init__(self, name: str = "tokenrace-engine") -> None:
        self.loop = new_event_loop()          # uvloop where installed: cheaper reads and timers
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
            pending = asyncio.all_tasks(self.loop)
            for task in pending:
                task.cancel()
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        finally:
            self.loop.close()

    def start(self) -> None:
        # a read that wakes this thread waits for the GIL up to the switch interval (5 ms by default)
        # while the other thread draws: a shorter one keeps byte stamps close to byte arrival
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def submit(self, coro: Coroutine[Any, Any, T]) -> "Future[T]":
        """Run ``coro`` on the engine loop; a concurrent future of its result (for a blocking caller)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    async def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the engine loop; await its result from the calling loop."""
        return await asyncio.wrap_future(self.submit(coro))

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        self.loop.call_soon_threadsafe(fn, *args)

    def stop_now(self, timeout: float = 10) -> None:
        """Stop the loop (its tasks are cancelled) and join the thread; for a blocking caller."""
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout)

    async def stop(self) -> None:
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            await asyncio.to_thread(self._thread.join, 10)
