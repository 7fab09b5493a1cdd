"""``tokenrace compare OLD_DIR NEW_DIR``: what changed between two bench runs (exit 1 on a crossed threshold)."""
from __future__ import annotations

import argparse
from collections.abc import Callable

HELP = "compare two bench output folders; fail on regressions (for CI)"
DESCRIPTION = (
    "Print what changed per provider, load and figure between two `tokenrace bench` output folders (or their "
    "summary.json). --fail-on takes comma-separated limits such as ttft_p50=+10%,tokens_per_s_p50=-10% "
    "(+: fail when the new value rises by more; -: when it falls by more; no sign: either way; no %: an "
    "absolute amount in the figure's unit). Exit 0 when no limit is crossed, 1 when one is, 2 for a usage error.")


def add_arguments(p: argparse.ArgumentParser, add_config: Callable[[argparse.ArgumentParser], None]) -> None:
    p.add_argument("old", metavar="OLD_DIR", help="the baseline run's output folder")
    p.add_argument("new", metavar="NEW_DIR", help="the new run's output folder")
    p.add_argument("--fail-on", metavar="LIMITS", action="append", default=[],
                   help="e.g. ttft_p50=+10%%,tokens_per_s_p50=-10%%,error_rate=+0.02 (repeatable)")
    p.add_argument("--json", action="store_true", help="print the comparison as one JSON document")


def main(args: argparse.Namespace) -> int:
    import json

    from ..bench.compare import compare, format_comparison, load_summary, parse_thresholds, to_json

    thresholds = [t for spec in args.fail_on for t in parse_thresholds(spec)]
    old, new = load_summary(args.old), load_summary(args.new)
    result = compare(old, new, thresholds)
    if args.json:
        print(json.dumps(to_json(result), ensure_ascii=False, indent=2))
    else:
        print(format_comparison(result, args.old, args.new))
    return 1 if result.failed else 0
