"""The floor: the least a Python client can do to time a stream, used as the yardstick for every figure.

A raw asyncio :class:`asyncio.Protocol` that writes one prepared HTTP/1.1 request and, in
``data_received``, only appends ``(perf_counter_ns(), bytes)``; the end of a response is seen by a
byte comparison on the tail. Everything else (de-chunking, SSE, JSON, matching each content event to
the read that completed it) happens after the run, off the clock. On the loop it runs on (uvloop
when installed), its timing error is the best any Python client can reach on the machine.

It speaks only what the simulator answers (chunked ``text/event-stream`` over keep-alive HTTP/1.1).
"""
from __future__ import annotations

import asyncio
import bisect
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

_END = b"\r\n0\r\n\r\n"          # the last chunk of a chunked body


@dataclass
class FloorRequest:
    t_sent: int = 0                                            # after transport.write() returned
    pieces: list[tuple[int, bytes]] = field(default_factory=list)

    def result(self) -> tuple[str, list[tuple[int, str]]]:
        """(x-sim-request-id, [(arrival ns, text)] of each content event), parsed now, off the clock."""
        return parse_response(self.pieces)


class _Proto(asyncio.Protocol):
    __slots__ = ("transport", "req", "tail", "done", "lost")

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.req = FloorRequest()
        self.tail = b""
        self.done: asyncio.Future[None] | None = None
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport      # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.req.pieces.append((time.perf_counter_ns(), data))
        tail = self.tail + data[-7:]
        self.tail = tail[-7:]
        if tail.endswith(_END) and self.done is not None and not self.done.done():
            self.done.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.done is not None and not self.done.done():
            self.done.set_exception(ConnectionError(f"connection lost mid-response: {exc}"))
        if not self.lost.done():
            self.lost.set_result(None)


class FloorConnection:
    """One keep-alive connection; :meth:`request` sends the prepared bytes and waits for the whole answer."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.proto: _Proto | None = None

    async def open(self) -> None:
        _, proto = await asyncio.get_running_loop().create_connection(_Proto, self.host, self.port)
        self.proto = proto

    async def request(self, raw: bytes) -> FloorRequest:
        if self.proto is None:
            await self.open()
        proto = self.proto
        assert proto is not None and proto.transport is not None
        proto.req, proto.tail = FloorRequest(), b""
        proto.done = asyncio.get_running_loop().create_future()
        proto.transport.write(raw)
        proto.req.t_sent = time.perf_counter_ns()
        await proto.done
        return proto.req

    def close(self) -> None:
        if self.proto is not None and self.proto.transport is not None:
            self.proto.transport.close()


def raw_request(base_url: str, body: dict[str, Any]) -> tuple[str, int, bytes]:
    """(host, port, the request's bytes) for ``POST {base_url}/chat/completions``."""
    u = urlsplit(base_url)
    payload = json.dumps(body, separators=(",", ":")).encode()
    head = (f"POST {u.path}/chat/completions HTTP/1.1\r\nHost: {u.hostname}:{u.port}\r\n"
            f"Content-Type: application/json\r\nAccept: text/event-stream\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n").encode()
    return u.hostname or "127.0.0.1", u.port or 80, head + payload


def parse_response(pieces: list[tuple[int, bytes]]) -> tuple[str, list[tuple[int, str]]]:
    """De-chunk, cut SSE events, and give each content event the arrival time of the read that completed it."""
    raw = b"".join(p for _, p in pieces)
    ends, n = [], 0
    for _, p in pieces:
        n += len(p)
        ends.append(n)

    def t_at(raw_offset: int) -> int:            # the read that holds byte raw_offset
        return pieces[bisect.bisect_right(ends, raw_offset)][0]

    head_end = raw.index(b"\r\n\r\n") + 4
    rid = ""
    for line in raw[:head_end].decode("latin-1").split("\r\n"):
        name, _, value = line.partition(":")
        if name.strip().lower() == "x-sim-request-id":
            rid = value.strip()
    body, where = bytearray(), []                 # where: (body offset, raw offset) of each chunk's data
    pos = head_end
    while True:
        eol = raw.index(b"\r\n", pos)
        size = int(raw[pos:eol].split(b";")[0], 16)
        if size == 0:
            break
        where.append((len(body), eol + 2))
        body += raw[eol + 2:eol + 2 + size]
        pos = eol + 2 + size + 2
    starts = [b for b, _ in where]

    def raw_of(body_offset: int) -> int:
        i = bisect.bisect_right(starts, body_offset) - 1
        return where[i][1] + body_offset - where[i][0]

    out: list[tuple[int, str]] = []
    pos, bbody = 0, bytes(body)
    while True:
        end = bbody.find(b"\n\n", pos)
        if end < 0:
            break
        event = bbody[pos:end].decode()
        t = t_at(raw_of(end + 1))
        pos = end + 2
        for line in event.split("\n"):
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                continue
            obj = json.loads(data)
            choices = obj.get("choices") or [{}]
            delta = (choices[0].get("delta") or {}) if choices else {}
            piece = (delta.get("content") or "") + (delta.get("reasoning_content") or delta.get("reasoning") or "")
            if piece:
                out.append((t, piece))
    return rid, out
