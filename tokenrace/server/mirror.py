"""Mirrors: this process's copies of runs that other processes run (``serve --redis``).

A mirror is a hub :class:`~.hub.Channel` filled from the run's Redis stream by ``XRANGE`` and then
followed by one ``XREAD BLOCK`` reader per run, whatever the number of its subscribers; every hub rule
(bounded backlog, flush timeout, heartbeat, replay without gap or duplicate) applies to it unchanged.
Concurrent requests for a run share one mirror; a finished run's mirror joins the hub's finished
channels (and is rebuilt from Redis when evicted).

A mirror never holds an id its process has not read, but a client may have read id n from the owner
before the owner's ``XADD`` reached Redis: :meth:`Mirrors.reach` waits (bounded) for the mirror to get
there before the subscriber is positioned, so a reconnect to another process continues exactly. A
stream trimmed before its first read starts the mirror at the first id kept (``Channel.base``).
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..recording import replay_frames
from .entries import PAGE, Entry, _why, entry_id, frame_of
from .hub import Channel, Hub

if TYPE_CHECKING:
    from .redis_bridge import RedisBridge

log = logging.getLogger("tokenrace.server")


@dataclass
class Mirror:
    """This process's copy of another process's live run, and its one reader."""

    channel: Channel
    key: str
    task: asyncio.Task[None] | None = None
    advanced: asyncio.Event = field(default_factory=asyncio.Event)


class Mirrors:
    """The live mirrors of one process, by run id."""

    def __init__(self, bridge: "RedisBridge") -> None:
        self.bridge = bridge
        self.hub: Hub | None = None
        self.live: dict[str, Mirror] = {}
        self._opening: dict[str, asyncio.Future[Channel | None]] = {}

    def __len__(self) -> int:
        return len(self.live)

    async def close(self) -> None:
        tasks = [m.task for m in self.live.values() if m.task is not None]
        self.live.clear()                  # first: readers stopped now leave their channels alone
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5)

    async def channel(self, run_id: str) -> Channel | None:
        """A mirror of a run this process does not own: caught up with Redis, following it while it is
        live; None when Redis knows no such run. Concurrent requests share one mirror."""
        hub = self.hub
        assert hub is not None, "connect() first"
        ch = hub.get(run_id)
        if ch is not None:
            return ch
        opening = self._opening.get(run_id)
        if opening is not None:
            return await asyncio.shield(opening)
        fut: asyncio.Future[Channel | None] = asyncio.get_running_loop().create_future()
        self._opening[run_id] = fut
        try:
            ch = await self._open(run_id, hub)
            fut.set_result(ch)
            return ch
        except BaseException as e:
            fut.set_exception(e)
            fut.exception()                    # retrieved: the waiters get it too
            raise
        finally:
            del self._opening[run_id]

    async def _open(self, run_id: str, hub: Hub) -> Channel | None:
        key = self.bridge.log_key(run_id)
        ch = Channel(run_id, hub.limits)
        entries = await self.bridge.range_after(key, 0)
        if not entries:
            rec = await self.bridge.get_record(run_id)
            if rec is None:
                return None
            if rec.get("status") != "running":     # finished, its log gone: completed from the results
                ch.load([(f.id, f.event, f.provider, f.data) for f in replay_frames(rec, [])])
                return hub.adopt(ch)
        frames = [frame_of(sid, fields) for sid, fields in entries]
        first = frames[0].id if frames else 1
        ends = next((i for i, f in enumerate(frames) if f.event == "end"), None)
        if ends is not None:
            frames = frames[:ends + 1]
        ch.load([(f.id, f.event, f.provider, f.data) for f in frames], base=first - 1)
        if ends is not None:
            return hub.adopt(ch)                   # finished: kept with the other finished channels
        live = hub.attach(ch)
        if live is ch:
            m = self.live[run_id] = Mirror(ch, key)
            m.task = asyncio.create_task(self._follow(run_id, m), name=f"tokenrace-mirror-{run_id}")
        return live

    def _ingest(self, m: Mirror, entries: list[Entry]) -> bool:
        """Append the entries this mirror does not have yet; False when the mirror fell so far behind
        that Redis trimmed what it had not read (its subscribers are dropped and reconnect)."""
        ch = m.channel
        for sid, fields in entries:
            if ch.closed:
                break
            n = entry_id(sid)
            if n <= ch.last_id:
                continue                   # already here (a catch-up and the reader overlapped)
            if n != ch.last_id + 1:
                if ch.history or ch.base:
                    self._broken(m, f"events {ch.last_id + 1} to {n - 1} were trimmed before this process "
                                    f"read them")
                    return False
                ch.base = n - 1            # the oldest events were trimmed (MAXLEN ~): start at the first kept
            f = frame_of(sid, fields)
            ch.publish(f.event, f.data, f.provider)
            if f.event == "end":
                ch.close()
        m.advanced.set()
        return True

    def _broken(self, m: Mirror, why: str) -> None:
        """Give up a mirror that can no longer follow its stream: its subscribers are disconnected (they
        reconnect with Last-Event-ID, to a new mirror) and the hub forgets it."""
        ch = m.channel
        log.error("run %s: this process's copy of the run stopped following it (%s); its %d subscriber(s) "
                  "reconnect", ch.run_id, why, len(ch.subscribers))
        for sub in list(ch.subscribers):
            ch.drop(sub, why, quiet=True)
        if self.hub is not None and self.hub.channels.get(ch.run_id) is ch:
            del self.hub.channels[ch.run_id]
        self.live.pop(ch.run_id, None)
        if m.task is not None and m.task is not asyncio.current_task():
            m.task.cancel()

    async def _follow(self, run_id: str, m: Mirror) -> None:
        """The one reader of this run in this process: XREAD BLOCK until its ``end``."""
        ch, backoff = m.channel, 0.1
        try:
            while not ch.closed and self.live.get(run_id) is m:
                try:
                    reply = await self.bridge.redis.xread({m.key: f"0-{ch.last_id}"}, count=PAGE,
                                                          block=self.bridge.block_ms)
                    backoff = 0.1
                except asyncio.CancelledError:
                    raise
                except Exception as e:
                    log.warning("run %s: reading it from Redis at %s failed (%s); retrying in %.1f s",
                                run_id, self.bridge.where, _why(e), backoff)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
                for _key, entries in reply or ():
                    if not self._ingest(m, entries):
                        return
        finally:
            if self.live.get(run_id) is m and not ch.closed:
                # the reader stopped before the run's end (cancelled, or a bug): never leave subscribers
                # on a channel nothing feeds
                self._broken(m, "its reader stopped")
            elif self.live.get(run_id) is m:
                del self.live[run_id]

    def release(self, reason: str) -> None:
        """Disconnect the subscribers of every mirror (this process is stopping; the runs go on)."""
        for m in list(self.live.values()):
            for sub in list(m.channel.subscribers):
                m.channel.drop(sub, reason, quiet=True)

    async def reach(self, ch: Channel, last_event_id: str | None) -> None:
        """Before positioning a subscriber of a live mirror at ``last_event_id``: wait (bounded) until the
        mirror holds that id, which the client may have read from the owner a moment before its XADD."""
        m = self.live.get(ch.run_id)
        if m is None or m.channel is not ch or last_event_id is None:
            return
        raw = last_event_id.strip()
        if not (raw.isascii() and raw.isdigit() and len(raw) < 19):
            return
        want = int(raw)
        deadline = asyncio.get_running_loop().time() + self.bridge.reach_timeout_s
        while want > ch.last_id and not ch.closed:
            self._ingest(m, await self.bridge.range_after(m.key, ch.last_id))
            left = deadline - asyncio.get_running_loop().time()
            if want <= ch.last_id or ch.closed or left <= 0:
                return
            m.advanced.clear()
            try:
                async with asyncio.timeout(min(left, 0.25)):
                    await m.advanced.wait()
            except TimeoutError:
                pass


