"""``tokenrace compare OLD_DIR NEW_DIR``: what changed between two bench runs (exit 1 on a crossed limit)."""
from __future__ import annotations

import argparse
from collections.abc import Callable

HELP = "compare two bench output folders; fail on regressions beyond noise (for CI)"
DESCRIPTION = (
    "Print what changed between two `tokenrace bench` output folders: a summary per provider and load, then "
    "the figures that moved. A change is called better or worse only beyond noise: a two-sided Mann-Whitney U "
    "test on the per-request values of both runs (records.jsonl) at p < --alpha, and a change of at least "
    "--min-effect per cent. --fail-on takes comma-separated limits such as ttft_p50=+10%%,tokens_per_s_p50=-10%% "
    "(+: fail when the new value rises by more; -: when it falls by more; no sign: either way; no %%: an "
    "absolute amount in the figure's unit); a crossed limit fails only when the change is also beyond noise, "
    "unless --threshold-only. Exit 0 when no limit fails, 1 when one does, 2 for a usage error.")


def _fraction(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < v < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return v


def _percent(text: str) -> float:
    try:
        v = float(text.rstrip("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return v


def add_arguments(p: argparse.ArgumentParser, add_config: Callable[[argparse.ArgumentParser], None]) -> None:
    p.add_argument("old", metavar="OLD_DIR", help="the baseline run's output folder (or its summary.json)")
    p.add_argument("new", metavar="NEW_DIR", help="the new run's output folder (or its summary.json)")
    p.add_argument("--fail-on", metavar="LIMITS", action="append", default=[],
                   help="limits that make the exit status 1, e.g. ttft_p50=+10%%,tokens_per_s_p50=-10%%,"
                        "error_rate=+0.02 (repeatable)")
    p.add_argument("--threshold-only", action="store_true",
                   help="fail on a crossed limit even when the change is within noise (plain thresholds)")
    p.add_argument("--alpha", type=_fraction, default=0.05, metavar="P",
                   help="significance level of the noise test (default 0.05)")
    p.add_argument("--min-effect", type=_percent, default=5.0, metavar="PCT",
                   help="smallest change, in per cent, called better or worse (default 5; a fifth of it in "
                        "points for the error rate)")
    p.add_argument("--all", action="store_true", dest="show_all",
                   help="list every figure, not only those that moved beyond noise or crossed a limit")
    p.add_argument("--json", action="store_true", help="print the comparison as one JSON document")


def main(args: argparse.Namespace) -> int:
    import json

    from ..bench.compare import compare, load_records, load_summary, parse_thresholds, to_json
    from ..bench.compare_text import format_comparison
    from ..bench.noise import Rule

    thresholds = [t for spec in args.fail_on for t in parse_thresholds(spec)]
    old, new = load_summary(args.old), load_summary(args.new)
    result = compare(old, new, thresholds, old_records=load_records(args.old), new_records=load_records(args.new),
                     rule=Rule(args.alpha, args.min_effect), threshold_only=args.threshold_only)
    if args.json:
        print(json.dumps(to_json(result), ensure_ascii=False, indent=2))
    else:
        print(format_comparison(result, args.old, args.new, show_all=args.show_all))
    return 1 if result.failed else 0
