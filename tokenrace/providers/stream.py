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

from ..config.models import ProviderConfig, Secret
from ..errors import TokenraceError
from ..events import FinishStatus, StreamEvent
from ..request import ChatRequest
from ..secrets import Redactor, sensitive_header
from .base import Adapter, drop_nulls, merge_params, short
from .emit import Emitter, now_ns
from .framing import frames_for
from .http import HTTPClient
from .keys import KeyCommandError, command_key
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
    params = merge_params(cfg, defaults or {}, req)
    resp: aiohttp.ClientResponse | None = None
    try:
        async with asyncio.timeout(cfg.timeout.total):
            try:
                adapter, prep = await _prepare(cfg, req, params, out, refresh=False)
            except (ValueError, TypeError, KeyCommandError) as e:
                out.fail(f"cannot build the request: {e}" if not isinstance(e, KeyCommandError) else str(e), "config")
                return

            async def new_key() -> Prepared:      # after a 401: one fresh key from api_key_command
                nonlocal adapter
                adapter, fresh = await _prepare(cfg, req, params, out, refresh=True)
                return fresh

            resp = await open_stream(client, cfg, adapter, prep, out, t_queued,
                                     on_unauthorized=new_key if cfg.api_key_command else None)
            if resp is not None:
                await _read_stream(resp, adapter, out, cfg)
    except asyncio.CancelledError:
        if resp is not None:
            resp.close()   # drop the connection: the provider stops generating for us
        out.finished(now_ns(), "cancelled", None)
        raise
    except TimeoutError:
        out.fail(f"not finished within the total timeout ({cfg.timeout.total:g} s)", "timeout")
    except Exception as e:  # a bug of ours must not stop the other providers
        log.error("unexpected error while streaming from %s: %s", cfg.name, out.clean(f"{type(e).__name__}: {e}"),
                  exc_info=True)
        out.fail(f"internal error: {type(e).__name__}: {e}", "internal")
    finally:
        if resp is not None and not resp.closed:
            resp.close()


async def _prepare(cfg: ProviderConfig, req: ChatRequest, params: dict[str, Any], out: Emitter, *,
                   refresh: bool) -> tuple[Adapter, Prepared]:
    """The adapter and the bytes to send (a key from ``api_key_command`` first, when configured)."""
    if cfg.api_key_command:
        key = await command_key(cfg.api_key_command, refresh=refresh)
        out.red.add(key)                      # redacted from here on, like any configured key
        cfg = dataclasses.replace(cfg, api_key=Secret(key))
    adapter = make_adapter(cfg)
    send, nulls = drop_nulls(params)
    http_req = adapter.build_request(req, send)
    if nulls and isinstance(http_req.json, dict):      # `stream_options: null` takes the adapter's default away
        for key in nulls:
            http_req.json.pop(key, None)
    body = None if http_req.json is None else json.dumps(http_req.json, ensure_ascii=False,
                                                          separators=(",", ":")).encode()
    headers = adapter.sign(http_req.method, http_req.url, dict(http_req.headers, Accept=http_req.accept), body)
    for name, value in headers.items():      # a signature's session token is a secret too
        if sensitive_header(name):
            out.red.add(value)
    tmo = cfg.timeout
    return adapter, Prepared(http_req, body, headers,
                             aiohttp.ClientTimeout(total=None, connect=tmo.connect, sock_connect=tmo.connect,
                                                   sock_read=tmo.read))


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
    conn = resp.connection
    if conn is not None and conn.protocol is not None:
        # the idle watch below is the read timeout from here on (it counts events, a stricter test than
        # aiohttp's bytes): without aiohttp's own, no timer is re-armed on every chunk received
        conn.protocol.read_timeout = None
    frames = frames_for(adapter, out.red if out.red else None)
    feed, parse = frames.feed, frames.parse
    broken = partial = False
    try:
        async with asyncio.timeout(None) as idle_timeout:
            watch = _IdleWatch(cfg.timeout.read, idle_timeout)
            seen = 0
            try:
                async for chunk in resp.content.iter_any():
                    t = now_ns()   # arrival time, before any parsing
                    items = feed(chunk)
                    if frames.progress != seen:
                        watch.last, seen = t, frames.progress
                    for item in items:
                        verdict = _apply_all(parse(item), t, out, adapter)
                        if verdict is not None:
                            await _end(verdict, t, resp, out, adapter)
                            return
            finally:
                watch.cancel()
        t_end = now_ns()
        last, partial = frames.close()
        for item in last:
            verdict = _apply_all(parse(item), t_end, out, adapter)
            if verdict is not None:
                await _end(verdict, t_end, resp, out, adapter)
                return
    except TimeoutError:
        out.fail(f"no complete event for {cfg.timeout.read:g} s mid-stream (read timeout); text so far kept",
                 "timeout")
        return
    except aiohttp.SocketTimeoutError:
        out.fail(f"no data for {cfg.timeout.read:g} s mid-stream (read timeout); text so far kept", "timeout")
        return
    except TokenraceError as e:             # SSE line over the cap, a broken event-stream frame
        out.fail(str(e), "protocol")
        return
    except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError) as e:
        log.debug("%s: stream ended early: %s", cfg.name, out.clean(str(e)))
        broken = True
    t_end = now_ns()
    status: FinishStatus = "truncated"
    if adapter.completed and not broken and not partial:
        status = "ok"    # the kind's terminal event came (or, custom sse without a sentinel, a clean close)
    elif adapter.finish_reason and not broken and not partial:
        # a finish reason is a terminal signal: the answer is complete though the sentinel never came
        out.notice(f"the stream closed after finish reason {adapter.finish_reason!r} without "
                   f"{adapter.terminal_hint}", t_end)
        status = "ok"
    out.finished(t_end, status, adapter.finish_reason)


async def _end(verdict: Done | StreamError, t: int, resp: aiohttp.ClientResponse, out: Emitter, adapter: Adapter) -> None:
    if isinstance(verdict, StreamError):
        out.fail(f"error after the stream started: {verdict.message}", "stream", t_ns=t)
        return
    out.finished(t, "ok", adapter.finish_reason)
    await _drain(resp)


async def _drain(resp: aiohttp.ClientResponse) -> None:
    """Read what follows the terminal event so the connection can go back to the pool."""
    content = resp.content
    if content.at_eof():          # the body's end came with the terminal event: nothing to wait for
        resp.release()
        return
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
            out.usage(t, part.input_tokens, part.output_tokens, part.reasoning_tokens, part.reasoning_included,
                      part.cached_input_tokens)
        elif type(part) is Finish:
            adapter.finish_reason = part.reason
        elif type(part) is Oddity:
            out.notice(part.message, t)
        elif type(part) is Done or type(part) is StreamError:
            return part
    return None
