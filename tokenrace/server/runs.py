"""Runs in this server process: the limits on them, and the hub channel each one publishes to.

Everything about a race itself (validation, redaction, metrics cadence, recording, run ids,
cancel before start, the protocol messages) is the :class:`~tokenrace.session.RaceSession`'s; the
manager counts running races, feeds each session's frames to its channel, and rebuilds finished
runs' channels from the store.

With a :class:`~.redis_bridge.RedisBridge` (``serve --redis``) it also hands each frame of the runs
it owns to Redis, as they are (no second translation), holds a :class:`~.lease.Lease` for them, and
serves the runs of other processes from mirrors; the run index, records and threads are read from
Redis too, so every process can serve every run.
"""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from ..config.models import Config
from ..protocol import Frame, Message, RunEnd
from ..providers.http import HTTPClient
from ..recording import replay_frames
from ..runrequest import Limits, RequestError, validate
from ..session import RaceSession
from ..thread import walk, with_history
from ..store import RunStore
from .hub import Channel, Hub

if TYPE_CHECKING:
    from .lease import Lease
    from .redis_bridge import RedisBridge

log = logging.getLogger("tokenrace.server")


class RunError(RequestError):
    """A request the manager refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message, status)


class RunManager:
    def __init__(self, config: Config, store: RunStore, hub: Hub, *, limits: Limits | None = None,
                 max_concurrent_runs: int = 8, client: HTTPClient | None = None,
                 shared: "RedisBridge | None" = None, lease_s: float = 5.0, recover: bool = True) -> None:
        self.config, self.store, self.hub = config, store, hub
        self.shared, self.lease_s, self.recover = shared, lease_s, recover
        self.lease: "Lease | None" = None
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
        if self.recover:                 # not in a worker of `serve --workers`: its supervisor did it once
            await self.store.mark_interrupted(source="serve")
        if self.shared is not None:
            from .lease import Lease
            self.shared.on_taken_over = self._taken_over
            self.lease = Lease(self.shared, ttl_s=self.lease_s, live=self._live_docs, cancel=self.cancel)
            await self.lease.start()

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
        if self.lease is not None:
            await self.lease.stop()
            self.lease = None
        if self._own_client and self._client is not None:
            await self._client.close()

    # ------------------------------------------------------------------ API
    def providers_public(self) -> list[dict[str, Any]]:
        # priced: whether figures can carry a cost (a viewer shows a Cost column only then); never the price
        return [dict(p.public(), priced=p.price is not None) for p in self.config.providers]

    async def create(self, body: Any) -> RaceSession:
        request = validate(body, self.config, self.limits)
        if request.parent is not None:
            live = self.runs.get(request.parent)
            if live is not None:
                if live.running:
                    raise RunError(409, f"run {request.parent!r} is still running; continue it when it has ended")
                await live.wait()          # it sent `end` and is recording its answers: a moment
            else:
                parent = await self.describe(request.parent) if self.shared is not None else None
                if parent is not None and parent.get("status") == "running":
                    raise RunError(409, f"run {request.parent!r} is still running; continue it when it has ended")
            request = with_history(request, await self.thread(request.parent))
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
        if self.shared is not None:
            await self._share(session, channel)
        self._tasks[session.id] = asyncio.create_task(self._drive(session, channel),
                                                      name=f"tokenrace-run-{session.id}")
        log.info("run %s started: %d provider(s)", session.id, len(request.providers))
        return session

    async def _share(self, session: RaceSession, channel: Channel) -> None:
        """Make a new run known to every process before its first frame: owned, recorded, indexed."""
        shared, lease = self.shared, self.lease
        assert shared is not None and lease is not None, "start() first"
        run_id = session.id
        try:
            await lease.own(run_id)
            await shared.put_record(session.describe(), lease.proc, index=True)
        except Exception as e:
            self.runs.pop(run_id, None)
            self.hub.channels.pop(run_id, None)
            raise RunError(503, f"the run could not be shared through Redis at {shared.where}; "
                                f"retry later") from e
        session.listeners.append(lambda frame, msg: shared.publish(run_id, frame))

    def cancel(self, run_id: str, reason: str = "cancelled by request") -> bool:
        session = self.runs.get(run_id)
        return session is not None and session.cancel(reason)

    async def cancel_anywhere(self, run_id: str, reason: str = "cancelled by request") -> bool:
        """Cancel a run this process runs, or ask the process that runs it (``--redis``)."""
        if self.cancel(run_id, reason):
            return True
        return self.shared is not None and await self.shared.request_cancel(run_id, reason)

    async def channel(self, run_id: str, last_event_id: str | None = None) -> Channel | None:
        """The run's channel: live, cached, a mirror of another process's run, or rebuilt from the store.
        ``last_event_id``: where the subscriber will resume (a mirror first catches up to it)."""
        ch = self.hub.get(run_id)
        if ch is not None:
            if self.shared is not None:
                await self.shared.mirrors.reach(ch, last_event_id)
            return ch
        stored = await self.store.get_run(run_id)
        if self.shared is not None and (stored is None or stored.get("status") == "running"):
            # not finished here: another process runs it (or ran it), and Redis has its frames
            ch = await self.shared.mirrors.channel(run_id)
            if ch is not None:
                await self.shared.mirrors.reach(ch, last_event_id)
                return ch
        if stored is None:
            return None
        ch = Channel(run_id, self.hub.limits)
        ch.load([(f.id, f.event, f.provider, f.data) for f in
                 replay_frames(stored, await self.store.get_messages(run_id))])
        return self.hub.adopt(ch)

    async def describe(self, run_id: str) -> dict[str, Any] | None:
        """The run with one result per provider (live figures while it runs)."""
        session = self.runs.get(run_id)
        if session is not None:
            return session.describe()
        stored = await self.store.get_run(run_id)
        if self.shared is not None and (stored is None or stored.get("status") == "running"):
            rec = await self.shared.get_record(run_id)
            if rec is not None:
                rec.pop("owner", None)
                return rec
        return stored

    async def list_runs(self, limit: int = 50) -> list[dict[str, Any]]:
        """Past and live runs, newest first: this store's, and with ``--redis`` every process's."""
        runs = await self.store.list_runs(limit)
        if self.shared is not None:
            merged = {r["id"]: r for r in runs}
            try:
                for r in await self.shared.list_runs(limit):
                    merged[r["id"]] = r           # the shared record is the current one
            except Exception as e:
                log.warning("reading the run index from Redis at %s failed: %s", self.shared.where, e)
            runs = sorted(merged.values(), key=lambda r: r.get("created") or 0, reverse=True)[:limit]
        for r in runs:
            live = self.runs.get(r["id"])
            if live is not None:
                r["status"] = live.status
        return runs

    async def thread(self, run_id: str, max_runs: int = 500) -> list[dict[str, Any]]:
        """The conversation ``run_id`` ends, first turn first (each run as :meth:`describe` gives it)."""
        if self.shared is None:
            return await self.store.thread(run_id, max_runs)
        return await walk(self.describe, run_id, max_runs)

    def _taken_over(self, run_id: str) -> None:
        self.cancel(run_id, "ended by another server process")

    def _live_docs(self) -> dict[str, dict[str, Any]]:
        return {run_id: s.describe() for run_id, s in self.runs.items() if s.running}

    # ------------------------------------------------------------------ driving a race
    async def _drive(self, session: RaceSession, channel: Channel) -> None:
        try:
            await session.run()
        except Exception:
            log.exception("run %s failed", session.id)
        finally:
            channel.close()
            if self.shared is not None:
                await self._unshare(session)
            self.runs.pop(session.id, None)
            self._tasks.pop(session.id, None)

    async def _unshare(self, session: RaceSession) -> None:
        """The run ended: its last frames, then its final record, reach Redis; the lease lets it go."""
        shared, lease = self.shared, self.lease
        assert shared is not None
        try:
            if not await shared.flush(timeout=10):
                log.warning("run %s: its last frames are still waiting for Redis at %s", session.id, shared.where)
            if session.id in shared.lost:       # the reaper's record (interrupted) stands
                shared.lost.discard(session.id)
            else:
                doc = session.describe()
                if session.results is not None:
                    doc["results"] = [r.to_dict() for r in session.results]
                await shared.put_record(doc, index=True)
            if lease is not None:
                await lease.disown(session.id)
        except Exception as e:
            log.warning("run %s: recording its end in Redis at %s failed: %s", session.id, shared.where, e)


def _publish(channel: Channel, frame: Frame, msg: Message) -> None:
    published = channel.publish(frame.event, frame.data, frame.provider)
    if published.id != frame.id:            # the channel's ids are the session's: one sequence
        log.error("run %s: channel id %d != session id %d", channel.run_id, published.id, frame.id)
    if isinstance(msg, RunEnd):
        channel.close()
