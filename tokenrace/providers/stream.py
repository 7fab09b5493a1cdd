"""One provider, one request: HTTP -> decoder -> adapter -> timestamped, redacted events.

``stream_provider`` never raises for a provider's fault: every failure becomes a ``Failed`` event
whose message names the provider, and the text already received stays in the events before it.
Only ``CancelledError`` propagates, after a ``Finished(cancelled)``.

The idle-read timeout counts complete events (and SSE comment lines, the usual heartbeats), not
bytes: a server that drips one byte a second never completes an event and is cut after
``timeout.read`` seconds, not held until the total timeout.
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from typing import Any, Callable, Iterable, Mapping

import aiohttp

from ..config.models import ProviderConfig
from ..errors import SSEError
from ..events import FinishStatus, StreamEvent
from ..request import ChatRequest
from ..secrets import Redactor
from ..sse import NDJSONDecoder, SSEDecoder, SSEEvent
from .base import Adapter, merge_params, short
from .emit import Emitter, now_ns
from .http import HTTPClient
from .parts import Done, Finish, Oddity, Part, Reasoning, StreamError, Text, UsageReport
from .registry import make_adapter
from .send import Prepared, open_stream, read_error_body

log = logging.getLogger("tokenrace.providers")


async def stream_provider(client: HTTPClient, cfg: ProviderConfig, req: ChatRequest,
                          emit: Callable[[StreamEvent], None], *,
                          defaults: Mapping[str, Any] | None = None,
                          t_queued_ns: int | None = None, redactor: Redactor | None = None) -> None:
    out = Emitter(cfg.name, emit, redactor)
    t_queued = t_queued_ns or now_ns()
    if cfg.unavailable:
        out.fail(cfg.unavailable, "config")
        return
    try:
        adapter = make_adapter(cfg)
        http_req = adapter.build_request(req, merge_params(cfg, defaults or {}, req))
        body = None if http_req.json is None else json.dumps(http_req.json, ensure_ascii=False,
                                                              separators=(",", ":")).encode()
    except (ValueError, TypeError) as e:
        out.fail(f"cannot build the request: {e}", "config")
        return
    tmo = cfg.timeout
    prep = Prepared(http_req, body, dict(http_req.headers, Accept=http_req.accept),
                    aiohttp.ClientTimeout(total=None, connect=tmo.connect, sock_connect=tmo.connect,
                                          sock_read=tmo.read))
    resp: aiohttp.ClientResponse | None = None
    try:
        async with asyncio.timeout(tmo.total):
            resp = await open_stream(client, cfg, adapter, prep, out, t_queued)
            if resp is not None:
                await _read_stream(resp, adapter, out, cfg)
    except asyncio.CancelledError:
        if resp is not None:
            resp.close()   # drop the connection: the provider stops generating for us
        out.finished(now_ns(), "cancelled", None)
        raise
    except TimeoutError:
        out.fail(f"not finished within the total timeout ({tmo.total:g} s)", "timeout")
    except Exception as e:  # a bug of ours must not stop the other providers
        log.error("unexpected error while streaming from %s: %s", cfg.name, out.clean(f"{type(e).__name__}: {e}"),
                  exc_info=True)
        out.fail(f"internal error: {type(e).__name__}: {e}", "internal")
    finally:
        if resp is not None and not resp.closed:
            resp.close()


class _IdleWatch:
    """Expires ``timeout`` when no complete event or comment arrived for ``seconds``.

    One timer, re-armed only when it fires early: marking progress is one attribute store.
    """

    __slots__ = ("ns", "last", "timeout", "loop", "handle")

    def __init__(self, seconds: float, timeout: asyncio.Timeout) -> None:
        self.ns = int(seconds * 1e9)
        self.last = now_ns()
        self.timeout = timeout
        self.loop = asyncio.get_running_loop()
        self.handle = self.loop.call_later(seconds, self._check)

    def _check(self) -> None:
        idle = now_ns() - self.last
        if idle >= self.ns:
            self.timeout.reschedule(self.loop.time())     # expires now: TimeoutError out of the block
        else:
            self.handle = self.loop.call_later((self.ns - idle) / 1e9, self._check)

    def cancel(self) -> None:
        self.handle.cancel()


async def _read_stream(resp: aiohttp.ClientResponse, adapter: Adapter, out: Emitter, cfg: ProviderConfig) -> None:
    ctype = resp.headers.get("Content-Type", "").lower()
    if ctype.startswith("application/json"):
        body = out.clean(await read_error_body(resp))
        out.fail(f"answered with application/json instead of a stream: {short(body, 200)}", "protocol")
        return
    sse = adapter.framing == "sse"
    sse_decoder = SSEDecoder() if sse else None
    nd_decoder = None if sse else NDJSONDecoder()
    red = out.red if out.red else None
    broken = False
    try:
        async with asyncio.timeout(None) as idle_timeout:
            watch = _IdleWatch(cfg.timeout.read, idle_timeout)
            comments = 0
            try:
                async for chunk in resp.content.iter_any():
                    t = now_ns()   # arrival time, before any parsing
                    if sse_decoder is not None:
                        events = sse_decoder.feed(chunk)
                        if events or sse_decoder.comments != comments:
                            watch.last, comments = t, sse_decoder.comments
                        for ev in events:
                            if red is not None:
                                ev = _clean_event(ev, red)
                            verdict = _apply_all(adapter.parse_event(ev), t, out, adapter)
                            if verdict is not None:
                                await _end(verdict, t, resp, out, adapter)
                                return
                    else:
                        assert nd_decoder is not None
                        lines = nd_decoder.feed(chunk)
                        if lines:
                            watch.last = t
                        for line in lines:
                            verdict = _apply_all(adapter.parse_line(red.text(line) if red else line), t, out, adapter)
                            if verdict is not None:
                                await _end(verdict, t, resp, out, adapter)
                                return
            finally:
                watch.cancel()
        if nd_decoder is not None:          # a last line without its newline
            t_end = now_ns()
            for line in nd_decoder.close():
                verdict = _apply_all(adapter.parse_line(red.text(line) if red else line), t_end, out, adapter)
                if verdict is not None:
                    await _end(verdict, t_end, resp, out, adapter)
                    return
        elif sse_decoder is not None:
            sse_decoder.close()             # an event without its blank line is discarded
    except TimeoutError:
        out.fail(f"no complete event for {cfg.timeout.read:g} s mid-stream (read timeout); text so far kept",
                 "timeout")
        return
    except aiohttp.SocketTimeoutError:
        out.fail(f"no data for {cfg.timeout.read:g} s mid-stream (read timeout); text so far kept", "timeout")
        return
    except SSEError as e:
        out.fail(str(e), "protocol")
        return
    except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError) as e:
        log.debug("%s: stream ended early: %s", cfg.name, out.clean(str(e)))
        broken = True
    # ok only for kinds whose stream simply ends when it is done (custom sse without a sentinel),
    # and only when the body ended properly
    status: FinishStatus = "ok" if adapter.completed and not broken else "truncated"
    out.finished(now_ns(), status, adapter.finish_reason)


def _clean_event(ev: SSEEvent, red: Redactor) -> SSEEvent:
    data = red.text(ev.data)
    return ev if data is ev.data else dataclasses.replace(ev, data=data)


async def _end(verdict: Done | StreamError, t: int, resp: aiohttp.ClientResponse, out: Emitter, adapter: Adapter) -> None:
    if isinstance(verdict, StreamError):
        out.fail(f"error after the stream started: {verdict.message}", "stream", t_ns=t)
        return
    out.finished(t, "ok", adapter.finish_reason)
    await _drain(resp)


async def _drain(resp: aiohttp.ClientResponse) -> None:
    """Read what follows the terminal event so the connection can go back to the pool."""
    try:
        async with asyncio.timeout(1.0):
            await resp.read()
        resp.release()
    except Exception:
        resp.close()


def _apply_all(parts: Iterable[Part], t: int, out: Emitter, adapter: Adapter) -> Done | StreamError | None:
    """Turn an adapter's parts into events; the ``Done`` or ``StreamError`` that ends the stream, if any."""
    for part in parts:
        if type(part) is Text:
            out.text(t, part.text)
        elif type(part) is Reasoning:
            out.reasoning(t, part.text)
        elif type(part) is UsageReport:
            out.usage(t, part.input_tokens, part.output_tokens, part.reasoning_tokens, part.reasoning_included)
        elif type(part) is Finish:
            adapter.finish_reason = part.reason
        elif type(part) is Oddity:
            out.notice(part.message, t)
        elif type(part) is Done or type(part) is StreamError:
            return part
    return None
