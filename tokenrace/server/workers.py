"""``tokenrace serve --workers N``: N server processes on one port, sharing runs through Redis.

The supervisor (this module, no tornado) checks the platform has ``SO_REUSEPORT``, picks the port
(``--port 0``: a free one, held until the workers listen), marks runs cut off by a crash in the shared
database once, and starts N ``tokenrace serve`` processes with the same options; the worker number, the
token and the Redis URL travel in their environment, never in argv (``ps`` shows argv). Each worker binds the port with ``SO_REUSEPORT`` (the kernel spreads new connections over them) and shares
runs through ``--redis``, so any worker serves any run and a ``Last-Event-ID`` continues on any of them.

SIGTERM or SIGINT (Ctrl+C) to the supervisor stops every worker gracefully (running races end
``cancelled`` with their text kept) and waits for them; a worker whose supervisor disappears stops by
itself (its stdin pipe closes). A worker that dies is reported; the others go on and end its runs as
``interrupted`` when its lease expires.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import socket
import sys
from typing import Any

STOP_TIMEOUT_S = 20.0
READY_TIMEOUT_S = 60.0

# every serve option a worker gets again: (flag, attribute)
_OPTIONS = (("--config", "config"), ("--host", "host"), ("--db", "db"), ("--max-prompt-chars", "max_prompt_chars"),
            ("--max-providers", "max_providers"), ("--max-concurrent-runs", "max_concurrent_runs"),
            ("--max-body-bytes", "max_body_bytes"), ("--max-runs-per-minute", "max_runs_per_minute"),
            ("--run-burst", "run_burst"), ("--replay-cache-bytes", "replay_cache_bytes"),
            ("--keep-runs", "keep_runs"), ("--keep-days", "keep_days"), ("--heartbeat", "heartbeat"),
            ("--redis-maxlen", "redis_maxlen"), ("--lease", "lease"))


def worker_argv(args: argparse.Namespace, port: int) -> list[str]:
    out = ["serve", "--port", str(port)]
    for flag, attr in _OPTIONS:
        value = getattr(args, attr, None)
        if value is not None:
            out += [flag, str(value)]
    for origin in args.allow_origin or ():
        out += ["--allow-origin", origin]
    return out


def _reserve_port(host: str, port: int) -> socket.socket:
    """Bind (not listen) with SO_REUSEPORT: picks the port for ``--port 0`` and keeps it ours until the
    workers listen on it; a port another program holds fails here, with a clear message."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        s.bind((host or "0.0.0.0", port))
    except OSError:
        s.close()
        raise
    return s


def supervise(args: argparse.Namespace) -> int:
    from ..errors import UsageError
    if not hasattr(socket, "SO_REUSEPORT"):
        raise UsageError("--workers needs SO_REUSEPORT, which this platform does not have; start one "
                         "`tokenrace serve --redis URL --port P` per port instead, behind a load balancer")
    try:
        held = _reserve_port(args.host, args.port)
    except OSError as e:
        print(f"tokenrace: cannot listen on {args.host}:{args.port}: {e.strerror or e}", file=sys.stderr)
        return 1
    try:
        return asyncio.run(_supervise(args, held))
    except KeyboardInterrupt:
        return 130
    finally:
        held.close()


async def _mark_interrupted(db: str | None) -> None:
    from ..store import RunStore
    async with RunStore(db) as store:
        await store.mark_interrupted(source="serve")


async def _supervise(args: argparse.Namespace, held: socket.socket) -> int:
    from ..server.auth import is_loopback, new_token
    from ..redisconn import safe_url

    port = held.getsockname()[1]
    await _mark_interrupted(args.db)           # once for the shared database, before any worker runs
    env = dict(os.environ)
    token, generated = args.token, False
    if not token and not is_loopback(args.host):
        token, generated = new_token(), True
    if token:
        env["TOKENRACE_WORKER_TOKEN"] = token
    env["TOKENRACE_WORKER_OF"] = str(args.workers)      # what makes these processes workers
    env["TOKENRACE_WORKER_REDIS"] = args.redis          # not in argv: a Redis URL may hold a password
    argv = [sys.executable, "-m", "tokenrace", *(["-v"] * min(getattr(args, "verbose", 0), 2)),
            *worker_argv(args, port)]
    procs: list[asyncio.subprocess.Process] = []
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    pumps: list[asyncio.Task[None]] = []
    try:
        url = ""
        for i in range(args.workers):
            proc = await asyncio.create_subprocess_exec(
                *argv, env=env, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                start_new_session=True)          # signals come from the supervisor only, once
            procs.append(proc)
            url = await _ready(proc, i)
            pumps.append(asyncio.create_task(_pump(proc, i)))
        held.close()                             # every worker listens: the port stays taken
        host_url = re.sub(r"\?token=.*$", "", url)
        print(f"tokenrace serve: {args.workers} workers on one port, sharing runs through Redis at "
              f"{safe_url(args.redis)} (pids {' '.join(str(p.pid) for p in procs)})")
        if token:
            print(f"  open {host_url}?token={token}")
            if generated:
                print(f"  access token (shown once): {token}")
        else:
            print(f"  open {host_url}")
        print("  Ctrl+C stops them all", flush=True)
        waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(p.wait()) for p in procs]
        stopper: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
        pending = set(waits)
        while pending and not stop.is_set():
            done, _ = await asyncio.wait(pending | {stopper}, return_when=asyncio.FIRST_COMPLETED)
            for t in done & pending:
                pending.discard(t)
                p = procs[waits.index(t)]
                print(f"tokenrace serve: worker {waits.index(t) + 1} (pid {p.pid}) exited with status "
                      f"{p.returncode}; the others go on and end its runs as interrupted", file=sys.stderr,
                      flush=True)
        stopper.cancel()
        if not pending:
            return 1
        print(f"tokenrace serve: stopping {len(pending)} worker(s)", flush=True)
        return await _stop_all(procs)
    except _WorkerFailed as e:
        print(f"tokenrace: {e}", file=sys.stderr)
        await _stop_all(procs)
        return 1
    finally:
        for t in pumps:
            t.cancel()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


class _WorkerFailed(Exception):
    pass


async def _ready(proc: asyncio.subprocess.Process, i: int) -> str:
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(READY_TIMEOUT_S):
            while True:
                line = (await proc.stdout.readline()).decode(errors="replace")
                if not line:
                    await proc.wait()
                    raise _WorkerFailed(f"worker {i + 1} stopped before it was ready (status {proc.returncode}); "
                                        f"its error is above")
                if m := re.search(r"open (http://\S+)", line):
                    return m.group(1)
    except TimeoutError:
        raise _WorkerFailed(f"worker {i + 1} was not ready within {READY_TIMEOUT_S:.0f} s") from None


async def _pump(proc: asyncio.subprocess.Process, i: int) -> None:
    """Pass a worker's later output on (it is little: its stop line), so its pipe never fills."""
    assert proc.stdout is not None
    while line := await proc.stdout.readline():
        text = line.decode(errors="replace").rstrip()
        if text and "open http" not in text and "token" not in text:
            print(f"[worker {i + 1}] {text}", flush=True)


async def _stop_all(procs: list[Any]) -> int:
    live = [p for p in procs if p.returncode is None]
    for p in live:
        try:
            p.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass
    try:
        async with asyncio.timeout(STOP_TIMEOUT_S):
            codes = [await p.wait() for p in live]
    except TimeoutError:
        for p in live:
            if p.returncode is None:
                p.kill()
        await asyncio.gather(*(p.wait() for p in live))
        print("tokenrace serve: some workers did not stop in time and were killed", file=sys.stderr)
        return 1
    return 0 if all(c == 0 for c in codes) else 1
