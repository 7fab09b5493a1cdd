"""How many streams can bench follow with its loops still on time? ``load.workers`` at high concurrency.

    python benchmarks/workers.py                          # 512 streams; 1 and 2 workers
    python benchmarks/workers.py --concurrency 256 --workers 1,2 --rounds 3

The simulator runs in its own process (the calibration profile: TTFT 50 ms, ITL 20 ms, 16 tokens);
``tokenrace bench`` drives it with an inline provider, closed loop, ``rounds`` requests per slot. For
each worker count: every worker's event-loop lag (p50, p99, max; sampled every 20 ms over the
measured step), TTFT p50/p99 as bench reports it, and the CPU per request of the worker processes
(their rusage, start-up included).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tokenrace.bench.calibrate import PROFILE  # noqa: E402


def start_sim():
    from tokenrace.bench.calibrate import _Sim

    sim = _Sim(in_process=False)
    asyncio.run(sim.start())
    return sim


async def one(url: str, concurrency: int, workers: int, rounds: int, out: Path) -> dict:
    from tokenrace.bench.scenario import parse_scenario
    from tokenrace.bench.session import run_bench

    text = f"""\
providers:
  - {{name: sim, kind: openai, model: m, base_url: "{url}", timeout: {{connect: 30, read: 60, total: 300}}}}
prompts: ["Calibrate the clock."]
params: {{max_tokens: 64}}
repetitions: {concurrency * rounds}
load: {{concurrency: {concurrency}, workers: {workers}}}
"""
    sc = parse_scenario(text, "<workers benchmark>")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    outcome = await run_bench(sc, out, history=False, handle_sigint=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    res = outcome.result
    ok = [r for r in res.records if r["status"] == "ok"]
    ttft = sorted(r["ttft_ms"] for r in ok)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    lags = res.lag.get("workers") or [dict(res.lag, worker=0)]
    return {"concurrency": concurrency, "workers": workers, "requests": len(res.records), "ok": len(ok),
            "wall_s": round(wall, 2), "ttft_p50": ttft[len(ttft) // 2] if ttft else None,
            "ttft_p99": ttft[int(len(ttft) * 0.99)] if ttft else None,
            "worker_cpu_ms_per_request": round(cpu * 1000 / max(1, len(res.records)), 3) if workers > 1 else None,
            "lag": [{k: w.get(k) for k in ("worker", "samples", "p50_ms", "p99_ms", "max_ms", "saturated")}
                    for w in lags]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--concurrency", type=int, default=512)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--rounds", type=int, default=3, help="requests per slot")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    sim = start_sim()
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for n in (int(x) for x in args.workers.split(",")):
                print(f"{args.concurrency} streams, {n} worker(s)", file=sys.stderr, flush=True)
                rows.append(asyncio.run(one(sim.base_url(), args.concurrency, n, args.rounds, Path(tmp) / f"w{n}")))
    finally:
        asyncio.run(sim.stop())
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"profile: TTFT {PROFILE['ttft_ms']:g} ms, ITL {PROFILE['itl_ms']:g} ms, {PROFILE['answer_tokens']} tokens; "
          f"{os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}\n")
    print("| streams | workers | ok | TTFT p50 | TTFT p99 | worker | lag p50 | lag p99 | lag max | saturated |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        for w in r["lag"]:
            print(f"| {r['concurrency']} | {r['workers']} | {r['ok']}/{r['requests']} | {r['ttft_p50']:.1f} | "
                  f"{r['ttft_p99']:.1f} | {w['worker'] + 1} | {w['p50_ms']:.2f} | {w['p99_ms']:.2f} | "
                  f"{w['max_ms']:.2f} | {'yes' if w['saturated'] else 'no'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
