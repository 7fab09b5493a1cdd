"""SSE responses: one writer loop per subscriber (docs: hub.md rules 2-8, sse-parsing.md "Writing SSE").

The loop takes every frame due from the subscriber's cursor (replay first, then live) and writes
them; when the socket did not take everything at once it awaits ``flush()`` before taking more, so
at most one bounded batch is buffered per connection. Once caught up, the writer parks and
registers a direct write (``Subscriber.push``): the channel's fan-out, once per loop turn, hands it
the bytes it shares with every subscriber at the same position, already framed as one HTTP chunk,
and it goes straight to the socket with one ``send``; no coroutine wakes per event. When the socket
does not take it all, tornado's stream buffers the rest and the writer takes over again, waiting for
that flush under the same timeout. One timer per connection (no extra task)
is the watchdog: it sends a ``: ping`` comment on streams idle for ``heartbeat_s``, and drops a
client whose pending flush has not completed within ``flush_timeout_s`` (the hub also drops one
whose backlog passes its limit); the reason is logged once. ``on_connection_close`` wakes the
loop, the subscription and the timer are removed in ``finally``.
"""
from __future__ import annotations

import asyncio
import logging
from typing import cast

from tornado.http1connection import HTTP1Connection
from tornado.iostream import IOStream, StreamClosedError

from ..sse import encode_comment
from .handlers import BaseHandler
from .hub import Batch, Channel, Subscriber
from .runs import RunManager

log = logging.getLogger("tokenrace.server")

PING = encode_comment("ping")


class SSEWriter:
    """Streams one channel to one handler's connection."""

    def __init__(self, handler: BaseHandler) -> None:
        self.h = handler
        self.cfg = handler.cfg
        self.sub: Subscriber | None = None
        self._closed = False
        self._loop = asyncio.get_running_loop()
        self._last_write = 0.0
        self._flush_since: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._abort: asyncio.Future | None = None   # set while waiting on a flush
        self._pending_flush: asyncio.Future | None = None   # a direct write's rest, buffered by tornado
        self._direct = False              # direct writes possible (HTTP/1.x connection, headers sent)
        self._chunked = False             # ... each one framed as an HTTP chunk
        self._io: IOStream | None = None  # the connection's stream, kept for direct writes
        self._run_id = ""
        handler.sse = self

    def client_closed(self) -> None:
        self._closed = True
        if self.sub is not None:
            self.sub.close("client closed")
        self._stop_waiting()

    def _connection(self) -> HTTP1Connection:
        # tornado's HTTP server gives every request an HTTP1Connection (typed as the interface)
        return cast(HTTP1Connection, self.h.request.connection)

    def _stream(self) -> IOStream:
        return self._connection().stream

    def _drop(self, reason: str) -> None:
        self._stop_waiting()
        conn = self._connection()
        if conn is not None and not self._closed:
            conn.close()

    def _stop_waiting(self) -> None:
        # tornado forgets a pending write future when the connection closes: never await it alone
        if self._abort is not None and not self._abort.done():
            self._abort.set_result(None)

    def _headers(self, status: int) -> None:
        h = self.h
        h.set_status(status)
        h.set_header("Content-Type", "text/event-stream; charset=utf-8")
        h.set_header("Cache-Control", "no-store")
        h.set_header("X-Accel-Buffering", "no")
        h.set_header("Connection", "keep-alive")

    # -- writing -----------------------------------------------------------------------------
    async def _send(self, data: bytes) -> None:
        """Write; wait for the socket only when it did not take everything (bounded by the watchdog)."""
        h = self.h
        h.write(data)
        fut = h.flush()
        self._last_write = self._loop.time()
        if self._stream().writing():
            await self._wait_flush(fut)

    async def _wait_flush(self, fut: asyncio.Future) -> None:
        stream = self._stream()
        self._flush_since = self._loop.time()
        self._abort = self._loop.create_future()
        try:
            await asyncio.wait((fut, self._abort), return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._flush_since = None
        if stream.closed() or self._abort.done():
            raise StreamClosedError()
        self._abort = None

    def _can_write_directly(self) -> bool:
        """Direct writes need tornado's HTTP/1 connection with the headers sent and no body length;
        ``_chunking_output`` says whether tornado frames this response as chunks (HTTP/1.1)."""
        conn = self._connection()
        chunked = getattr(conn, "_chunking_output", None)
        if not isinstance(chunked, bool) or getattr(conn, "_expected_content_remaining", 0) is not None:
            return False
        stream = self._stream()
        if not self.h._headers_written or getattr(stream, "socket", None) is None:
            return False
        self._chunked, self._io = chunked, stream
        return True

    def _push(self, batch: Batch) -> None:
        """The fan-out's direct write: one ``send`` of bytes shared with other subscribers."""
        sub, stream = self.sub, self._io
        if sub is None or stream is None:
            return
        data = batch.chunk if self._chunked else batch.data
        if self._closed or stream.closed():
            sub.close("client closed")
            return
        sent = 0
        if not stream.writing():            # else tornado still holds bytes: they go first
            try:
                sent = stream.socket.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                sub.close("client closed")
                return
            self._last_write = self._loop.time()
        if sent < len(data):
            # the socket is full: tornado buffers the rest; the writer waits for it under the flush timeout
            sub.push = None
            try:
                self._pending_flush = stream.write(data[sent:])
            except StreamClosedError:
                sub.close("client closed")
                return
            sub.wake()

    def _tick(self) -> None:
        """Watchdog: heartbeat on idle streams, drop on a flush that does not complete."""
        cfg, sub = self.cfg, self.sub
        if sub is None or sub.closed:
            return
        now = self._loop.time()
        if self._flush_since is not None and now - self._flush_since >= cfg.flush_timeout_s:
            log.warning("run %s: dropping a subscriber that read nothing for %.1f s; "
                        "it can reconnect with Last-Event-ID", self._run_id, cfg.flush_timeout_s)
            sub.close("flush timeout")
            self._drop("flush timeout")
            return
        if self._flush_since is None and now - self._last_write >= cfg.heartbeat_s * 0.98:
            sub.wake(False)
        self._timer = self._loop.call_later(self._tick_s, self._tick)

    async def run(self, channel: Channel, provider: str | None, last_event_id: str | None,
                  status: int = 200) -> None:
        h, cfg = self.h, self.cfg
        hub = channel.hub
        self._run_id = channel.run_id
        retry = f"retry: {int(cfg.retry_ms)}\n\n".encode()
        self._headers(status)
        if hub is not None and hub.full():
            # overload: 200 + a longer retry, then close (a 503 would stop EventSource for good)
            h.write(b"retry: 5000\n\n" + encode_comment("too many subscribers; retry later"))
            self._finish()
            return
        sub = self.sub = channel.subscribe(provider, last_event_id)
        sub.on_drop = self._drop
        if self._closed:
            sub.close("client closed")
        stream = self._stream()
        if not stream.closed():
            stream.set_nodelay(True)        # every write is whole events: no Nagle delay behind an ACK
        self._tick_s = max(0.005, min(cfg.heartbeat_s, cfg.flush_timeout_s) / 2)
        self._timer = self._loop.call_later(self._tick_s, self._tick)
        try:
            await self._send(retry + sub.prefix)
            self._direct = self._can_write_directly()
            chunk = cfg.write_chunk_bytes
            while not sub.closed:
                if self._pending_flush is not None:
                    fut, self._pending_flush = self._pending_flush, None
                    await self._wait_flush(fut)
                    continue
                data, done = sub.take(chunk)
                if data:
                    await self._send(data)
                    continue
                if done:
                    break
                sub.push = self._push if self._direct else None
                try:
                    woke = await sub.wait()
                finally:
                    sub.push = None
                if not woke and not sub.closed:
                    await self._send(PING)            # the watchdog found the stream idle
        except StreamClosedError:
            sub.close("client closed")
        finally:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            channel.unsubscribe(sub)
            self.sub = None
        self._finish()

    def _finish(self) -> None:
        # safe on a closed connection: tornado then writes nothing and the future is discarded
        if not self.h._finished:
            self.h.finish()


class RunEventsHandler(BaseHandler):
    """``GET /api/runs/{id}/events`` and ``GET /api/runs/{id}/providers/{name}/events``."""

    async def get(self, run_id: str, provider: str | None = None) -> None:
        last_event_id = self.last_event_id()
        channel = await self.manager.channel(run_id, last_event_id)
        if channel is None:
            self.send_error_json(404, f"no run {run_id!r}")
            return
        if provider is not None and not await _has_provider(channel, provider, self.manager, run_id):
            self.send_error_json(404, f"run {run_id!r} has no provider {provider!r}")
            return
        await SSEWriter(self).run(channel, provider, last_event_id)


async def _has_provider(channel: Channel, provider: str, manager: RunManager, run_id: str) -> bool:
    run = manager.runs.get(run_id)
    if run is not None:
        return provider in run.kinds
    if any(m.provider == provider for m in channel.history):
        return True
    doc = await manager.describe(run_id) if manager.shared is not None else None
    return doc is not None and any(isinstance(p, dict) and p.get("name") == provider
                                   for p in doc.get("providers") or [])
