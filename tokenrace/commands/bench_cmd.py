"""``tokenrace bench``: a scripted benchmark from a scenario file, or ``--calibrate`` the tool itself."""
from __future__ import annotations

import argparse

HELP = "run a scripted benchmark (scenario file) and write reports"
DESCRIPTION = (
    "Run SCENARIO.yaml: several prompts, providers, repetitions and load levels; write records.jsonl, "
    "summary.json/.csv, report.md, report.html, scenario.yaml and environment.json into the output folder. "
    "Ctrl+C stops and still writes what finished (marked partial). --calibrate measures the tool's own "
    "error against the built-in simulator instead. Exit 0 when done, 1 when no request succeeded, "
    "2 for a scenario or usage error, 130 when interrupted.")


def add_arguments(p: argparse.ArgumentParser, add_config) -> None:
    p.add_argument("scenario", nargs="?", metavar="SCENARIO.yaml", help="the scenario file")
    add_config(p)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="sets",
                   help="override a scenario field, e.g. --set repetitions=5 --set load.concurrency=[1,8] "
                        "(values are YAML; repeatable)")
    p.add_argument("--out", metavar="DIR", help="output folder (default: results/<name>-<timestamp>/)")
    p.add_argument("--keep-warmup", action="store_true",
                   help="also write warmup requests to records.jsonl (flagged; never in the summary)")
    p.add_argument("--no-progress", action="store_true", help="no live progress display")
    p.add_argument("--no-history", action="store_true", help="do not add the run to the run history database")
    dist = p.add_argument_group("distributed bench (tokenrace worker processes on any machines, through Redis)")
    dist.add_argument("--redis", metavar="URL",
                      help="deal the plan to the `tokenrace worker --redis URL` processes present on this Redis "
                           "(redis://HOST:PORT/DB), one share each, and merge their records into this output")
    dist.add_argument("--workers", type=int, metavar="N",
                      help="with --redis: wait for N idle workers and use N (default: every idle worker, at least one)")
    dist.add_argument("--wait-workers", type=float, default=30.0, metavar="S",
                      help="with --redis: how long to wait for the workers (default 30 s)")
    dist.add_argument("--worker-lease", type=float, default=5.0, metavar="S",
                      help="with --redis: a worker silent this long is gone, and its unfinished requests are "
                           "recorded as failed (default 5 s)")
    p.add_argument("--calibrate", action="store_true",
                   help="measure the tool's own TTFT/ITL error against the built-in simulator's truth")
    p.add_argument("--concurrency", metavar="N,N,...", default="1,16,64",
                   help="with --calibrate: the concurrency levels (default 1,16,64; at most 256)")
    p.add_argument("--sim-in-process", action="store_true",
                   help="with --calibrate: run the simulator on the tool's own event loop (default: a child "
                        "process, so the simulator's work is not counted as the client's)")


def main(args: argparse.Namespace) -> int:
    from ..eventloop import run as run_loop
    import sys

    from rich.console import Console

    from ..errors import UsageError

    if args.calibrate:
        from ..bench.calibrate import calibrate, format_table, parse_levels
        if args.scenario:
            raise UsageError("--calibrate takes no scenario file")
        err = Console(stderr=True)
        rows = run_loop(calibrate(parse_levels(args.concurrency), naive=True, in_process=args.sim_in_process,
                                     progress=lambda msg: err.print(msg, style="dim", highlight=False)))
        print(format_table(rows))
        return 0
    if not args.scenario:
        raise UsageError("give a scenario file (see examples/bench-simulator.yaml), or --calibrate")

    from ..bench.report import default_out_dir
    from ..bench.scenario import load_scenario
    from ..bench.session import Distributed, run_bench

    distributed = None
    if args.redis:
        if args.workers is not None and not 1 <= args.workers <= 1024:
            raise UsageError("--workers must be between 1 and 1024")
        if args.wait_workers < 0 or not 0.5 <= args.worker_lease <= 3600:
            raise UsageError("--wait-workers must be 0 or more, and --worker-lease between 0.5 and 3600 s")
        distributed = Distributed(args.redis, args.workers, args.wait_workers, args.worker_lease)
    elif args.workers is not None:
        raise UsageError("--workers goes with --redis (for local processes, set load.workers in the scenario)")
    sc = load_scenario(args.scenario, args.sets)
    out = args.out or default_out_dir(sc.name)
    err = Console(stderr=True)
    console = None if args.no_progress else err
    outcome = run_loop(run_bench(sc, out, config_path=args.config, keep_warmup=args.keep_warmup,
                                    console=console, history=not args.no_history, distributed=distributed))
    doc = outcome.summary
    from ..bench.report import markdown
    print(markdown(doc, outcome.result.records))
    err.print(f"results written to {outcome.out_dir}/ (report.md, report.html, summary.json, records.jsonl)",
              markup=False, highlight=False, soft_wrap=True)
    if outcome.history:
        err.print(f"note: not in the run history: {outcome.history}", markup=False, highlight=False, soft_wrap=True)
    sys.stdout.flush()
    if doc["partial"]:
        return 130
    total_ok = sum(g["ok"] for g in doc["groups"])
    return 0 if total_ok else 1
