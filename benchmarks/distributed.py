"""Is a distributed bench as accurate as one process? TTFT error against the simulator's truth.

    python benchmarks/distributed.py                        # concurrency 16 and 64, 3 rounds each
    python benchmarks/distributed.py --levels 16 --rounds 5 --json

The simulator runs in its own process (the calibration profile: TTFT 50 ms, ITL 20 ms, 16 tokens)
and timestamps what it writes. At each level the same scenario runs, in alternating order, as a
single-process ``tokenrace bench`` and as ``tokenrace bench --redis`` over 2 local ``tokenrace worker``
processes (a redis-server of its own on a free port, Debian's package). Every record is matched by
request id with the simulator's truth: TTFT error = |measured TTFT - the simulator's (request
received -> first answer chunk written)|. Goal: the distributed median within 1 ms of the single
process's.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tokenrace.bench.calibrate import PROFILE, _Sim  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(folder: Path) -> tuple[subprocess.Popen, str]:
    exe = shutil.which("redis-server")
    if exe is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server)")
    port = _free_port()
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(folder)], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("redis-server did not start")


def start_workers(url: str, cfg: Path, n: int, folder: Path) -> list[subprocess.Popen]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return [subprocess.Popen([sys.executable, "-m", "tokenrace", "worker", "--redis", url, "--name", f"w{k + 1}",
                              "-c", str(cfg)], stdout=open(folder / f"w{k + 1}.log", "wb"), stderr=subprocess.STDOUT,
                             env=env) for k in range(n)]


async def wait_workers(url: str, n: int) -> None:
    from tokenrace.bench.dist import Keys, present_workers
    from tokenrace.redisconn import connect

    r = await connect(url)
    try:
        deadline = time.monotonic() + 60
        while len([w for w in await present_workers(r, Keys()) if not w.get("job")]) < n:
            if time.monotonic() > deadline:
                raise SystemExit("the workers did not start (see their logs)")
            await asyncio.sleep(0.1)
    finally:
        await r.aclose()


def mode_name(mode: str) -> str:
    kind, n = mode[:-1], int(mode[-1])
    return {"single": "one process", "local": f"load.workers: {n} (local processes)",
            "redis": f"{n} worker{'s' if n > 1 else ''} via Redis"}[kind]


async def one(sim: _Sim, cfg: Path, level: int, rounds: int, out: Path, mode: str, url: str) -> dict:
    from tokenrace.bench.scenario import parse_scenario
    from tokenrace.bench.session import Distributed, run_bench

    kind, n = mode[:-1], int(mode[-1])
    text = (f"config: {cfg}\nprompts: [\"Calibrate the clock.\"]\nparams: {{max_tokens: 64}}\nwarmup: 1\n"
            f"repetitions: {level * rounds}\nload: {{concurrency: {level}, workers: {n if kind == 'local' else 1}}}\n")
    sc = parse_scenario(text, "<distributed benchmark>")
    if kind == "redis":
        await wait_workers(url, n)
    dist = Distributed(url, workers=n) if kind == "redis" else None
    outcome = await run_bench(sc, out, history=False, handle_sigint=False, distributed=dist)
    async with aiohttp.ClientSession() as session:
        truths = await sim.truths(session)
    errs = []
    for r in outcome.result.records:
        t = truths.get(r["request_id"])
        if r["status"] == "ok" and t is not None and t.ttft_ns is not None and r["ttft_ms"] is not None:
            errs.append(abs(r["ttft_ms"] - t.ttft_ns / 1e6))
    errs.sort()
    return {"mode": mode_name(mode), "concurrency": level,
            "requests": len(outcome.result.records), "matched": len(errs),
            "ttft_err_p50_ms": round(statistics.median(errs), 3) if errs else None,
            "ttft_err_p99_ms": round(errs[min(len(errs) - 1, int(len(errs) * 0.99))], 3) if errs else None,
            "lag_p99_ms": outcome.result.lag.get("p99_ms")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--levels", default="16,64", help="closed-loop concurrency levels")
    ap.add_argument("--rounds", type=int, default=3, help="runs of each mode per level (alternating)")
    ap.add_argument("--per-slot", type=int, default=4, help="requests per slot in each run")
    ap.add_argument("--modes", default="single1,redis2",
                    help="single1 (one process), localN (load.workers: N), redisN (N workers via Redis; N <= 2)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    levels = [int(x) for x in args.levels.split(",")]
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sim = _Sim(in_process=False)
        asyncio.run(sim.start())
        redis, url = start_redis(folder)
        cfg = folder / "providers.yaml"
        cfg.write_text(f"providers:\n  - {{name: sim, kind: openai, model: m, base_url: \"{sim.base_url()}\", "
                       f"timeout: {{connect: 30, read: 60, total: 300}}}}\n")
        modes = args.modes.split(",")
        procs = start_workers(url, cfg, max([int(m[-1]) for m in modes if m.startswith("redis")] or [0]), folder)
        try:
            for level in levels:
                for k in range(args.rounds):
                    for mode in (modes if k % 2 == 0 else modes[::-1]):     # alternating order
                        print(f"concurrency {level}, round {k + 1}: {mode_name(mode)}", file=sys.stderr, flush=True)
                        rows.append(asyncio.run(one(sim, cfg, level, args.per_slot, folder / f"o{len(rows)}", mode,
                                                    url)))
        finally:
            for p in procs:
                p.send_signal(signal.SIGTERM)
            for p in procs:
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    if os.environ.get("DIST_DEBUG"):
                        subprocess.run(["py-spy", "dump", "--pid", str(p.pid)])
                    print(f"worker {p.pid} did not stop on SIGTERM in 15 s: killed", file=sys.stderr)
                    p.kill()
                    p.wait()
            redis.terminate()
            redis.wait(10)
            asyncio.run(sim.stop())
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"profile: TTFT {PROFILE['ttft_ms']:g} ms, ITL {PROFILE['itl_ms']:g} ms, {PROFILE['answer_tokens']} tokens; "
          f"{os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}; {args.rounds} runs of each mode per level\n")
    print("| concurrency | mode | runs | requests matched | TTFT err p50 (median of runs; vs the first mode) | "
          "TTFT err p99 (median) | p50 range over runs | client lag p99 (median) |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for level in levels:
        base = None
        for mode in modes:
            mine = [r for r in rows if r["concurrency"] == level and r["mode"] == mode_name(mode)]
            p50 = statistics.median(r["ttft_err_p50_ms"] for r in mine)
            p99 = statistics.median(r["ttft_err_p99_ms"] for r in mine)
            base = p50 if base is None else base
            lag = statistics.median(r["lag_p99_ms"] or 0.0 for r in mine)
            print(f"| {level} | {mode_name(mode)} | {len(mine)} | {sum(r['matched'] for r in mine)}/"
                  f"{sum(r['requests'] for r in mine)} | {p50:.2f} ms ({p50 - base:+.2f}) | {p99:.2f} ms | "
                  f"{min(r['ttft_err_p50_ms'] for r in mine):.2f}–{max(r['ttft_err_p50_ms'] for r in mine):.2f} ms | "
                  f"{lag:.1f} ms |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
