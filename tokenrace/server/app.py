"""The Tornado application: settings, ``make_app`` and :class:`Server` (start, graceful stop).

    /healthz                                   GET
    /api/providers                             GET
    /api/limits                                GET  what one request may hold (prompt length, body size)
    /api/runs                                  GET (list; ?figures=1 adds each run's figures),
                                               POST (create; Accept: text/event-stream streams it)
    /api/runs/{id}                             GET, DELETE (cancel)
    /api/runs/{id}/events                      GET  SSE, all providers
    /api/runs/{id}/thread                      GET  the conversation ending with the run (?format=md|json)
    /api/runs/{id}/providers/{name}/events     GET  SSE, one provider
    /                                          the page (tokenrace/dashboard/index.html), /static/ its files
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tornado import web
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from ..config.models import Config
from ..store import RunStore
from .auth import Access, RedactFilter, is_loopback, new_token
from .handlers import (DASHBOARD, HealthHandler, IndexHandler, LimitsHandler, NotFoundHandler, ProvidersHandler,
                       RunHandler, RunsHandler, StaticHandler, ThreadHandler)
from ..runrequest import Limits
from .hub import Hub, HubLimits
from .ratelimit import RateLimiter
from .runs import RunManager
from .sse_handler import RunEventsHandler

if TYPE_CHECKING:
    from .redis_bridge import RedisBridge

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
    max_runs_per_minute: float = 30.0      # per client address (token bucket)
    run_burst: int = 10                    # runs a client may start at once before the rate applies
    heartbeat_s: float = 15.0
    retry_ms: int = 2000
    flush_timeout_s: float = 10.0
    write_chunk_bytes: int = 64 * 1024
    metrics_interval_s: float = 0.25
    keep_runs: int | None = 1000           # the database keeps the newest N runs (None: any number) ...
    keep_days: float | None = None         # ... created within D days (None: any age); running ones always
    prune_interval_s: float = 300.0        # how often that is applied, after once at start
    hub: HubLimits = field(default_factory=HubLimits)
    redis_url: str | None = None           # share runs with other processes through Redis (serve --redis)
    redis_prefix: str = "tokenrace"        # key prefix in Redis
    redis_maxlen: int = 100_000            # events kept per run in Redis (MAXLEN ~)
    lease_s: float = 5.0                   # a process silent this long has its runs marked interrupted
    reuse_port: bool = False               # SO_REUSEPORT: several processes on one port (serve --workers)
    recover: bool = True                   # mark runs cut off by a crash interrupted at start (once per db)

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


def make_app(manager: RunManager, access: Access, settings: ServerSettings,
             limiter: RateLimiter | None = None) -> web.Application:
    deps: dict[str, Any] = dict(manager=manager, access=access, settings=settings, limiter=limiter)
    routes: list[Any] = [
        (r"/healthz", HealthHandler, deps),
        (r"/api/providers", ProvidersHandler, deps),
        (r"/api/limits", LimitsHandler, deps),
        (r"/api/runs", RunsHandler, deps),
        (rf"/api/runs/{_RUN}", RunHandler, deps),
        (rf"/api/runs/{_RUN}/events", RunEventsHandler, deps),
        (rf"/api/runs/{_RUN}/thread", ThreadHandler, deps),
        (rf"/api/runs/{_RUN}/providers/{_NAME}/events", RunEventsHandler, deps),
        (r"/", IndexHandler, deps),
        (r"/static/(.*)", StaticHandler, {"path": str(DASHBOARD)}),
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
        self.shared: "RedisBridge | None" = None
        if s.redis_url:
            from .redis_bridge import RedisBridge      # no redis import without --redis
            self.shared = RedisBridge(s.redis_url, prefix=s.redis_prefix, maxlen=s.redis_maxlen)
        self.manager = RunManager(config, store, self.hub, limits=s.limits(),
                                  max_concurrent_runs=s.max_concurrent_runs, shared=self.shared,
                                  lease_s=s.lease_s, recover=s.recover)
        self.limiter = RateLimiter(s.max_runs_per_minute, s.run_burst)
        self.log_filter = RedactFilter(s.token)
        self.http: HTTPServer | None = None
        self.prune_task: asyncio.Task | None = None
        self.port = s.port

    @property
    def url(self) -> str:
        host = self.settings.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}/"

    async def start(self) -> None:
        self.log_filter.install()
        try:
            if self.shared is not None:
                await self.shared.connect(self.hub)
            await self.manager.start()
            await self.prune()          # before listening: no client waits in the backlog meanwhile
            sockets = bind_sockets(self.settings.port, self.settings.host or None,
                                   reuse_port=self.settings.reuse_port)
        except BaseException:
            if self.manager.lease is not None:
                await self.manager.lease.stop()
            if self.shared is not None:
                await self.shared.close()
            self.log_filter.remove()
            raise
        app = make_app(self.manager, self.access, self.settings, self.limiter)
        # POST /api/runs streams its body and answers any size past the limit with a JSON 413; no other
        # route takes a body, so none ever buffers more than the limit
        self.http = HTTPServer(app, max_body_size=self.settings.max_body_bytes, xheaders=False,
                               idle_connection_timeout=120)
        self.port = sockets[0].getsockname()[1]
        self.prune_task = asyncio.create_task(self._prune_every(), name="tokenrace-prune")
        self.http.add_sockets(sockets)

    async def prune(self) -> int:
        """Apply the retention settings to the store once; a failure is logged, never raised."""
        s = self.settings
        try:
            n = await self.store.prune(s.keep_runs, s.keep_days)
        except Exception:
            log.exception("removing old runs from %s failed", self.store.path)
            return 0
        if n:
            log.info("removed %d old run(s) from %s (keep %s runs, %s days)", n, self.store.path,
                     "all" if s.keep_runs is None else s.keep_runs, "all" if s.keep_days is None else s.keep_days)
        if self.shared is not None:
            try:
                await self.shared.prune(s.keep_runs, s.keep_days)
            except Exception as e:
                log.warning("removing old runs from Redis at %s failed: %s", self.shared.where, e)
        return n

    async def _prune_every(self) -> None:
        while True:
            await asyncio.sleep(self.settings.prune_interval_s)
            await self.prune()

    async def stop(self, reason: str = "server shutting down", timeout: float = 10.0) -> None:
        """Stop accepting, cancel running races (streams end ``cancelled``), let subscribers read
        ``end``, flush the store, close connections."""
        if self.prune_task is not None:
            self.prune_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.prune_task
            self.prune_task = None
        if self.http is None:
            self.log_filter.remove()
            return
        self.http.stop()
        await self.manager.stop(reason, timeout=timeout)
        if self.shared is not None:
            # runs this process only mirrors go on elsewhere: their readers reconnect (to another process)
            self.shared.mirrors.release("this server process is shutting down; reconnect to resume")
        if not await self.hub.wait_idle(min(timeout, 3.0)):
            log.warning("%d subscriber(s) still reading at shutdown: closing them", self.hub.subscriber_count)
        await self.http.close_all_connections()
        self.http = None
        if self.shared is not None:
            await self.shared.close()
        self.log_filter.remove()
