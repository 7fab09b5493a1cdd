"""One prompt to N providers at the same moment, over one shared HTTP client.

Every stream ends with exactly one terminal event, whatever happens: a cancel that comes before the
race started (or before a stream's task took its first step, when asyncio drops the coroutine
without running any of it) ends that stream ``Finished(cancelled)`` here, through the same path as
every other event. Consumers never patch up a stream that "never started".
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Callable, Mapping, Sequence

from .config.models import ProviderConfig
from .events import Finished, StreamEvent, is_terminal
from .metrics import StreamAccumulator, StreamResult, estimate_tokens
from .providers.http import HTTPClient
from .providers.stream import stream_provider
from .request import ChatRequest
from .secrets import Redactor

log = logging.getLogger("tokenrace.race")
EventSink = Callable[[StreamEvent], None]


class Race:
    """Runs the streams, keeps each one's event log and accumulator, and tells the listeners.

    Listeners are called synchronously for every event, in arrival order, after the event's
    timestamp was taken and the accumulator took it; they must be quick.
    """

    def __init__(self, client: HTTPClient, providers: Sequence[ProviderConfig],
                 request: ChatRequest | Mapping[str, ChatRequest], *,
                 defaults: Mapping[str, Any] | None = None, on_event: EventSink | None = None,
                 redactor: Redactor | None = None) -> None:
        names = [p.name for p in providers]
        if len(set(names)) != len(names):
            raise ValueError("provider names in one race must be unique")
        self.client, self.providers = client, list(providers)
        # one request for all, or each provider its own (a conversation: each its own history)
        self.requests = dict(request) if isinstance(request, Mapping) else {p.name: request for p in providers}
        self.defaults = dict(defaults or {})
        self.redactor = redactor
        self.listeners: list[EventSink] = [on_event] if on_event else []
        self.accumulators = {p.name: StreamAccumulator(p.name, p.model, price=p.price,
                                                       prompt_tokens_estimate=_prompt_tokens(self.requests[p.name]))
                             for p in providers}
        self.log: dict[str, list[StreamEvent]] = {p.name: [] for p in providers}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._cancelled: set[str] = set()       # asked to stop, perhaps before starting
        self.started_at: float | None = None    # wall clock, for people and the database

    def _emit(self, ev: StreamEvent) -> None:
        self.accumulators[ev.provider].add(ev)
        self.log[ev.provider].append(ev)
        for listener in self.listeners:
            try:
                listener(ev)
            except Exception:   # a consumer's bug must not stop a stream
                log.exception("event listener failed on %s", type(ev).__name__)

    def ended(self, name: str) -> bool:
        log_ = self.log[name]
        return bool(log_) and is_terminal(log_[-1])

    async def run(self) -> list[StreamResult]:
        self.started_at = time.time()
        t0 = time.perf_counter_ns()
        params = self.defaults.get("params") or {}
        for p in self.providers:
            if p.name in self._cancelled:
                continue
            self._tasks[p.name] = asyncio.create_task(
                stream_provider(self.client, p, self.requests[p.name], self._emit, defaults=params, t_queued_ns=t0,
                                redactor=self.redactor),
                name=f"tokenrace-stream-{p.name}")
        try:
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        finally:
            for p in self.providers:          # cancelled before it ran, or a bug: end it like any other
                if not self.ended(p.name):
                    self._emit(Finished(p.name, len(self.log[p.name]) + 1, time.perf_counter_ns(), "cancelled"))
        return self.results()

    def cancel(self, provider: str | None = None) -> None:
        """Stop one stream or all, before or after the start; each ends ``cancelled``, text kept."""
        for p in self.providers:
            if provider in (None, p.name):
                self._cancelled.add(p.name)
                task = self._tasks.get(p.name)
                if task is not None and not task.done():
                    task.cancel()

    def results(self) -> list[StreamResult]:
        return [self.accumulators[p.name].result() for p in self.providers]


def _prompt_tokens(request: ChatRequest) -> float:
    return sum(estimate_tokens(str(m.get("content") or "")) for m in request.messages)
