"""The Tornado application: settings, ``make_app`` and :class:`Server` (start, graceful stop).

    /healthz                                   GET
    /api/providers                             GET
    /api/limits                                GET  what one request may hold (prompt length, body size)
    /api/runs                                  GET (list; ?figures=1 adds each run's figures), POST (create; Accept: text/event-stream streams it)
    /api/runs/{id}                             GET, DELETE (cancel)
    /api/runs/{id}/events                      GET  SSE, all providers
    /api/runs/{id}/thread                      GET  the conversation ending with the run (?format=md|json)
    /api/runs/{id}/providers/{name}/events     GET  SSE, one provider
    /                                          the page (tokenrace/dashboard/index.html), /static/ its files
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from tornado import web
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from ..config.models import Config
from ..store import RunStore
from .auth import Access, is_loopback, new_token
from .handlers import (DASHBOARD, HealthHandler, IndexHandler, LimitsHandler, NotFoundHandler, ProvidersHandler, RunHandler,
                       RunsHandler, ThreadHandler)
from .hub import Hub, HubLimits
from ..runrequest import Limits
from .runs import RunManager
from .sse_handler import RunEventsHandler

log = logging.getLogger("tokenrace.server")
_RUN = r"([A-Za-z0-9_.-]{1,80})"
_NAME = r"([^/]{1,200})"


@dataclass
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8765
    token: str | None = None               # None on loopback: no token; elsewhere one is generated
    allow_origins: tuple[str, ...] = ()
    max_body_bytes: int = 1024 * 1024
    max_prompt_chars: int = 100_000
    max_providers: int = 16
    max_concurrent_runs: int = 8
    heartbeat_s: float = 15.0
    retry_ms: int = 2000
    flush_timeout_s: float = 10.0
    write_chunk_bytes: int = 64 * 1024
    metrics_interval_s: float = 0.25
    hub: HubLimits = field(default_factory=HubLimits)

    def limits(self) -> Limits:
        return Limits(max_prompt_chars=self.max_prompt_chars, max_providers=self.max_providers,
                      metrics_interval_s=self.metrics_interval_s)


def _log_request(handler: web.RequestHandler) -> None:
    """Access log without the query string (it may hold ?token=)."""
    status = handler.get_status()
    level = logging.DEBUG if status < 400 else logging.INFO
    if log.isEnabledFor(level):
        log.log(level, "%d %s %s %.1f ms", status, handler.request.method, handler.request.path,
                1000.0 * handler.request.request_time())


def make_app(manager: RunManager, access: Access, settings: ServerSettings) -> web.Application:
    deps: dict[str, Any] = dict(manager=manager, access=access, settings=settings)
    routes: list[tuple[str, type[web.RequestHandler], dict[str, Any]]] = [
        (r"/healthz", HealthHandler, deps),
        (r"/api/providers", ProvidersHandler, deps),
        (r"/api/limits", LimitsHandler, deps),
        (r"/api/runs", RunsHandler, deps),
        (rf"/api/runs/{_RUN}", RunHandler, deps),
        (rf"/api/runs/{_RUN}/events", RunEventsHandler, deps),
        (rf"/api/runs/{_RUN}/thread", ThreadHandler, deps),
        (rf"/api/runs/{_RUN}/providers/{_NAME}/events", RunEventsHandler, deps),
        (r"/", IndexHandler, deps),
        (r"/static/(.*)", web.StaticFileHandler, {"path": str(DASHBOARD)}),
    ]
    return web.Application(routes, default_handler_class=NotFoundHandler, default_handler_args=deps,
                           compress_response=False, log_function=_log_request, xsrf_cookies=False)


class Server:
    """One process: config + store -> run manager, hub and HTTP server. The caller owns the store."""

    def __init__(self, config: Config, store: RunStore, settings: ServerSettings | None = None) -> None:
        self.config, self.store = config, store
        self.settings = s = settings or ServerSettings()
        self.generated_token = False
        if not s.token and not is_loopback(s.host):
            s.token = new_token()
            self.generated_token = True
        self.access = Access(token=s.token, allow_origins=tuple(o.rstrip("/") for o in s.allow_origins))
        self.hub = Hub(s.hub)
        self.manager = RunManager(config, store, self.hub, limits=s.limits(),
                                  max_concurrent_runs=s.max_concurrent_runs)
        self.http: HTTPServer | None = None
        self.port = s.port

    @property
    def url(self) -> str:
        host = self.settings.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}/"

    async def start(self) -> None:
        await self.manager.start()
        app = make_app(self.manager, self.access, self.settings)
        # the handler answers a body over max_body_bytes with a JSON 413; far larger ones are cut here
        self.http = HTTPServer(app, max_body_size=self.settings.max_body_bytes * 4 + 65536, xheaders=False,
                               idle_connection_timeout=120)
        sockets = bind_sockets(self.settings.port, self.settings.host or None)
        self.port = sockets[0].getsockname()[1]
        self.http.add_sockets(sockets)

    async def stop(self, reason: str = "server shutting down", timeout: float = 10.0) -> None:
        """Stop accepting, cancel running races (streams end ``cancelled``), let subscribers read
        ``end``, flush the store, close connections."""
        if self.http is None:
            return
        self.http.stop()
        await self.manager.stop(reason, timeout=timeout)
        if not await self.hub.wait_idle(min(timeout, 3.0)):
            log.warning("%d subscriber(s) still reading at shutdown: closing them", self.hub.subscriber_count)
        await self.http.close_all_connections()
        self.http = None
