"""CPU per streamed request: the floor, tokenrace as bench runs it, and (optionally) another tree of tokenrace.

    python benchmarks/cpu.py                                  # 256 streams, 512 requests, 5 interleaved rounds
    python benchmarks/cpu.py --baseline /tmp/tokenrace-main   # beside a checkout of another commit

Each client runs in a process of its own against one simulator (its own process; the calibration
profile: TTFT 50 ms, ITL 20 ms, 16 tokens), one after the other, for ``rounds`` rounds; the figures
are medians over the rounds, so a busy moment of a shared machine moves one sample, not the result.
"whole": the process's user+system CPU (``os.wait4``) over its requests, start-up included; "steady":
from ready to send (imports done) to done. The baseline tree runs on asyncio's loop (no uvloop) with
its own code, as it did.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tokenrace.bench.calibrate import PROFILE, _Sim, probe  # noqa: E402


async def main_async(args: argparse.Namespace) -> dict:
    sim = _Sim(in_process=False)
    await sim.start()
    clients = [("floor", "floor", None, "auto"), ("tokenrace", "tokenrace", None, "auto")]
    if args.baseline:
        clients.append(("tokenrace (baseline)", "tokenrace", Path(args.baseline), "asyncio"))
    if args.naive:
        clients.append(("naive aiohttp", "naive", None, "auto"))
    got: dict[str, list[tuple[float, float, float | None]]] = {c[0]: [] for c in clients}
    try:
        for r in range(args.rounds):
            for label, client, src, loop in clients:
                print(f"round {r + 1}/{args.rounds}: {label}", file=sys.stderr, flush=True)
                run = await probe(client, [sim.base_url()], args.level, args.requests, loop=loop, src=src)
                n = len(run.measured)
                ok = sum(1 for m in run.measured if m[3])
                got[label].append((1000 * (run.cpu_s or 0) / n, 1000 * (run.steady_s or 0) / n,
                                   run.lag.get("p99_ms")))
                if ok != n:
                    print(f"  {label}: {n - ok} of {n} requests failed", file=sys.stderr)
    finally:
        await sim.stop()
    med = {k: {"whole_ms": statistics.median(x[0] for x in v), "steady_ms": statistics.median(x[1] for x in v),
               "whole_all": [round(x[0], 3) for x in v], "lag_p99_ms": statistics.median(x[2] or 0 for x in v)}
           for k, v in got.items()}
    return med


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--level", type=int, default=256)
    ap.add_argument("--requests", type=int, default=512)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--baseline", metavar="DIR", help="another source tree of tokenrace (e.g. git archive of main)")
    ap.add_argument("--naive", action="store_true", help="also the naive plain-aiohttp client")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    med = asyncio.run(main_async(args))
    if args.json:
        print(json.dumps(med, indent=2))
        return 0
    floor = med["floor"]
    print(f"{args.level} streams, {args.requests} requests a client, {args.rounds} rounds; {os.cpu_count()} CPUs, "
          f"{time.strftime('%Y-%m-%d')}; TTFT {PROFILE['ttft_ms']:g} ms, ITL {PROFILE['itl_ms']:g} ms, "
          f"{PROFILE['answer_tokens']} tokens\n")
    print("| client | CPU/request whole (median) | × floor | steady | × floor | whole, each round | loop lag p99 |")
    print("|---|---:|---:|---:|---:|---|---:|")
    for k, d in med.items():
        print(f"| {k} | {d['whole_ms']:.3f} ms | {d['whole_ms'] / floor['whole_ms']:.2f}× | {d['steady_ms']:.3f} ms | "
              f"{d['steady_ms'] / floor['steady_ms']:.2f}× | {', '.join(f'{x:.2f}' for x in d['whole_all'])} | "
              f"{d['lag_p99_ms']:.1f} ms |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
