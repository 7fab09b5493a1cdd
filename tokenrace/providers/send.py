"""Sending one provider request: retries before any output, same-origin redirects only, HTTP errors.

Credentials never go to another origin: aiohttp, following a redirect to another host, strips only
``Authorization`` and ``Cookie`` (an ``x-api-key``, ``api-key`` or any configured secret header would
go along). So redirects are followed here, by hand, and only within the origin the key was meant for
(scheme, host and port); any other is a clear error that names the target origin.
"""
from __future__ import annotations

import asyncio
import logging
import random
import socket
from dataclasses import dataclass
from typing import Awaitable, Callable, Mapping

import aiohttp
from yarl import URL

from ..config.models import ProviderConfig
from .base import Adapter, HTTPRequest
from .emit import Emitter, now_ns
from .http import HTTPClient, RequestTiming

log = logging.getLogger("tokenrace.providers")

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504, 529})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
MAX_RETRY_WAIT_S = 60.0
MAX_ERROR_BODY = 64 * 1024
_CONNECT_ERRORS = (aiohttp.ClientConnectorError, aiohttp.ServerDisconnectedError,
                   aiohttp.ConnectionTimeoutError, aiohttp.ClientOSError)
# a name that does not exist will not exist a second later; a resolver hiccup (EAI_AGAIN) may pass
_DNS_NAME_ERRORS = frozenset(e for e in (getattr(socket, "EAI_NONAME", None), getattr(socket, "EAI_NODATA", None),
                                         getattr(socket, "EAI_FAIL", None)) if e is not None)


def backoff_s(attempt: int, rng: random.Random = random.Random()) -> float:
    """0.5 s, 1 s, 2 s ... capped at 8 s, with +/-25 % jitter (as the official SDKs do)."""
    return float(min(8.0, 0.5 * 2 ** (attempt - 1)) * rng.uniform(0.75, 1.25))


def origin(url: URL) -> str:
    return f"{url.scheme}://{url.host}:{url.port}"


@dataclass(frozen=True)
class Prepared:
    """What is sent on every attempt: the adapter's request as bytes and headers."""

    request: HTTPRequest
    body: bytes | None
    headers: Mapping[str, str]
    timeout: aiohttp.ClientTimeout


class _CrossOrigin(Exception):
    def __init__(self, status: int, target: URL) -> None:
        super().__init__(status, target)
        self.status, self.target = status, target


async def read_error_body(resp: aiohttp.ClientResponse) -> str:
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


def request_id(headers: Mapping[str, str]) -> str:
    # the simulator's id first: tests match it to the simulator's truth (no real provider sends it)
    for h in ("x-sim-request-id", "x-request-id", "request-id", "x-amzn-requestid", "apim-request-id"):
        if v := headers.get(h):
            return v
    return ""


async def _request(client: HTTPClient, prep: Prepared, timing: RequestTiming) -> aiohttp.ClientResponse:
    """One attempt, following same-origin redirects (method and body kept, except 303 -> GET)."""
    req = prep.request
    method, url, body = req.method, URL(req.url, encoded=req.encoded), prep.body
    home = origin(url)
    for _ in range(MAX_REDIRECTS + 1):
        resp = await client.session.request(method, url, data=body, headers=prep.headers, timeout=prep.timeout,
                                            trace_request_ctx=timing, allow_redirects=False)
        location = resp.headers.get("Location")
        if resp.status not in REDIRECT_STATUSES or not location:
            return resp
        target = url.join(URL(location))
        resp.release()
        if origin(target) != home:
            raise _CrossOrigin(resp.status, target)
        if resp.status == 303:
            method, body = "GET", None
        url = target
    return resp          # still a redirect after MAX_REDIRECTS hops: reported as an HTTP error


async def open_stream(client: HTTPClient, cfg: ProviderConfig, adapter: Adapter, prep: Prepared, out: Emitter,
                      t_queued: int, *, on_unauthorized: Callable[[], Awaitable[Prepared]] | None = None
                      ) -> aiohttp.ClientResponse | None:
    """The 2xx response to read, after retries; None when the stream failed (its ``Failed`` was emitted).

    ``on_unauthorized`` (a key from ``api_key_command``) is asked once for a fresh request after a 401.
    """
    tmo = cfg.timeout
    attempt = 0
    while True:
        attempt += 1
        out.attempt = attempt
        timing = RequestTiming(t_queued_ns=t_queued if attempt == 1 else now_ns())
        t_call = now_ns()
        try:
            resp = await _request(client, prep, timing)
        except _CrossOrigin as e:
            out.fail(f"answered {e.status}, a redirect to {origin(e.target)}; not followed: the key is only sent "
                     f"to {origin(URL(prep.request.url))} (set base_url to the new address if you trust it)",
                     "http", http_status=e.status)
            return None
        except aiohttp.ClientConnectorDNSError as e:
            msg = _connect_message(e, tmo.connect)
            if getattr(e.os_error, "errno", None) in _DNS_NAME_ERRORS:
                out.fail(msg + " (the name does not resolve; check base_url)", "connect")
                return None
            if not await _retry(out, cfg, attempt, msg, backoff_s(attempt)):
                out.fail(msg, "connect")
                return None
            continue
        except _CONNECT_ERRORS as e:
            msg = _connect_message(e, tmo.connect)
            if not await _retry(out, cfg, attempt, msg, backoff_s(attempt)):
                out.fail(msg, "connect")
                return None
            continue
        except aiohttp.SocketTimeoutError:
            out.fail(f"no response headers within the read timeout ({tmo.read:g} s)", "timeout")
            return None
        t_headers = now_ns()
        out.started(timing.t_sent_ns or t_call, model=cfg.model, t_queued_ns=timing.t_queued_ns,
                    connect_ns=timing.connect_ns, reused=timing.reused, attempt=attempt,
                    t_send_start_ns=timing.t_conn_ready_ns or t_call)
        out.headers(t_headers, resp.status, resp.headers.get("Content-Type", ""), request_id(resp.headers))
        if resp.status < 300:
            return resp
        text = out.clean(await read_error_body(resp))      # redacted before any cut
        resp.release()
        if resp.status == 401 and on_unauthorized is not None:
            out.notice("401 unauthorized: taking a fresh key from api_key_command and trying again")
            prep, on_unauthorized = await on_unauthorized(), None
            continue
        msg, retry_after = adapter.http_error(resp.status, text, resp.headers)
        if retry_after is not None:
            msg += f", retry after {retry_after:g} s"
        wait = retry_after if retry_after is not None else backoff_s(attempt)
        if resp.status in RETRY_STATUSES and wait <= MAX_RETRY_WAIT_S and await _retry(out, cfg, attempt, msg, wait):
            continue
        out.fail(msg, "http", http_status=resp.status, retry_after_s=retry_after)
        return None


async def _retry(out: Emitter, cfg: ProviderConfig, attempt: int, msg: str, wait: float) -> bool:
    """Wait and say so when another attempt is allowed; False when the retries are used up."""
    if attempt > cfg.retries:
        return False
    out.notice(f"{msg}; retrying in {wait:.1f} s (attempt {attempt + 1} of {cfg.retries + 1})")
    await asyncio.sleep(wait)
    return True


def _connect_message(e: Exception, connect_s: float) -> str:
    if isinstance(e, aiohttp.ConnectionTimeoutError):
        return f"could not connect within {connect_s:g} s"
    if isinstance(e, aiohttp.ServerDisconnectedError):
        return "the server closed the connection before answering"
    if isinstance(e, aiohttp.ClientConnectorError):
        return f"cannot connect to {e.host}:{e.port} ({e.os_error.strerror or e.os_error})"
    return f"connection error: {e}"
