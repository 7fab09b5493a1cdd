"""The one shared aiohttp session, with request-side timestamps from aiohttp's tracing hooks."""
from __future__ import annotations

import time
from dataclasses import dataclass
from types import SimpleNamespace

import aiohttp

from .. import __version__

USER_AGENT = f"tokenrace/{__version__}"


@dataclass
class RequestTiming:
    """Filled in by the trace hooks while one request is sent (all perf_counter_ns)."""

    t_queued_ns: int
    t_conn_start_ns: int = 0
    t_conn_end_ns: int = 0
    t_conn_ready_ns: int = 0     # a connection (new or pooled) is ours: sending can start
    t_sent_ns: int = 0           # headers and body written
    reused: bool = False

    @property
    def connect_ns(self) -> int:
        if self.reused or not self.t_conn_end_ns:
            return 0
        return self.t_conn_end_ns - self.t_conn_start_ns


def _ctx(trace_ctx: SimpleNamespace) -> RequestTiming | None:
    t = trace_ctx.trace_request_ctx
    return t if isinstance(t, RequestTiming) else None


async def _on_create_start(session: aiohttp.ClientSession, trace_ctx: SimpleNamespace, params: object) -> None:
    if t := _ctx(trace_ctx):
        t.t_conn_start_ns = time.perf_counter_ns()


async def _on_create_end(session: aiohttp.ClientSession, trace_ctx: SimpleNamespace, params: object) -> None:
    if t := _ctx(trace_ctx):
        t.t_conn_end_ns = t.t_conn_ready_ns = time.perf_counter_ns()


async def _on_reuse(session: aiohttp.ClientSession, trace_ctx: SimpleNamespace, params: object) -> None:
    if t := _ctx(trace_ctx):
        t.reused = True
        t.t_conn_ready_ns = time.perf_counter_ns()


async def _on_sent(session: aiohttp.ClientSession, trace_ctx: SimpleNamespace, params: object) -> None:
    # headers_sent and every body chunk: the last call is the moment the request was fully written
    if t := _ctx(trace_ctx):
        t.t_sent_ns = time.perf_counter_ns()


def trace_config() -> aiohttp.TraceConfig:
    tc = aiohttp.TraceConfig()
    tc.on_connection_create_start.append(_on_create_start)
    tc.on_connection_create_end.append(_on_create_end)
    tc.on_connection_reuseconn.append(_on_reuse)
    tc.on_request_headers_sent.append(_on_sent)
    tc.on_request_chunk_sent.append(_on_sent)
    return tc


class HTTPClient:
    """Owns the one ``aiohttp.ClientSession`` (and its connection pool) every stream shares."""

    def __init__(self, *, limit: int = 0, limit_per_host: int = 0) -> None:
        self._limit, self._limit_per_host = limit, limit_per_host
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._limit, limit_per_host=self._limit_per_host,
                                             enable_cleanup_closed=True)
            # timeouts are per request (each provider has its own); none at session level
            self._session = aiohttp.ClientSession(
                connector=connector, trace_configs=[trace_config()],
                timeout=aiohttp.ClientTimeout(total=None),
                headers={"User-Agent": USER_AGENT},
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def __aenter__(self) -> "HTTPClient":
        _ = self.session
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
