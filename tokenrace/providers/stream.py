"""One provider, one request: HTTP -> decoder -> adapter -> timestamped events.

``stream_provider`` never raises for a provider's fault: every failure becomes a
``Failed`` event whose message names the provider, and the text already received stays
in the events before it. Only ``CancelledError`` propagates, after a ``Finished(cancelled)``.
"""
from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from typing import Any, Callable, Mapping

import aiohttp

from ..config.models import ProviderConfig
from ..errors import SSEError
from ..events import Failed, Finished, Headers, Notice, ReasoningDelta, Started, StreamEvent, TextDelta, Usage
from ..request import ChatRequest
from ..sse import NDJSONDecoder, SSEDecoder
from .base import Adapter, merge_params, short
from .http import HTTPClient, RequestTiming
from .registry import make_adapter

log = logging.getLogger("tokenrace.providers")

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504, 529})
MAX_RETRY_WAIT_S = 60.0
MAX_ERROR_BODY = 64 * 1024
_CONNECT_ERRORS = (aiohttp.ClientConnectorError, aiohttp.ServerDisconnectedError,
                   aiohttp.ConnectionTimeoutError, aiohttp.ClientOSError)
_now = time.perf_counter_ns


class _Out:
    """Stamps provider name and sequence number onto each event and hands it on."""

    __slots__ = ("name", "emit", "seq")

    def __init__(self, name: str, emit: Callable[[StreamEvent], None]) -> None:
        self.name, self.emit, self.seq = name, emit, 0

    def __call__(self, cls, t_ns: int, **kw: Any) -> None:
        self.seq += 1
        self.emit(cls(self.name, self.seq, t_ns, **kw))

    def fail(self, message: str, kind: str, **kw: Any) -> None:
        self(Failed, _now(), message=f"{self.name}: {message}", kind=kind, **kw)


def backoff_s(attempt: int, rng: random.Random = random.Random()) -> float:
    """0.5 s, 1 s, 2 s ... capped at 8 s, with +/-25 % jitter (as the official SDKs do)."""
    return min(8.0, 0.5 * 2 ** (attempt - 1)) * rng.uniform(0.75, 1.25)


async def _read_error_body(resp: aiohttp.ClientResponse) -> str:
    buf = bytearray()
    try:
        async with asyncio.timeout(5):
            while len(buf) < MAX_ERROR_BODY:
                piece = await resp.content.read(MAX_ERROR_BODY - len(buf))
                if not piece:
                    break
                buf += piece
    except (asyncio.TimeoutError, aiohttp.ClientError):
        pass
    return buf.decode("utf-8", "replace")


def _request_id(headers: Mapping[str, str]) -> str:
    for h in ("x-request-id", "request-id", "x-sim-request-id"):
        if v := headers.get(h):
            return v
    return ""


async def stream_provider(client: HTTPClient, cfg: ProviderConfig, req: ChatRequest,
                          emit: Callable[[StreamEvent], None], *,
                          defaults: Mapping[str, Any] | None = None,
                          t_queued_ns: int | None = None) -> None:
    out = _Out(cfg.name, emit)
    t_queued = t_queued_ns or _now()
    if cfg.unavailable:
        out.fail(cfg.unavailable, "config")
        return
    try:
        adapter = make_adapter(cfg)
        http_req = adapter.build_request(req, merge_params(cfg, defaults or {}, req))
        body = None if http_req.json is None else json.dumps(http_req.json, ensure_ascii=False, separators=(",", ":")).encode()
    except (ValueError, TypeError) as e:
        out.fail(f"cannot build the request: {e}", "config")
        return
    headers = dict(http_req.headers, Accept=http_req.accept)
    tmo = cfg.timeout
    req_timeout = aiohttp.ClientTimeout(total=None, connect=tmo.connect, sock_connect=tmo.connect,
                                        sock_read=tmo.read)
    resp: aiohttp.ClientResponse | None = None
    attempt = 0
    try:
        async with asyncio.timeout(tmo.total):
            while True:
                attempt += 1
                timing = RequestTiming(t_queued_ns=t_queued if attempt == 1 else _now())
                t_call = _now()
                try:
                    resp = await client.session.request(
                        http_req.method, http_req.url, data=body, headers=headers,
                        timeout=req_timeout, trace_request_ctx=timing, allow_redirects=True)
                except _CONNECT_ERRORS as e:
                    msg = _connect_message(e, tmo.connect)
                    if attempt <= cfg.retries:
                        wait = backoff_s(attempt)
                        out(Notice, _now(), message=f"{msg}; retrying in {wait:.1f} s (attempt {attempt + 1} of {cfg.retries + 1})")
                        await asyncio.sleep(wait)
                        continue
                    out.fail(msg, "connect")
                    return
                except aiohttp.SocketTimeoutError:
                    out.fail(f"no response headers within the read timeout ({tmo.read:g} s)", "timeout")
                    return
                t_headers = _now()
                t_sent = timing.t_sent_ns or t_call
                out(Started, t_sent, model=cfg.model, t_queued_ns=timing.t_queued_ns,
                    connect_ns=timing.connect_ns, reused=timing.reused, attempt=attempt,
                    t_send_start_ns=timing.t_conn_ready_ns or t_call)
                out(Headers, t_headers, status=resp.status,
                    content_type=resp.headers.get("Content-Type", ""), request_id=_request_id(resp.headers))
                if resp.status < 300:
                    break
                text = await _read_error_body(resp)
                resp.release()
                msg, retry_after = adapter.http_error(resp.status, text, resp.headers)
                if retry_after is not None:
                    msg += f", retry after {retry_after:g} s"
                wait = retry_after if retry_after is not None else backoff_s(attempt)
                if resp.status in RETRY_STATUSES and attempt <= cfg.retries and wait <= MAX_RETRY_WAIT_S:
                    out(Notice, _now(), message=f"{msg}; retrying in {wait:.1f} s (attempt {attempt + 1} of {cfg.retries + 1})")
                    await asyncio.sleep(wait)
                    continue
                out.fail(msg, "http", http_status=resp.status, retry_after_s=retry_after)
                return
            await _read_stream(resp, adapter, out, cfg)
    except asyncio.CancelledError:
        if resp is not None:
            resp.close()   # drop the connection: the provider stops generating for us
        out(Finished, _now(), status="cancelled", reason=None)
        raise
    except TimeoutError:
        out.fail(f"not finished within the total timeout ({tmo.total:g} s)", "timeout")
    except Exception as e:  # a bug of ours must not stop the other providers
        log.exception("unexpected error while streaming from %s", cfg.name)
        out.fail(f"internal error: {type(e).__name__}: {e}", "internal")
    finally:
        if resp is not None and not resp.closed:
            resp.close()


def _connect_message(e: Exception, connect_s: float) -> str:
    if isinstance(e, aiohttp.ConnectionTimeoutError):
        return f"could not connect within {connect_s:g} s"
    if isinstance(e, aiohttp.ServerDisconnectedError):
        return "the server closed the connection before answering"
    if isinstance(e, aiohttp.ClientConnectorError):
        return f"cannot connect to {e.host}:{e.port} ({e.os_error.strerror or e.os_error})"
    return f"connection error: {e}"


async def _read_stream(resp: aiohttp.ClientResponse, adapter: Adapter, out: _Out, cfg: ProviderConfig) -> None:
    sse = adapter.framing == "sse"
    decoder = SSEDecoder() if sse else NDJSONDecoder()
    parse = adapter.parse_event if sse else adapter.parse_line
    ctype = resp.headers.get("Content-Type", "").lower()
    if ctype.startswith("application/json"):
        body = await _read_error_body(resp)
        out.fail(f"answered with application/json instead of a stream: {short(body, 200)}", "protocol")
        return
    try:
        async for chunk in resp.content.iter_any():
            t = _now()   # arrival time, before any parsing
            for item in decoder.feed(chunk):
                for part in parse(item):
                    verdict = _apply(part, t, out, adapter)
                    if verdict is _STOP:
                        return
                    if verdict is _DONE:
                        out(Finished, t, status="ok", reason=adapter.finish_reason)
                        await _drain(resp)
                        return
        t_end = _now()
        for item in decoder.close():
            for part in parse(item):
                if _apply(part, t_end, out, adapter) is _STOP:
                    return
    except aiohttp.SocketTimeoutError:
        out.fail(f"no data for {cfg.timeout.read:g} s mid-stream (read timeout); text so far kept", "timeout")
        return
    except SSEError as e:
        out.fail(str(e), "protocol")
        return
    except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError) as e:
        log.debug("%s: stream ended early: %s", cfg.name, e)
        broken = True
    else:
        broken = False
    t_end = _now()
    # ok only for kinds whose stream simply ends when it is done (custom sse without a sentinel),
    # and only when the body ended properly
    status = "ok" if adapter.completed and not broken else "truncated"
    out(Finished, t_end, status=status, reason=adapter.finish_reason)


async def _drain(resp: aiohttp.ClientResponse) -> None:
    """Read what follows the terminal event so the connection can go back to the pool."""
    try:
        async with asyncio.timeout(1.0):
            await resp.read()
        resp.release()
    except Exception:
        resp.close()


_STOP, _DONE = object(), object()


def _apply(part: tuple, t: int, out: _Out, adapter: Adapter) -> object | None:
    """Turn one adapter part into an event; _STOP after an error, _DONE at the terminal event."""
    tag = part[0]
    if tag == "text":
        out(TextDelta, t, text=part[1])
    elif tag == "reasoning":
        out(ReasoningDelta, t, text=part[1])
    elif tag == "usage":
        out(Usage, t, **part[1])
    elif tag == "finish":
        adapter.finish_reason = part[1]
    elif tag == "notice":
        out(Notice, t, message=part[1])
    elif tag == "done":
        return _DONE
    elif tag == "error":
        out(Failed, t, message=f"{out.name}: error after the stream started: {part[1]}", kind="stream")
        return _STOP
    return None
