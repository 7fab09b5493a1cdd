"""One prompt to N providers at the same moment, over one shared HTTP client."""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Callable, Mapping, Sequence

from .config.models import ProviderConfig
from .events import StreamEvent
from .metrics import StreamAccumulator, StreamResult
from .providers.http import HTTPClient
from .providers.stream import stream_provider
from .request import ChatRequest

log = logging.getLogger("tokenrace.race")
EventSink = Callable[[StreamEvent], None]


class Race:
    """Runs the streams, keeps each one's event log and accumulator, and tells ``on_event``.

    ``on_event`` is called synchronously for every event, in arrival order, after the
    event's timestamp was taken; it must be quick (put into a queue, update a widget).
    """

    def __init__(self, client: HTTPClient, providers: Sequence[ProviderConfig], request: ChatRequest, *,
                 defaults: Mapping[str, Any] | None = None, on_event: EventSink | None = None) -> None:
        names = [p.name for p in providers]
        if len(set(names)) != len(names):
            raise ValueError("provider names in one race must be unique")
        self.client, self.providers, self.request = client, list(providers), request
        self.defaults = dict(defaults or {})
        self.listeners: list[EventSink] = [on_event] if on_event else []
        self.accumulators = {p.name: StreamAccumulator(p.name, p.model) for p in providers}
        self.log: dict[str, list[StreamEvent]] = {p.name: [] for p in providers}
        self._tasks: dict[str, asyncio.Task] = {}
        self.started_at: float | None = None    # wall clock, for people and the database

    def _emit(self, ev: StreamEvent) -> None:
        self.accumulators[ev.provider].add(ev)
        self.log[ev.provider].append(ev)
        for listener in self.listeners:
            try:
                listener(ev)
            except Exception:   # a consumer's bug must not stop a stream
                log.exception("event listener failed on %s", type(ev).__name__)

    async def run(self) -> list[StreamResult]:
        self.started_at = time.time()
        t0 = time.perf_counter_ns()
        for p in self.providers:
            self._tasks[p.name] = asyncio.create_task(
                stream_provider(self.client, p, self.request, self._emit,
                                defaults=self.defaults.get("params") or {}, t_queued_ns=t0),
                name=f"tokenrace-stream-{p.name}")
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        return self.results()

    def cancel(self, provider: str | None = None) -> None:
        """Stop one stream or all; each ends with ``Finished(status="cancelled")``, text kept."""
        for name, task in self._tasks.items():
            if provider in (None, name) and not task.done():
                task.cancel()

    def results(self) -> list[StreamResult]:
        return [self.accumulators[p.name].result() for p in self.providers]


async def run_race(client: HTTPClient, providers: Sequence[ProviderConfig], request: ChatRequest, *,
                   defaults: Mapping[str, Any] | None = None, on_event: EventSink | None = None) -> list[StreamResult]:
    return await Race(client, providers, request, defaults=defaults, on_event=on_event).run()
