"""Top lines of a py-spy raw profile (``py-spy record -f raw``): self and inclusive shares.

    python benchmarks/profile_top.py PROFILE.txt [--top 15] [--only FUNCTION]

``--only`` keeps the stacks that pass through FUNCTION (e.g. ``_run_once``: the event loop's work).
"""
from __future__ import annotations

import argparse
from collections import Counter


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("profile")
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--only", default="_run_once")
    args = ap.parse_args()
    own: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    with open(args.profile) as f:
        for line in f:
            stack, _, n = line.rstrip().rpartition(" ")
            if args.only and args.only not in stack:
                continue
            frames = stack.split(";")
            total += int(n)
            own[frames[-1]] += int(n)
            for fr in set(frames):
                incl[fr] += int(n)
    print(f"{total} samples through {args.only or 'anything'}")
    print("self:")
    for fr, n in own.most_common(args.top):
        print(f"  {100 * n / total:5.1f}%  {fr}")
    print("inclusive:")
    for fr, n in incl.most_common(args.top + 10):
        print(f"  {100 * n / total:5.1f}%  {fr}")


if __name__ == "__main__":
    main()
