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
    from ..bench.session import run_bench

    sc = load_scenario(args.scenario, args.sets)
    out = args.out or default_out_dir(sc.name)
    err = Console(stderr=True)
    console = None if args.no_progress else err
    outcome = run_loop(run_bench(sc, out, config_path=args.config, keep_warmup=args.keep_warmup,
                                    console=console, history=not args.no_history))
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
