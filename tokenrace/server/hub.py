"""Broadcast hub: one channel per run, replay, bounded subscribers (docs: hub.md).

No tornado here (the hub is tested and benchmarked on its own).

Design
------
* A :class:`Channel` holds the run's whole history as pre-encoded SSE frames; ids are one
  run-wide sequence 1, 2, 3 ... so ``history[i].id == base + i + 1`` and a ``Last-Event-ID`` ``n``
  resumes at index ``n - base``. ``base`` is 0 except in a mirror of a Redis stream whose oldest
  events were trimmed (``MAXLEN ~``): an id older than the mirror's first one gets ``reset``. A provider's channel is the combined channel filtered by provider
  (``end`` goes to everyone), so a resume point from either channel is valid in both.
* A :class:`Subscriber` is a cursor into that shared history: replay and live events are read
  from the same list, in order, so there is no gap, no duplicate and no hand-off to get wrong.
  Each event is encoded once, whatever the number of subscribers.
* Fan-out: a subscriber whose writer is idle registers ``push`` (the SSE writer's direct write).
  Publishing then wakes no coroutine per subscriber: it schedules one :meth:`Channel._fanout` per
  loop turn, so events published in the same turn go out together, and each group of subscribers at
  the same position (usually all of them) shares one ``bytes`` (and one HTTP chunk of it), which each
  writer hands to its socket. A writer that cannot write at once takes over again with its own
  bounded flush. Subscribers without ``push`` are woken as before.
* Bounded: a subscriber's backlog (events published since it joined that it has not taken,
  counted in events and bytes) is checked as events are published; past the limit it is dropped
  (``on_drop`` closes its connection; the client reconnects with ``Last-Event-ID``). Writers
  also bound each flush with a timeout. The shared history is bounded by the run itself.
* Finished channels stay in memory for replays, least recently used first out, within
  ``keep_finished`` channels and ``keep_finished_bytes`` (their ``footprint``: what the history
  really holds, frames, data and per-message objects). An evicted run is rebuilt from the store
  when it is asked for again; subscribers still reading it keep their own reference.
"""
from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable

from ..sse import encode_event

log = logging.getLogger("tokenrace.server")

_JSON: dict[str, Any] = dict(ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class HubLimits:
    max_lag_events: int = 10_000         # unread live events before a subscriber is dropped
    max_lag_bytes: int = 8 * 1024 * 1024  # unread live bytes before a subscriber is dropped
    max_subscribers: int = 10_000        # across all channels
    keep_finished: int = 64              # finished channels kept in memory (others reload from the store)
    keep_finished_bytes: int = 64 * 1024 * 1024   # ... and the memory they may hold together
    check_every: int = 16                # publishes between backlog checks


class Message:
    """One protocol event, encoded once: ``frame`` is its SSE bytes."""

    __slots__ = ("id", "event", "provider", "data", "frame")

    def __init__(self, id: int, event: str, provider: str | None, data: str) -> None:
        # provider names are shared, also by messages loaded from the store
        self.id, self.event, self.data = id, event, data
        self.provider = sys.intern(provider) if provider is not None else None
        self.frame = encode_event(data, event=event, id=id)

    def footprint(self) -> int:
        """Bytes this message holds in a history: frame, data, the object, its slot in ``history``
        and ``offsets`` and their ints (tracemalloc agrees within a few per cent). Non-ASCII data
        also gets a UTF-8 copy cached inside the str once the store hands it to sqlite."""
        utf8 = 0 if self.data.isascii() else len(self.frame)
        return sys.getsizeof(self.frame) + sys.getsizeof(self.data) + utf8 + _MESSAGE_OVERHEAD


_MESSAGE_OVERHEAD = sys.getsizeof(Message(1, "", None, "")) + 2 * 8 + 2 * 32


def reset_frame(reason: str) -> bytes:
    """The ``reset`` event sent before a full replay when a ``Last-Event-ID`` is unknown."""
    return encode_event(json.dumps({"reason": reason}, **_JSON), event="reset", id=0)


class Batch:
    """Frames due to a group of subscribers at one position, shared by all of them."""

    __slots__ = ("data", "_chunk")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self._chunk: bytes | None = None

    @property
    def chunk(self) -> bytes:
        """The data as one HTTP/1.1 chunk (``Transfer-Encoding: chunked``), made once per batch."""
        if self._chunk is None:
            self._chunk = b"%x\r\n%b\r\n" % (len(self.data), self.data)
        return self._chunk


class Subscriber:
    """A cursor into a channel's history; ``take`` returns what is due, ``wait`` until more is."""

    __slots__ = ("channel", "provider", "cursor", "joined", "prefix", "closed", "reason", "on_drop",
                 "push", "_waiter", "__weakref__")

    def __init__(self, channel: "Channel", provider: str | None, cursor: int, prefix: bytes = b"") -> None:
        self.channel, self.provider, self.cursor = channel, provider, cursor
        self.joined = len(channel.history)     # backlog counts only what was published after this
        self.prefix = prefix                   # e.g. a reset frame, written before the replay
        self.closed = False
        self.reason: str | None = None
        self.on_drop: Callable[[str], None] | None = None
        # set while the writer is idle: the channel's fan-out hands it what is due, no wake-up needed
        self.push: Callable[[Batch], None] | None = None
        self._waiter: asyncio.Future | None = None

    def take(self, max_bytes: int = 64 * 1024) -> tuple[bytes, bool]:
        """(frames due, up to about ``max_bytes``; True once the channel ended and all was taken)."""
        history = self.channel.history
        i, n, prov = self.cursor, len(history), self.provider
        parts: list[bytes] = []
        size = 0
        if prov is None:
            while i < n and size < max_bytes:
                f = history[i].frame
                parts.append(f)
                size += len(f)
                i += 1
        else:
            while i < n and size < max_bytes:
                m = history[i]
                i += 1
                if m.provider == prov or m.provider is None:
                    parts.append(m.frame)
                    size += len(m.frame)
        self.cursor = i
        done = self.channel.closed and i >= len(history)
        return (parts[0] if len(parts) == 1 else b"".join(parts)), done

    def pending(self) -> bool:
        return self.cursor < len(self.channel.history)

    async def wait(self, timeout: float | None = None) -> bool:
        """Until something is due or the subscriber closed (True), or ``timeout`` passed or
        :meth:`wake` was called with False, e.g. by a heartbeat timer (False)."""
        if self.closed or self.pending() or self.channel.closed:
            return True
        loop = asyncio.get_running_loop()
        fut = self._waiter = loop.create_future()
        handle = loop.call_later(timeout, _resolve, fut, False) if timeout is not None else None
        try:
            return await fut
        finally:
            if handle is not None:
                handle.cancel()
            self._waiter = None

    def wake(self, value: bool = True) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(value)

    def close(self, reason: str = "closed") -> None:
        """Stop this subscriber (client gone, or dropped); wakes its writer."""
        if not self.closed:
            self.closed, self.reason = True, reason
        self.wake()

    def backlog(self) -> tuple[int, int]:
        """(events, bytes) published after joining and not taken yet."""
        ch = self.channel
        start = max(self.cursor, self.joined)
        n = len(ch.history)
        if start >= n:
            return 0, 0
        return n - start, ch.size - (ch.offsets[start - 1] if start else 0)


def _resolve(fut: asyncio.Future, value: bool) -> None:
    if not fut.done():
        fut.set_result(value)


class Channel:
    """One run's events: history (replay) plus live fan-out to subscribers."""

    def __init__(self, run_id: str, limits: HubLimits | None = None, hub: "Hub | None" = None) -> None:
        self.run_id = run_id
        self.limits = limits or HubLimits()
        self.hub = hub
        self.history: list[Message] = []
        self.base = 0                     # ids before base + 1 are not held (trimmed from a shared stream)
        self.offsets: list[int] = []      # cumulative frame bytes after each message
        self.size = 0
        self.footprint = 0                # memory the history holds (Message.footprint summed)
        self.closed = False
        self.subscribers: set[Subscriber] = set()
        self._since_check = 0
        self._fanout_due = False
        self.fanouts = 0                  # fan-out callbacks run (tests, benchmarks)

    @property
    def last_id(self) -> int:
        return self.base + len(self.history)

    def publish(self, event: str, data: dict[str, Any] | str, provider: str | None = None) -> Message:
        """Append one event (id = next in the run) and wake the subscribers it is for."""
        if self.closed:
            raise RuntimeError(f"channel {self.run_id} is closed")
        if not isinstance(data, str):
            data = json.dumps(data, **_JSON)
        msg = Message(self.base + len(self.history) + 1, event, provider, data)
        self.history.append(msg)
        self.size += len(msg.frame)
        self.offsets.append(self.size)
        self.footprint += msg.footprint()
        if self.subscribers:
            fanout = False
            for sub in self.subscribers:
                if provider is None or sub.provider is None or sub.provider == provider:
                    if sub.push is not None:
                        fanout = True
                        continue
                    w = sub._waiter
                    if w is not None and not w.done():
                        w.set_result(True)
            if fanout and not self._fanout_due:
                self._fanout_due = True
                asyncio.get_running_loop().call_soon(self._fanout)
            self._since_check += 1
            if self._since_check >= self.limits.check_every:
                self._since_check = 0
                self.check_backlogs()
        return msg

    def _fanout(self, max_bytes: int = 64 * 1024) -> None:
        """Hand what is due to every idle writer: one ``take`` per group of subscribers at the same
        position, whatever was published since the last turn, as one write per subscriber."""
        self._fanout_due = False
        self.fanouts += 1
        shared: dict[tuple[int, str | None], tuple[Batch | None, int]] = {}
        again = False
        for sub in list(self.subscribers):
            push = sub.push
            if push is None or sub.closed:
                continue
            key = (sub.cursor, sub.provider)
            got = shared.get(key)
            if got is None:
                data, _ = sub.take(max_bytes)
                got = shared[key] = (Batch(data) if data else None, sub.cursor)
            else:
                sub.cursor = got[1]
            if got[0] is not None:
                push(got[0])
            if sub.push is not None and sub.pending():
                again = True
        if again and not self._fanout_due:
            self._fanout_due = True
            asyncio.get_running_loop().call_soon(self._fanout)

    def load(self, messages: list[tuple[int, str, str | None, str]], base: int = 0) -> None:
        """Fill the history from stored ``(id, event, provider, data)`` rows (before any subscriber);
        ``base``: the id before the first row (0: the rows start at id 1)."""
        if not self.history:
            self.base = base
        for i, event, provider, data in messages:
            if i != self.last_id + 1:
                raise ValueError(f"run {self.run_id}: stored event ids are not contiguous at {i}")
            msg = Message(i, event, provider, data)
            self.history.append(msg)
            self.size += len(msg.frame)
            self.offsets.append(self.size)
            self.footprint += msg.footprint()

    def close(self) -> None:
        """No more events: subscribers take what is left and end."""
        if self.closed:
            return
        self.closed = True
        for sub in list(self.subscribers):
            sub.wake()
        if self.hub is not None:
            self.hub._channel_closed(self)

    def check_backlogs(self) -> None:
        lim = self.limits
        for sub in list(self.subscribers):
            n, size = sub.backlog()
            if n > lim.max_lag_events or size > lim.max_lag_bytes:
                self.drop(sub, f"too slow: {n} events ({size} bytes) not read")

    def drop(self, sub: Subscriber, reason: str, quiet: bool = False) -> None:
        if not quiet:
            log.warning("run %s: dropping a subscriber (%s); it can reconnect with Last-Event-ID",
                        self.run_id, reason)
        self.unsubscribe(sub)
        sub.close(reason)
        if sub.on_drop is not None:
            try:
                sub.on_drop(reason)
            except Exception:
                log.exception("run %s: on_drop failed", self.run_id)

    def subscribe(self, provider: str | None = None, last_event_id: str | None = None) -> Subscriber:
        """A subscriber positioned after ``last_event_id`` (None: from the start).

        An id that is not an integer, or beyond the last event, gives a ``reset`` frame
        (``Subscriber.prefix``) and the whole history from the start.
        """
        cursor, prefix = 0, b""
        if last_event_id is not None and last_event_id.strip() != "":
            raw = last_event_id.strip()
            n = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 19 else -1
            if self.base <= n <= self.last_id:
                cursor = n - self.base
            elif 0 <= n < self.base:
                prefix = reset_frame(f"Last-Event-ID {n} is older than the shared history kept (events 1 to "
                                     f"{self.base} were trimmed); replaying from event {self.base + 1}")
            else:
                prefix = reset_frame(f"unknown Last-Event-ID {raw[:40]!r} (last id is {self.last_id}); "
                                     f"replaying from the start")
        elif self.base:
            prefix = reset_frame(f"events 1 to {self.base} were trimmed from the shared history; "
                                 f"replaying from event {self.base + 1}")
        sub = Subscriber(self, provider, cursor, prefix)
        self.subscribers.add(sub)
        if self.hub is not None:
            self.hub.subscriber_count += 1
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        if sub in self.subscribers:
            self.subscribers.discard(sub)
            if self.hub is not None:
                self.hub.subscriber_count -= 1
                self.hub._maybe_idle()


class Hub:
    """All channels of this process: live runs, plus an LRU of finished ones."""

    def __init__(self, limits: HubLimits | None = None) -> None:
        self.limits = limits or HubLimits()
        self.channels: dict[str, Channel] = {}
        self._finished: OrderedDict[str, int] = OrderedDict()    # run id -> footprint, oldest use first
        self.finished_bytes = 0
        self.subscriber_count = 0
        self._idle: asyncio.Event | None = None

    def open(self, run_id: str) -> Channel:
        if run_id in self.channels:
            raise ValueError(f"channel {run_id} exists")
        ch = self.channels[run_id] = Channel(run_id, self.limits, self)
        return ch

    def attach(self, channel: Channel) -> Channel:
        """Register a live channel made elsewhere (a mirror of another process's run); an existing
        channel of that run wins."""
        existing = self.channels.get(channel.run_id)
        if existing is not None:
            return existing
        channel.hub = self
        self.channels[channel.run_id] = channel
        return channel

    def get(self, run_id: str) -> Channel | None:
        ch = self.channels.get(run_id)
        if ch is not None and run_id in self._finished:
            self._finished.move_to_end(run_id)
        return ch

    def adopt(self, channel: Channel) -> Channel:
        """Keep a finished channel rebuilt from the store (another coroutine may have won the race)."""
        existing = self.channels.get(channel.run_id)
        if existing is not None:
            return existing
        channel.hub = self
        self.channels[channel.run_id] = channel
        channel.close()          # a stored run is finished: registers it in the LRU of finished channels
        return channel

    def full(self) -> bool:
        return self.subscriber_count >= self.limits.max_subscribers

    def _channel_closed(self, ch: Channel) -> None:
        self.finished_bytes += ch.footprint - self._finished.pop(ch.run_id, 0)
        self._finished[ch.run_id] = ch.footprint
        lim = self.limits
        while self._finished and (len(self._finished) > lim.keep_finished
                                  or self.finished_bytes > lim.keep_finished_bytes):
            old, size = self._finished.popitem(last=False)
            self.finished_bytes -= size
            self.channels.pop(old, None)    # subscribers still reading keep their own reference

    def _maybe_idle(self) -> None:
        if self.subscriber_count == 0 and self._idle is not None:
            self._idle.set()

    async def wait_idle(self, timeout: float) -> bool:
        """Until no subscriber is left (True) or ``timeout`` passed (False)."""
        if self.subscriber_count == 0:
            return True
        self._idle = asyncio.Event()
        try:
            async with asyncio.timeout(timeout):
                await self._idle.wait()
            return True
        except TimeoutError:
            return False
        finally:
            self._idle = None
