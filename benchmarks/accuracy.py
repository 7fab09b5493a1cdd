"""How accurate are tokenrace's TTFT and ITL, and what does it cost? Against the simulator's truth, beside the floor.

    python benchmarks/accuracy.py                  # concurrency 1, 16, 64, 256 on loopback
    python benchmarks/accuracy.py --levels 1,64 --json

The simulator (its own process by default, so its work does not load any client) writes each chunk
and timestamps it; we compare every measured TTFT and inter-chunk gap with that truth, at each
concurrency, for the floor (a raw asyncio Protocol that only stamps reads, on uvloop when installed:
the best a Python client can do on this machine), tokenrace's engine as ``bench`` runs it, and a naive
plain-aiohttp client, each in a process of its own, in the same run. Each client's CPU per request is
its whole process's (``os.wait4``, start-up included). The event-loop lag column shows when a client
itself is saturated. Loopback only; at most 256 streams. ``tokenrace bench --calibrate`` runs the
same code (without the floor's own row).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tokenrace.bench.calibrate import MAX_LEVEL, PROFILE, calibrate, format_table, parse_levels  # noqa: E402


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--levels", default="1,16,64,256", help=f"concurrency levels (at most {MAX_LEVEL})")
    ap.add_argument("--min-requests", type=int, default=30, help="requests per level and client (at least 2x level)")
    ap.add_argument("--in-process", action="store_true", help="run the simulator on our own event loop")
    ap.add_argument("--no-naive", action="store_true", help="skip the naive client")
    ap.add_argument("--json", action="store_true", help="print the rows as JSON")
    ap.add_argument("--guidellm", metavar="EXE", default=shutil.which("guidellm"),
                    help="GuideLLM's executable (its own virtualenv), run as a peer in the same run "
                         "(default: guidellm on PATH, if any)")
    args = ap.parse_args(argv)
    levels = parse_levels(args.levels)
    peers = {}
    if args.guidellm:
        from benchmarks.guidellm_peer import peer
        peers["guidellm"] = peer(args.guidellm)
    else:
        print("GuideLLM not found (give --guidellm PATH): measured without it", file=sys.stderr)
    rows = asyncio.run(calibrate(levels, naive=not args.no_naive, min_requests=args.min_requests,
                                 in_process=args.in_process, floor_row=True, peers=peers,
                                 progress=lambda m: print(m, file=sys.stderr, flush=True)))
    if args.json:
        print(json.dumps([r.to_dict() for r in rows], indent=2))
        return 0
    print(f"tokenrace accuracy on {platform.machine()} x{os.cpu_count()} ({_cpu_model()}), Python "
          f"{platform.python_version()}, {time.strftime('%Y-%m-%d')}, "
          f"simulator {'in process' if args.in_process else 'in its own process'}; profile: TTFT "
          f"{PROFILE['ttft_ms']:g} ms, ITL {PROFILE['itl_ms']:g} ms, {PROFILE['answer_tokens']} tokens\n")
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
