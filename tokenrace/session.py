"""RaceSession: a validated request -> a running race -> the protocol messages every consumer reads.

``tokenrace run``, ``tokenrace serve``, the TUI in both modes and ``bench`` start races through here
(bench keeps its own load loop but takes validation, redaction and recording from the same places),
so a feature or a fix lands once. A session

* takes a :class:`~tokenrace.runrequest.RunRequest` (validated by :func:`~tokenrace.runrequest.validate`),
* owns the :class:`~tokenrace.race.Race`, whose streams redact everything from upstream with the
  config's redactor before any of it is seen here,
* turns engine events into :mod:`tokenrace.protocol` messages with one run-wide id sequence, and
  throttles live metrics (by the events' own timestamps, plus a timer while a provider is silent),
* records the run, its events, its frames and its results (:class:`~tokenrace.recording.Recorder`),
* issues the one run-id format, honours a cancel that comes before the start, and ends with exactly
  one ``done`` per provider and one ``end``.

Listeners get ``(frame, message)`` synchronously, in order, on the session's event loop; they must
be quick (publish to a channel, hand over to another thread).
"""
from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import Any, Callable

from .config.models import Config
from .events import Failed, Finished, Notice as NoticeEvent, ReasoningDelta, Started, StreamEvent, TextDelta
from .metrics import StreamResult
from .protocol import (Delta, Frame, Message, Metrics, Notice, ProviderDone, ProviderError, ProviderStart, RunEnd,
                       encode)
from .providers.http import HTTPClient
from .race import Race
from .recording import Recorder
from .runrequest import Limits, RunRequest
from .store import RunStore

log = logging.getLogger("tokenrace.session")
Listener = Callable[[Frame, Message], None]
LIVE = ("waiting", "streaming")


def new_run_id() -> str:
    """Sortable by time, unguessable: ``YYYYmmddHHMMSS-<8 hex>`` (UTC)."""
    return time.strftime("%Y%m%d%H%M%S", time.gmtime()) + "-" + secrets.token_hex(4)


class RaceSession:
    """One race from request to recorded result."""

    def __init__(self, request: RunRequest, config: Config, client: HTTPClient, *, store: RunStore | None = None,
                 source: str = "serve", limits: Limits | None = None, run_id: str | None = None) -> None:
        self.id = run_id or new_run_id()
        self.request, self.config, self.source = request, config, source
        self.limits = limits or Limits()
        self.created = time.time()
        self.finished: float | None = None
        self.status = "running"                   # running | done | cancelled
        self.cancel_reason: str | None = None
        self.listeners: list[Listener] = []
        self.last_id = 0                          # the id of the last message sent
        self.results: list[StreamResult] | None = None
        self.kinds = {p.name: p.kind for p in request.providers}
        self.recorder = Recorder(store, self.id, source)
        self.race = Race(client, request.providers, request.chats(), defaults=config.defaults,
                         on_event=self._on_event, redactor=config.redactor)
        self._t0 = time.perf_counter_ns()
        self._interval_ns = int(self.limits.metrics_interval_s * 1e9)
        self._last_metrics: dict[str, int] = {}
        self._over = asyncio.Event()

    # ------------------------------------------------------------------ control
    @property
    def running(self) -> bool:
        return self.status == "running"

    def cancel(self, reason: str = "cancelled by request") -> bool:
        """Stop the race, before or after it started; False when it is over already."""
        if not self.running:
            return False
        if self.cancel_reason is None:
            self.cancel_reason = reason
        self.race.cancel()
        return True

    async def wait(self) -> None:
        """Until the run ended and was recorded."""
        await self._over.wait()

    async def run(self) -> list[StreamResult]:
        """Record the run, race, send ``end``, record the results. Call once."""
        req = self.request
        await self.recorder.create(req.prompt, req.shown_params(), [p.public() for p in req.providers],
                                   self.created, parent=req.parent)
        self._t0 = time.perf_counter_ns()
        ticker = asyncio.create_task(self._tick(), name=f"tokenrace-metrics-{self.id}")
        interrupted = False
        try:
            results = await self.race.run()
        except asyncio.CancelledError:          # our task was cancelled (shutdown): the streams ended cancelled
            interrupted = True
            if self.cancel_reason is None:
                self.cancel_reason = "cancelled"
            results = self.race.results()
        finally:
            ticker.cancel()
        await self._end(results)
        if interrupted:
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()                 # handled: the run ended and was recorded
        return results

    async def _end(self, results: list[StreamResult]) -> None:
        self.results = results
        self.status = "cancelled" if self.cancel_reason else "done"
        self.finished = time.time()
        self._send(RunEnd(self.id, self.status, self.cancel_reason))
        try:
            await self.recorder.finish(self.status, results)
        finally:
            self._over.set()
        log.info("run %s %s", self.id, self.status)

    # ------------------------------------------------------------------ messages
    def _send(self, msg: Message) -> None:
        self.last_id += 1
        frame = encode(msg, self.last_id)
        self.recorder.frame(frame)
        for listener in self.listeners:
            try:
                listener(frame, msg)
            except Exception:           # a consumer's bug must not stop the race or the others
                log.exception("run %s: a listener failed on %s", self.id, frame.event)

    def t_ms(self, t_ns: int) -> float:
        return round((t_ns - self._t0) / 1e6, 3)

    def _on_event(self, ev: StreamEvent) -> None:
        self.recorder.event(ev)
        name = ev.provider
        if isinstance(ev, TextDelta):
            if ev.text:
                self._send(Delta(name, text=ev.text, t_ms=self.t_ms(ev.t_ns)))
                self._maybe_metrics(name, ev.t_ns)
        elif isinstance(ev, ReasoningDelta):
            if ev.text:
                self._send(Delta(name, reasoning=ev.text, t_ms=self.t_ms(ev.t_ns)))
                self._maybe_metrics(name, ev.t_ns)
        elif isinstance(ev, Started):
            self._send(ProviderStart(name, ev.model, self.kinds.get(name, ""), ev.attempt, self.t_ms(ev.t_ns)))
        elif isinstance(ev, NoticeEvent):
            self._send(Notice(name, ev.message))
        elif isinstance(ev, (Finished, Failed)):
            acc = self.race.accumulators[name]
            if isinstance(ev, Failed):
                self._send(ProviderError(name, ev.message, ev.kind, ev.http_status))
            self._metrics(name, ev.t_ns)
            self._send(ProviderDone(name, acc.result().to_dict()))

    def _metrics(self, name: str, t_ns: int) -> None:
        self._last_metrics[name] = t_ns
        live = self.race.accumulators[name].live(t_ns)
        self._send(Metrics(name, live.status, live.elapsed_ms, live.ttft_ms, live.tokens, live.tokens_per_s,
                           live.token_source))

    def _maybe_metrics(self, name: str, t_ns: int) -> None:
        last = self._last_metrics.get(name)
        if last is None or t_ns - last >= self._interval_ns:
            self._metrics(name, t_ns)

    async def _tick(self) -> None:
        """While a provider is silent (waiting for its first token, or stalled), its elapsed time still
        moves: send its figures when none were sent for an interval."""
        while True:
            await asyncio.sleep(self.limits.metrics_interval_s)
            now = time.perf_counter_ns()
            for name, acc in self.race.accumulators.items():
                if acc.status in LIVE and not self.race.ended(name) and acc.attempts:
                    last = self._last_metrics.get(name)
                    if last is None or now - last >= self._interval_ns:
                        self._metrics(name, now)

    # ------------------------------------------------------------------ views
    def live_results(self) -> list[dict[str, Any]]:
        """One result dict per provider; a stream still going shows ``waiting``/``streaming``."""
        out = []
        for p in self.request.providers:
            acc = self.race.accumulators[p.name]
            d = acc.result().to_dict()
            if acc.status in LIVE:
                d["status"], d["error"], d["error_kind"] = acc.status, None, None
            out.append(d)
        return out

    def describe(self) -> dict[str, Any]:
        """The run as ``GET /api/runs/{id}`` shows it (live figures while it runs)."""
        req = self.request
        return {"id": self.id, "prompt": req.prompt, "created": self.created,
                "providers": [p.public() for p in req.providers], "status": self.status, "source": self.source,
                "params": req.shown_params(), "results": self.live_results(), "finished": self.finished,
                "parent": req.parent}
