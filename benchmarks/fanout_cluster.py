"""Fan-out over several processes: N subscribers of one run, served by `tokenrace serve --redis --workers W`.

    python benchmarks/fanout_cluster.py                        # 10,000 subscribers, 4 workers, 20 events/s
    python benchmarks/fanout_cluster.py --subscribers 2000 --workers 2 --json

A throw-away redis-server; `tokenrace serve --redis URL --workers W` on one port (SO_REUSEPORT spreads
the connections); this process is the run's owner: it publishes the run's frames through the same
``RedisBridge.publish`` a serving process uses (one pipeline of XADDs per loop turn), each carrying
``perf_counter_ns()`` at publish, at ``--rate`` events/s. Subscribers are lean SSE clients
(``sse_client.py``) in ``--client-procs`` processes; delivery latency is publish -> the client read
the bytes (CLOCK_MONOTONIC is shared on Linux), so it includes Redis, each worker's one XREAD reader
per run, its fan-out, and the clients' own work, all on this machine's cores. Each subscriber checks
its ids are contiguous (no gap, no duplicate) and that it got ``end``.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cluster import RedisServer, Serve, cpu_of, cpu_pressure, raise_fd_limit, send_floor_us  # noqa: E402
from fanout import pct  # noqa: E402


# ---------------------------------------------------------------- client process
async def client_main(url: str, n: int, events: int) -> None:
    from urllib.parse import urlsplit

    from sse_client import connect

    raise_fd_limit()
    u = urlsplit(url)
    states = [{"lat": [], "last": 0, "bad": 0, "end": False, "warm": False} for _ in range(n)]
    warm = drained = 0
    ready = asyncio.Event()

    def handler(st: dict):
        def on_event(ev, now: int) -> None:
            nonlocal warm, drained
            if ev.event == "end":
                st["end"] = True
                return
            i = int(ev.id)
            if i != st["last"] + 1:
                st["bad"] += 1
            st["last"] = i
            d = json.loads(ev.data)
            if d["phase"] == "paced":
                st["lat"].append(now - d["t"])
                if len(st["lat"]) == events:
                    drained += 1
                    if drained == n:
                        print("drained", flush=True)     # every paced event reached every connection
            elif not st["warm"]:
                st["warm"] = True
                warm += 1
                if warm == n:
                    ready.set()
        return on_event

    protos = []
    for st in states:
        for attempt in range(10):
            try:
                protos.append(await connect(u.hostname, u.port, u.path, handler(st)))
                break
            except OSError:
                if attempt == 9:
                    raise
                await asyncio.sleep(0.05 * (attempt + 1))
    await ready.wait()                       # every connection got the first event: subscribed
    print("ready", flush=True)
    await asyncio.gather(*(p.closed for p in protos))
    out = {"lat_ms": [round(x / 1e6, 3) for st in states for x in st["lat"]],
           "gaps_or_dups": sum(st["bad"] for st in states),
           "no_end": sum(1 for st in states if not st["end"])}
    print(json.dumps(out), flush=True)


# ---------------------------------------------------------------- the owner
async def main_async(args: argparse.Namespace) -> dict:
    from tokenrace.protocol import Frame
    from tokenrace.server.hub import Hub
    from tokenrace.server.redis_bridge import RedisBridge

    raise_fd_limit()
    redis = RedisServer()
    home = tempfile.mkdtemp(prefix="tokenrace-cluster-")
    serve = None
    try:
        serve = await Serve.start("--port", "0", "--redis", redis.url, "--workers", str(args.workers),
                                  "--db", os.path.join(home, "runs.db"), home=home)
        owner = RedisBridge(redis.url)
        await owner.connect(Hub())
        run_id = "cluster-bench"
        await owner.put_record({"id": run_id, "prompt": "bench", "created": time.time(), "providers": [],
                                "status": "running", "source": "bench", "params": {}, "results": [],
                                "finished": None, "parent": None}, index=True)
        next_id = 1

        def publish(event: str, data: str, provider: str | None = "bench") -> None:
            nonlocal next_id
            owner.publish(run_id, Frame(next_id, event, provider, data))
            next_id += 1

        pad = "x" * 40
        publish("delta", f'{{"provider":"bench","phase":"warm","text":"{pad}","t":0}}')
        await owner.flush()
        url = f"{serve.url}api/runs/{run_id}/events"
        procs = []
        per = [args.subscribers // args.client_procs + (1 if i < args.subscribers % args.client_procs else 0)
               for i in range(args.client_procs)]
        t_connect = time.perf_counter()
        for n in per:
            procs.append(await asyncio.create_subprocess_exec(
                sys.executable, __file__, "--client", url, str(n), str(int(args.rate * args.seconds)),
                stdout=asyncio.subprocess.PIPE, limit=1 << 28))
        async with asyncio.timeout(300):
            for p in procs:
                line = await p.stdout.readline()
                if line.strip() != b"ready":
                    raise SystemExit("a client process failed before it was ready")
        connect_s = time.perf_counter() - t_connect
        await asyncio.sleep(1.0)              # let the connection storm's after-effects settle
        spy = None
        if args.profile:
            # py-spy on the first worker for the paced phase (raw collapsed stacks: benchmarks/profile_top.py)
            spy = await asyncio.create_subprocess_exec(
                "py-spy", "record", "-r", "200", "-f", "raw", "-o", args.profile, "-d", str(int(args.seconds)),
                "--pid", str(serve.pids[0]), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        cpu0, ccpu0 = serve.cpu_s(), cpu_of([p.pid for p in procs])
        interval = 1.0 / args.rate
        count = int(args.rate * args.seconds)
        start = time.perf_counter()
        for i in range(count):
            delay = start + i * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            publish("delta", f'{{"provider":"bench","phase":"paced","text":"{pad}","t":{time.perf_counter_ns()}}}')
        await owner.flush()
        async with asyncio.timeout(600):
            for p in procs:
                if (await p.stdout.readline()).strip() != b"drained":
                    raise SystemExit("a client process failed before it had every event")
        drained_s = time.perf_counter() - start
        cpu, ccpu = serve.cpu_s() - cpu0, cpu_of([p.pid for p in procs]) - ccpu0
        if spy is not None:
            await spy.wait()
        publish("end", json.dumps({"run": run_id, "status": "done"}), None)
        await owner.flush()
        results = []
        async with asyncio.timeout(300):
            for p in procs:
                lines = (await p.stdout.read()).splitlines()
                await p.wait()
                results.append(json.loads(lines[-1]))
        await owner.close()
        lat = [x for r in results for x in r["lat_ms"]]
        return {"subscribers": args.subscribers, "workers": args.workers, "client_procs": args.client_procs,
                "rate": args.rate, "events": count, "deliveries": len(lat), "expected": count * args.subscribers,
                "lat_p50_ms": pct(lat, 50), "lat_p90_ms": pct(lat, 90), "lat_p99_ms": pct(lat, 99),
                "lat_max_ms": max(lat) if lat else None, "connect_s": connect_s,
                "server_cpu_us_per_delivery": cpu * 1e6 / max(1, len(lat)),
                "server_cpu_share": cpu / drained_s, "drained_s": drained_s,
                "client_cpu_us_per_delivery": ccpu * 1e6 / max(1, len(lat)),
                "client_cpu_share": ccpu / drained_s,
                "send_floor_us": send_floor_us(),
                "gaps_or_dups": sum(r["gaps_or_dups"] for r in results),
                "no_end": sum(r["no_end"] for r in results), "load_avg": os.getloadavg()[0],
                "cpu_pressure_pct": cpu_pressure()}
    finally:
        if serve is not None:
            await serve.stop()
        redis.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--subscribers", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--client-procs", type=int, default=4)
    ap.add_argument("--rate", type=float, default=20.0, help="events per second (default 20)")
    ap.add_argument("--seconds", type=float, default=10.0, help="paced phase length (default 10)")
    ap.add_argument("--profile", metavar="FILE", help="py-spy the first worker during the paced phase into FILE")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--client", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.client:
        asyncio.run(client_main(args.client[0], int(args.client[1]), int(args.client[2])))
        return 0
    r = asyncio.run(main_async(args))
    if args.json:
        print(json.dumps(r, indent=2))
        return 0
    print(f"fan-out over {r['workers']} `serve --redis` workers on one port, {r['subscribers']:,} subscribers in "
          f"{r['client_procs']} client processes, {r['rate']:g} events/s for {r['events']} events; "
          f"{platform.machine()} x{os.cpu_count()}, load average {r['load_avg']:.1f}, CPU pressure "
          f"{r['cpu_pressure_pct']}% (PSI some avg60)")
    print(f"delivery p50 {r['lat_p50_ms']:.1f} ms, p90 {r['lat_p90_ms']:.1f} ms, p99 {r['lat_p99_ms']:.1f} ms, "
          f"max {r['lat_max_ms']:.1f} ms; {r['deliveries']:,} of {r['expected']:,} deliveries; "
          f"gaps or duplicates {r['gaps_or_dups']}, streams without end {r['no_end']}")
    print(f"every event delivered everywhere {r['drained_s']:.1f} s after the first was published "
          f"({r['events'] / r['rate']:.1f} s of publishing)")
    print(f"CPU per delivery until then: servers {r['server_cpu_us_per_delivery']:.1f} us "
          f"({r['server_cpu_share']:.2f} cores), clients {r['client_cpu_us_per_delivery']:.1f} us ({r['client_cpu_share']:.2f} cores); "
          f"one loopback send alone costs {r['send_floor_us']:.1f} us here")
    print(f"{r['subscribers']:,} connected in {r['connect_s']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
