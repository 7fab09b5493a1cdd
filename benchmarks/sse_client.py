"""A lean SSE client for the fan-out benchmarks: one asyncio Protocol per connection.

aiohttp costs tens of microseconds per read (a task wake-up, its stream reader, the iterator), so
with hundreds of subscribers in one client process the *client's* queueing dominates a delivery
latency measured at the client. This client stamps ``perf_counter_ns()`` in ``data_received``
(called straight from the event loop's selector), undoes the HTTP/1.1 chunking and parses every
event with ``tokenrace.sse.SSEDecoder``, like any real reader must.
"""
from __future__ import annotations

import asyncio
import time
from typing import Callable

from tokenrace.sse import SSEDecoder, SSEEvent

OnEvent = Callable[[SSEEvent, int], None]


class SSEProtocol(asyncio.Protocol):
    def __init__(self, host: str, path: str, on_event: OnEvent, last_event_id: str | None = None) -> None:
        self.host, self.path, self.on_event, self.last_event_id = host, path, on_event, last_event_id
        self.dec = SSEDecoder()
        self.head = b""
        self.status = 0
        self.chunked = False
        self.buf = b""
        self.need = -1                  # bytes left in the current chunk; -1: reading a size line
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        extra = f"Last-Event-ID: {self.last_event_id}\r\n" if self.last_event_id else ""
        transport.write(f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\nAccept: text/event-stream\r\n"
                        f"{extra}\r\n".encode())

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter_ns()
        if not self.status:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = self.head[:end].decode("latin-1").split("\r\n")
            self.status = int(lines[0].split()[1])
            self.chunked = any(ln.lower().startswith("transfer-encoding:") and "chunked" in ln.lower()
                               for ln in lines[1:])
            data, self.head = self.head[end + 4:], b""
        body = self._dechunk(data) if self.chunked else data
        if body:
            for ev in self.dec.feed(body):
                self.on_event(ev, now)

    def _dechunk(self, data: bytes) -> bytes:
        """HTTP/1.1 chunked body -> bytes. ``need``: >0 bytes left in a chunk, -1 a size line is next,
        -2 the CRLF after a chunk is next, -3 the last chunk came."""
        buf = self.buf + data if self.buf else data
        out: list[bytes] = []
        i, n = 0, len(buf)
        while i < n:
            if self.need > 0:
                take = min(self.need, n - i)
                out.append(buf[i:i + take])
                i += take
                self.need -= take
                if self.need == 0:
                    self.need = -2
            elif self.need == -2:
                if n - i < 2:
                    break
                i += 2
                self.need = -1
            elif self.need == -1:
                j = buf.find(b"\r\n", i)
                if j < 0:
                    break
                size = int(buf[i:j].split(b";")[0], 16)
                i = j + 2
                if size == 0:
                    self.need = -3
                    if self.transport is not None:
                        self.transport.close()
                    break
                self.need = size
            else:
                break
        self.buf = buf[i:]
        return out[0] if len(out) == 1 else b"".join(out)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def connect(host: str, port: int, path: str, on_event: OnEvent,
                  last_event_id: str | None = None) -> SSEProtocol:
    loop = asyncio.get_running_loop()
    _, proto = await loop.create_connection(lambda: SSEProtocol(f"{host}:{port}", path, on_event, last_event_id),
                                            host, port)
    return proto
