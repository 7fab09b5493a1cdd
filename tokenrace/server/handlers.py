"""The JSON API (and the page). Every error is ``{"error": "..."}`` with a 4xx/5xx status."""
from __future__ import annotations

import asyncio
import json
import logging
import os
from urllib.parse import urlencode
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from tornado import escape, web
from tornado.http1connection import HTTP1Connection

from .auth import COOKIE, Access
from ..runrequest import RequestError
from ..thread import thread_json, thread_markdown
from .body import BodyError, parse_json
from .ratelimit import RateLimiter
from .runs import RunManager

if TYPE_CHECKING:
    from .app import ServerSettings

log = logging.getLogger("tokenrace.server")

DASHBOARD = Path(__file__).resolve().parent.parent / "dashboard"
# the page loads only its own files; model output it renders can neither run script nor fetch anything
PAGE_CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
            "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
PLACEHOLDER = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tokenrace</title></head>
<body><h1>tokenrace</h1><p>The server is running. The page is not installed;
the API is under <code>/api/</code> (<a href="/api/providers">providers</a>,
<a href="/api/runs">runs</a>).</p></body></html>
"""
# A refused body (413, 429, 401 ...) is answered at once, then read and thrown away for at most this
# long and this many times max_body_bytes, before the connection is closed: closing on unread input
# would reset the connection, and the client could lose the answer.
LINGER_S = 5.0
LINGER_BODIES = 16


def request_summary(handler: web.RequestHandler) -> str:
    """What tornado's own log lines say about a request: the path, never the query (?token=)."""
    r = handler.request
    return f"{r.method} {r.path} ({r.remote_ip})"


class BaseHandler(web.RequestHandler):
    """Dependencies come through ``initialize``; access is checked in ``prepare``."""

    auth_required = True

    def initialize(self, manager: RunManager, access: Access, settings: "ServerSettings",
                   limiter: RateLimiter | None = None) -> None:
        self.manager, self.access, self.cfg, self.limiter = manager, access, settings, limiter
        self.sse: Any = None       # an SSEWriter while this request streams

    def set_default_headers(self) -> None:
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "no-referrer")
        self.set_header("Cache-Control", "no-store")

    def prepare(self) -> None:
        origin = self.request.headers.get("Origin")
        for k, v in self.access.cors_headers(origin).items():
            self.set_header(k, v)
        if not self.auth_required or self.request.method == "OPTIONS":
            return
        query_token = self.get_query_argument("token", None)
        denied = self.access.check(self.request.method, self.request.headers,
                                   self.get_cookie(COOKIE), query_token)
        if denied is not None:
            self.send_error_json(*denied)
            return
        if self.access.required and query_token and self.access.token_ok(query_token):
            self.set_cookie(COOKIE, query_token, httponly=True, samesite="Strict", path="/")

    def options(self, *args: Any) -> None:
        if not self.access.cors_headers(self.request.headers.get("Origin")):
            self.send_error_json(403, "cross-origin requests are not allowed (serve --allow-origin)")
            return
        self.set_status(204)
        self.finish()

    # -- JSON helpers ----------------------------------------------------------------------
    def send_json(self, obj: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(obj, ensure_ascii=False, separators=(",", ":")))

    def send_error_json(self, status: int, message: str) -> None:
        self.clear_header("Content-Type")
        self.send_json({"error": message}, status)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, web.HTTPError) and exc.log_message and status_code < 500:
            message = exc.log_message % exc.args if exc.args else exc.log_message
        elif status_code == 405:
            message = f"{self.request.method} is not allowed here"
        elif status_code == 404:
            message = f"nothing at {self.request.path}"
        else:
            message = self._reason if status_code < 500 else "internal server error (see the server log)"
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps({"error": message}, ensure_ascii=False))

    def _request_summary(self) -> str:
        return request_summary(self)

    def log_exception(self, typ, value, tb) -> None:      # the URI may carry ?token=
        if isinstance(value, web.HTTPError):
            if value.log_message and value.status_code >= 500:
                log.warning("%d %s %s", value.status_code, self.request.method, self.request.path)
        else:
            log.error("uncaught exception in %s %s", self.request.method, self.request.path,
                      exc_info=(typ, value, tb))

    def on_connection_close(self) -> None:
        super().on_connection_close()       # a streamed body's reader stops waiting
        if self.sse is not None:
            self.sse.client_closed()

    def too_large(self, size: int | None = None) -> str:
        has = f"has {size} bytes" if size is not None else "has more bytes than that"
        return f"the request body {has}; the limit is {self.cfg.max_body_bytes} (serve --max-body-bytes)"

    def request_body(self) -> bytes:
        return self.request.body

    def read_json(self) -> Any:
        """The body as JSON (finite numbers, bounded nesting) or :class:`BodyError`."""
        body = self.request_body()
        if len(body) > self.cfg.max_body_bytes:
            raise BodyError(413, self.too_large(len(body)))
        return parse_json(body)

    def last_event_id(self) -> str | None:
        return self.request.headers.get("Last-Event-ID") or self.get_query_argument("last_event_id", None)

    def wants_stream(self) -> bool:
        return "text/event-stream" in self.request.headers.get("Accept", "")


def run_view(run: dict) -> dict:
    """The API shape of a run: ``providers`` as names, ``provider_details`` as public dicts."""
    out = dict(run)
    details = run.get("providers") or []
    out["providers"] = [p["name"] if isinstance(p, dict) else p for p in details]
    if "results" in run:
        out["provider_details"] = details
    return out


# what the history list shows of each run's results (a bench run's thousands of results are left out)
FIGURE_KEYS = ("provider", "status", "ttft_ms", "tokens_per_s", "output_tokens", "token_source", "cost_usd",
               "cost_estimated")


def run_figures(results: list[dict]) -> list[dict]:
    return [{k: r.get(k) for k in FIGURE_KEYS} for r in results]


class HealthHandler(BaseHandler):
    auth_required = False

    def get(self) -> None:
        self.send_json({"ok": True, "runs": len(self.manager.runs), "closing": self.manager.closing,
                        "pid": os.getpid()})


class ProvidersHandler(BaseHandler):
    def get(self) -> None:
        self.send_json(self.manager.providers_public())


class LimitsHandler(BaseHandler):
    """``GET /api/limits``: what one request may hold, so the page can say so before it sends one (the
    server still checks every request)."""

    def get(self) -> None:
        lim = self.manager.limits
        self.send_json({"max_prompt_chars": lim.max_prompt_chars, "max_providers": lim.max_providers,
                        "max_tokens": lim.max_tokens, "max_body_bytes": self.cfg.max_body_bytes})


@web.stream_request_body
class RunsHandler(BaseHandler):
    """The body is streamed in: a body past ``max_body_bytes`` gets the JSON 413 at any size (by its
    Content-Length, or once a chunked one passes the limit) without being held in memory."""

    def initialize(self, *args: Any, **kw: Any) -> None:
        super().initialize(*args, **kw)
        self._body = bytearray()
        self._early = False                  # in prepare: answers go out before the body is read
        self._refused = False                # answered early; the rest of the body is thrown away
        self._drained = 0
        self._linger: asyncio.TimerHandle | None = None
        # tornado's own cap would answer a bare 400 with no body: the limit is enforced here instead
        cast(HTTP1Connection, self.request.connection).set_max_body_size(1 << 62)

    def prepare(self) -> None:
        self._early = True
        try:
            super().prepare()
            if self._finished or self._refused:
                return
            if self.request.method == "POST" and self.limiter is not None:
                wait = self.limiter.wait(self.request.remote_ip or "")
                if wait > 0:
                    retry = self.limiter.retry_after(wait)
                    per_minute = round(self.limiter.rate * 60, 2)
                    self.set_header("Retry-After", str(retry))
                    self.send_error_json(429, f"too many runs started from {self.request.remote_ip}: at most "
                                              f"{per_minute:g} a minute (serve --max-runs-per-minute); "
                                              f"retry in {retry} s")
                    return
            length = self.request.headers.get("Content-Length", "")
            if length.isdigit() and int(length) > self.cfg.max_body_bytes:
                self.send_error_json(413, self.too_large(int(length)))
        finally:
            self._early = False

    def send_error_json(self, status: int, message: str) -> None:
        if self._early:
            self._answer_early(status, message)
        elif not self._finished and not self._refused:
            super().send_error_json(status, message)

    def _answer_early(self, status: int, message: str) -> None:
        """Answer before the body is read, then drain it (bounded) so the answer is not lost to a reset."""
        if self._early and self.request.headers.get("Expect") == "100-continue":
            # no 100 Continue went out (tornado sends it after prepare): the client sends no body
            self.set_header("Connection", "close")
            super().send_error_json(status, message)
            return
        data = json.dumps({"error": message}, ensure_ascii=False).encode()
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Content-Length", str(len(data)))
        self.write(data)
        self.flush()
        self._refused = True
        self._body = bytearray()
        self._linger = asyncio.get_running_loop().call_later(LINGER_S, self._stop_draining)

    def _stop_draining(self) -> None:
        if not self._finished:
            self.finish()                     # tornado closes the connection: the body was not all read

    def data_received(self, chunk: bytes) -> None:
        if self._refused:
            self._drained += len(chunk)
            if self._drained > LINGER_BODIES * self.cfg.max_body_bytes:
                self._stop_draining()
            return
        if len(self._body) + len(chunk) > self.cfg.max_body_bytes:
            self._answer_early(413, self.too_large())
            return
        self._body += chunk

    def request_body(self) -> bytes:
        return bytes(self._body)

    def on_connection_close(self) -> None:
        super().on_connection_close()
        if self._linger is not None and not self._finished:
            self._log()                       # answered early, then the client went: still an access line
        self._cancel_linger()

    def on_finish(self) -> None:
        self._cancel_linger()

    def _cancel_linger(self) -> None:
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None

    def options(self, *args: Any) -> None:
        if not self._refused:
            super().options(*args)

    async def get(self) -> None:
        if self._refused:
            return
        raw = self.get_query_argument("limit", "50")
        if not raw.isdigit() or not 1 <= int(raw) <= 1000:
            self.send_error_json(400, "limit must be an integer from 1 to 1000")
            return
        with_figures = self.get_query_argument("figures", "") in ("1", "true")
        runs = await self.manager.list_runs(int(raw))
        if with_figures:
            for r in runs:
                if r.get("source") != "bench" and r["id"] not in self.manager.runs:
                    full = await self.manager.describe(r["id"])
                    r["figures"] = run_figures(full["results"]) if full else []
        self.send_json([run_view(r) for r in runs])

    async def post(self) -> None:
        if self._refused:
            return
        try:
            run = await self.manager.create(self.read_json())
        except (RequestError, BodyError) as e:
            if e.status == 429:
                self.set_header("Retry-After", "5")
            self.send_error_json(e.status, e.message)
            return
        if self.limiter is not None:
            self.limiter.charge(self.request.remote_ip or "")
        self.set_header("Location", f"/api/runs/{run.id}")
        self.set_header("X-Run-Id", run.id)
        if self.wants_stream():
            from .sse_handler import SSEWriter
            channel = await self.manager.channel(run.id)
            assert channel is not None
            await SSEWriter(self).run(channel, None, None, status=201)
            return
        self.send_json({"id": run.id, "providers": [p.name for p in run.request.providers]}, 201)


class RunHandler(BaseHandler):
    async def get(self, run_id: str) -> None:
        run = await self.manager.describe(run_id)
        if run is None:
            self.send_error_json(404, f"no run {run_id!r}")
            return
        self.send_json(run_view(run))

    async def delete(self, run_id: str) -> None:
        if await self.manager.cancel_anywhere(run_id):
            self.send_json({"id": run_id, "status": "cancelling"}, 202)
            return
        stored = await self.manager.describe(run_id)
        if stored is None:
            self.send_error_json(404, f"no run {run_id!r}")
        else:
            self.send_error_json(409, f"run {run_id!r} is not running (status {stored['status']})")


class ThreadHandler(BaseHandler):
    """``GET /api/runs/{id}/thread``: the conversation that ends with the run, oldest turn first;
    ``?format=md`` (or ``json``) downloads it."""

    async def get(self, run_id: str) -> None:
        runs = await self.manager.thread(run_id)
        if not runs:
            self.send_error_json(404, f"no run {run_id!r}")
            return
        fmt = self.get_query_argument("format", "")
        if fmt == "md":
            self.set_header("Content-Type", "text/markdown; charset=utf-8")
            self.set_header("Content-Disposition", f'attachment; filename="tokenrace-thread-{run_id}.md"')
            self.finish(thread_markdown(runs))
            return
        if fmt not in ("", "json"):
            self.send_error_json(400, "format must be json or md")
            return
        if fmt == "json":
            self.set_header("Content-Disposition", f'attachment; filename="tokenrace-thread-{run_id}.json"')
        doc = thread_json(runs)
        doc["runs"] = [run_view(r) for r in doc["runs"]]
        self.send_json(doc)


class IndexHandler(BaseHandler):
    def get(self) -> None:
        if self.get_query_argument("token", None):       # the cookie is set: drop the token from the URL
            keep = [(k, v.decode()) for k, vs in self.request.query_arguments.items() if k != "token" for v in vs]
            self.redirect("/" + ("?" + urlencode(keep) if keep else ""))
            return
        page = DASHBOARD / "index.html"
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Content-Security-Policy", PAGE_CSP)
        self.finish(page.read_bytes() if page.is_file() else PLACEHOLDER)

    def send_error_json(self, status: int, message: str) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(f"<!doctype html><title>tokenrace</title><p>{escape.xhtml_escape(message)}</p>")


class StaticHandler(web.StaticFileHandler):
    """The page's files; tornado logs a refused path (403) with this summary."""

    def _request_summary(self) -> str:
        return request_summary(self)


class NotFoundHandler(BaseHandler):
    auth_required = False

    def prepare(self) -> None:
        self.send_error_json(404, f"nothing at {self.request.path}")
