"""``tokenrace serve``: the race server (HTTP API + SSE) for the page, the remote TUI and scripts."""
from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..server import ServerSettings

HELP = "serve races over HTTP and SSE (the page, the remote TUI, scripts)"
DESCRIPTION = ("Start a server that runs races (one prompt, several providers at once) and streams every "
               "provider's events as SSE to any number of subscribers. With no config file it starts the "
               "built-in simulator, so it works with no keys. Listens on 127.0.0.1; any other address needs "
               "an access token (--token, or one is generated and printed once).")


def _positive(kind):
    def parse(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if v <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return v
    return parse


def _at_least_zero(kind):
    def parse(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if v < 0:
            raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
        return v
    return parse


def add_arguments(p: argparse.ArgumentParser, add_config) -> None:
    add_config(p)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    p.add_argument("--db", metavar="PATH",
                   help="SQLite file of runs (default $XDG_DATA_HOME/tokenrace/runs.db or "
                        "~/.local/share/tokenrace/runs.db; ':memory:' keeps nothing)")
    p.add_argument("--token", help="access token required for the API and SSE (default: none on loopback, "
                                   "generated and printed once on any other address)")
    p.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                   help="allow browser pages of this origin (CORS), e.g. http://localhost:5173 (repeatable)")
    p.add_argument("--max-prompt-chars", type=_positive(int), default=100_000, metavar="N",
                   help="longest prompt accepted, in characters (default 100000)")
    p.add_argument("--max-providers", type=_positive(int), default=16, metavar="N",
                   help="most providers in one run (default 16)")
    p.add_argument("--max-concurrent-runs", type=_positive(int), default=8, metavar="N",
                   help="runs in progress at once; more are refused with 429 (default 8)")
    p.add_argument("--max-body-bytes", type=_positive(int), default=1024 * 1024, metavar="N",
                   help="largest request body (default 1 MiB); a larger one gets 413 at any size")
    p.add_argument("--max-runs-per-minute", type=_positive(float), default=30.0, metavar="N",
                   help="runs one client address may start a minute (default 30), after a burst of "
                        "--run-burst; past it POST /api/runs answers 429 with Retry-After")
    p.add_argument("--run-burst", type=_positive(int), default=10, metavar="N",
                   help="runs a client may start at once before --max-runs-per-minute applies (default 10)")
    p.add_argument("--replay-cache-bytes", type=_positive(int), default=64 * 1024 * 1024, metavar="N",
                   help="memory for finished runs kept ready to replay (default 64 MiB); past it the least "
                        "recently used are dropped and reloaded from the database when asked for")
    p.add_argument("--keep-runs", type=_at_least_zero(int), default=1000, metavar="N",
                   help="the database keeps the newest N runs (default 1000; 0 keeps all); older finished "
                        "ones are deleted at start and every 5 minutes")
    p.add_argument("--keep-days", type=_positive(float), default=None, metavar="D",
                   help="also delete finished runs older than D days (default: no age limit)")
    p.add_argument("--heartbeat", type=_positive(float), default=15.0, metavar="SECONDS",
                   help="comment line on idle streams every SECONDS (default 15)")
    scale = p.add_argument_group("scale-out (several processes sharing runs)")
    scale.add_argument("--redis", metavar="URL",
                       help="share runs with every other process given the same Redis (redis://HOST:PORT/DB): any "
                            "process serves any run, live or finished, and resumes Last-Event-ID exactly; "
                            "without it no Redis is needed")
    scale.add_argument("--workers", type=_positive(int), default=1, metavar="N",
                       help="N processes on one port (SO_REUSEPORT), sharing runs through --redis (required "
                            "for N > 1); SIGTERM or Ctrl+C stops them all")
    scale.add_argument("--redis-maxlen", type=_positive(int), default=100_000, metavar="N",
                       help="events kept per run in Redis (default 100000; MAXLEN ~): a resume point older "
                            "than that on another process gets a reset and what is kept")
    scale.add_argument("--lease", type=_positive(float), default=5.0, metavar="SECONDS",
                       help="a process silent this long (killed, hung) has its runs marked interrupted by "
                            "another (default 5)")


TOKEN_ENV = "TOKENRACE_WORKER_TOKEN"       # how `serve --workers` hands its token to the workers (not argv)
WORKER_ENV = "TOKENRACE_WORKER_OF"         # set by `serve --workers N` in each worker: "N"
REDIS_ENV = "TOKENRACE_WORKER_REDIS"       # the Redis URL for the workers (it may hold a password: not argv)


def _stop_with_supervisor(loop, stop) -> None:
    """A worker of `serve --workers` stops when its supervisor goes (its stdin pipe closes)."""
    fd = sys.stdin.fileno()

    def readable() -> None:
        try:
            data = os.read(fd, 4096)
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(fd)
            stop.set()
    loop.add_reader(fd, readable)


def main(args: argparse.Namespace) -> int:
    from ..eventloop import run as run_loop

    from ..errors import UsageError
    args.worker_of = int(os.environ.get(WORKER_ENV) or 0)
    if args.worker_of:
        args.redis = args.redis or os.environ.get(REDIS_ENV)
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be within 0..65535, got {args.port}")
    if args.redis is not None and not args.redis.startswith(("redis://", "rediss://", "unix://")):
        raise UsageError("--redis takes a URL such as redis://127.0.0.1:6379/0 (or rediss://, unix://)")
    if args.workers > 1:
        if not args.redis:
            raise UsageError("--workers N (N > 1) needs --redis URL: the processes share runs through it")
        from ..server.workers import supervise
        return supervise(args)
    try:
        return run_loop(_serve(args))
    except KeyboardInterrupt:
        return 130


def settings_from_args(args: argparse.Namespace) -> "ServerSettings":
    from ..server import HubLimits, ServerSettings
    return ServerSettings(
        host=args.host, port=args.port, token=args.token, allow_origins=tuple(args.allow_origin),
        max_prompt_chars=args.max_prompt_chars, max_providers=args.max_providers,
        max_concurrent_runs=args.max_concurrent_runs, max_body_bytes=args.max_body_bytes,
        max_runs_per_minute=args.max_runs_per_minute, run_burst=args.run_burst,
        keep_runs=args.keep_runs or None, keep_days=args.keep_days,
        heartbeat_s=args.heartbeat, hub=HubLimits(keep_finished_bytes=args.replay_cache_bytes),
        redis_url=args.redis, redis_maxlen=args.redis_maxlen, lease_s=args.lease,
        reuse_port=getattr(args, "worker_of", 0) > 0, recover=not getattr(args, "worker_of", 0))


async def _serve(args: argparse.Namespace) -> int:
    import asyncio
    import logging
    import signal

    from ..runtime import open_config
    from ..server import Server
    from ..store import RunStore

    from ..server.redis_bridge import RedisUnavailable

    log = logging.getLogger("tokenrace.server")
    settings = settings_from_args(args)
    if args.worker_of:
        settings.token = os.environ.get(TOKEN_ENV) or settings.token    # one token for every worker
    async with open_config(args.config) as cfg:
        store = RunStore(args.db)
        await store.open()
        server = Server(cfg, store, settings)
        try:
            try:
                await server.start()
            except OSError as e:
                print(f"tokenrace: cannot listen on {args.host}:{args.port}: {e.strerror or e}", file=sys.stderr)
                return 1
            except RedisUnavailable as e:
                print(f"tokenrace: {e}", file=sys.stderr)
                return 1
            source = "built-in simulator" if cfg.builtin else cfg.source
            print(f"tokenrace serve: {len(cfg.providers)} provider(s) from {source}; runs stored in {store.path}")
            if settings.token:
                print(f"  open {server.url}?token={settings.token}")
                if server.generated_token:
                    print(f"  access token (shown once): {settings.token}")
                print(f"  API: curl -H 'Authorization: Bearer <token>' {server.url}api/providers")
            else:
                print(f"  open {server.url}")
            if server.shared is not None:
                print(f"  sharing runs through Redis at {server.shared.where}")
            print("  Ctrl+C stops", flush=True)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            if args.worker_of:
                _stop_with_supervisor(loop, stop)
            try:
                await stop.wait()
            finally:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(sig)
            print("tokenrace serve: stopping (running streams end 'cancelled', text kept)", flush=True)
            if args.worker_of:
                loop.remove_reader(sys.stdin.fileno())
            await server.stop()
        finally:
            await store.close()
            log.info("stopped")
    return 0
