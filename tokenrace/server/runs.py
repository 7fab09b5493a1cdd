"""Runs in this server process: the limits on them, and the hub channel each one publishes to.

Everything about a race itself (validation, redaction, metrics cadence, recording, run ids,
cancel before start, the protocol messages) is the :class:`~tokenrace.session.RaceSession`'s; the
manager counts running races, feeds each session's frames to its channel, and rebuilds finished
runs' channels from the store.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from ..config.models import Config
from ..protocol import Frame, Message, RunEnd
from ..providers.http import HTTPClient
from ..recording import replay_frames
from ..runrequest import Limits, RequestError, validate
from ..session import RaceSession
from ..thread import with_history
from ..store import RunStore
from .hub import Channel, Hub

log = logging.getLogger("tokenrace.server")


class RunError(RequestError):
    """A request the manager refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message, status)


class RunManager:
    def __init__(self, config: Config, store: RunStore, hub: Hub, *, limits: Limits | None = None,
                 max_concurrent_runs: int = 8, client: HTTPClient | None = None) -> None:
        self.config, self.store, self.hub = config, store, hub
        self.limits = limits or Limits()
        self.max_concurrent_runs = max_concurrent_runs
        self.runs: dict[str, RaceSession] = {}           # live runs
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._client = client
        self._own_client = client is None
        self.closing = False

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        if self._client is None:
            self._client = HTTPClient()
        await self.store.mark_interrupted(source="serve")

    async def stop(self, reason: str = "server shutting down", timeout: float = 10.0) -> None:
        """Cancel every running race (streams end ``cancelled``, text kept and stored), end channels."""
        self.closing = True
        for session in list(self.runs.values()):
            session.cancel(reason)
        tasks = list(self._tasks.values())
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=timeout)
            for t in pending:
                t.cancel()
            if pending:
                await asyncio.wait(pending, timeout=2)
        await self.store.flush()
        if self._own_client and self._client is not None:
            await self._client.close()

    # ------------------------------------------------------------------ API
    def providers_public(self) -> list[dict[str, str]]:
        return [p.public() for p in self.config.providers]

    async def create(self, body: Any) -> RaceSession:
        request = validate(body, self.config, self.limits)
        if request.parent is not None:
            parent = self.runs.get(request.parent)
            if parent is not None:
                if parent.running:
                    raise RunError(409, f"run {request.parent!r} is still running; continue it when it has ended")
                await parent.wait()       # it sent `end` and is recording its answers: a moment
            request = with_history(request, await self.store.thread(request.parent))
        if self.closing:
            raise RunError(503, "the server is shutting down")
        if len(self.runs) >= self.max_concurrent_runs:
            raise RunError(429, f"{len(self.runs)} runs are already running; the limit is "
                                f"{self.max_concurrent_runs} (serve --max-concurrent-runs); retry when one ends")
        assert self._client is not None, "start() first"
        session = RaceSession(request, self.config, self._client, store=self.store, source="serve",
                              limits=self.limits)
        channel = self.hub.open(session.id)
        session.listeners.append(lambda frame, msg: _publish(channel, frame, msg))
        self.runs[session.id] = session        # counted at once, so concurrent requests see the limit
        self._tasks[session.id] = asyncio.create_task(self._drive(session, channel),
                                                      name=f"tokenrace-run-{session.id}")
        log.info("run %s started: %d provider(s)", session.id, len(request.providers))
        return session

    def cancel(self, run_id: str, reason: str = "cancelled by request") -> bool:
        session = self.runs.get(run_id)
        return session is not None and session.cancel(reason)

    async def channel(self, run_id: str) -> Channel | None:
        """The run's channel: live, cached, or rebuilt from the store."""
        ch = self.hub.get(run_id)
        if ch is not None:
            return ch
        stored = await self.store.get_run(run_id)
        if stored is None:
            return None
        ch = Channel(run_id, self.hub.limits)
        ch.load([(f.id, f.event, f.provider, f.data) for f in
                 replay_frames(stored, await self.store.get_messages(run_id))])
        return self.hub.adopt(ch)

    async def describe(self, run_id: str) -> dict[str, Any] | None:
        """The run with one result per provider (live figures while it runs)."""
        session = self.runs.get(run_id)
        if session is None:
            return await self.store.get_run(run_id)
        return session.describe()

    # ------------------------------------------------------------------ driving a race
    async def _drive(self, session: RaceSession, channel: Channel) -> None:
        try:
            await session.run()
        except Exception:
            log.exception("run %s failed", session.id)
        finally:
            channel.close()
            self.runs.pop(session.id, None)
            self._tasks.pop(session.id, None)


def _publish(channel: Channel, frame: Frame, msg: Message) -> None:
    published = channel.publish(frame.event, frame.data, frame.provider)
    if published.id != frame.id:            # the channel's ids are the session's: one sequence
        log.error("run %s: channel id %d != session id %d", channel.run_id, published.id, frame.id)
    if isinstance(msg, RunEnd):
        channel.close()
