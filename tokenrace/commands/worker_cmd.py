"""``tokenrace worker --redis URL``: measure shares of distributed benches (``bench --redis``)."""
from __future__ import annotations

import argparse

HELP = "measure shares of distributed benches (bench --redis) taken from Redis"
DESCRIPTION = (
    "Wait on Redis for benches started with `tokenrace bench SCENARIO --redis URL`; take one share of each "
    "plan through the consumer group, measure it here and send every record back as its request finishes. "
    "Providers and their keys come from this machine's config (-c, else the usual look-up, else the built-in "
    "simulator); only provider names travel through Redis. Run one per core you want to load with. Ctrl+C or "
    "SIGTERM stops (a share in hand ends with what finished). Exit 0 when stopped, 1 when Redis is unreachable.")


def add_arguments(p: argparse.ArgumentParser, add_config) -> None:
    p.add_argument("--redis", metavar="URL", required=True, help="the Redis the bench uses (redis://HOST:PORT/DB)")
    add_config(p)
    p.add_argument("--name", metavar="NAME",
                   help="this worker's name in records and reports (default: HOST-PID; must be unique)")
    p.add_argument("--jobs", type=int, metavar="N", help="exit after N benches (default: run until stopped)")


def main(args: argparse.Namespace) -> int:
    import re

    from ..errors import UsageError
    from ..eventloop import run as run_loop

    if args.name is not None and not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", args.name):
        raise UsageError("--name: 1 to 64 letters, digits, '.', '_' or '-'")
    if args.jobs is not None and args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    return run_loop(_main(args))


async def _main(args: argparse.Namespace) -> int:
    import asyncio
    import signal

    from ..bench.remote_worker import RemoteWorker

    worker = RemoteWorker(args.redis, name=args.name, config_path=args.config, max_jobs=args.jobs,
                           say=lambda line: print(line, flush=True))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, worker.stop)
    await worker.run()
    return 0
