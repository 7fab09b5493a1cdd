"""How fast does ``tokenrace serve`` fan events out? Delivery latency, throughput, memory per subscriber.

    python benchmarks/fanout.py                     # 1, 100 and 1000 subscribers
    python benchmarks/fanout.py --levels 1,100 --json

The real server (Tornado, this process) on loopback; subscribers are SSE connections in separate
client processes, each parsing every event with ``tokenrace.sse.SSEDecoder``: lean asyncio
Protocols by default (``benchmarks/sse_client.py``), or aiohttp (``--client aiohttp``, whose own
per-read cost dominates at hundreds of subscribers per client process). Events are
published straight into a hub channel (no providers), each carrying ``perf_counter_ns()`` at publish;
CLOCK_MONOTONIC is shared by both processes on Linux, so a client computes delivery latency as
``arrival - publish`` (arrival = when its read returned, before parsing). Per level:

* paced: ``--rate`` events/s for ``--paced-s`` seconds -> delivery latency p50/p99 (not saturated);
* burst: events published as fast as the server takes them (the publisher waits only when a
  subscriber's unread backlog passes 1000 events) -> deliveries/s end to end (clients included)
  and server-side (until every subscriber's events were handed to its socket);
* idle: memory per idle subscriber (RSS delta of this process, and Python heap via tracemalloc).

Every subscriber checks its ids are 1..n with no gap and no duplicate. Loopback only; at most
1000 subscribers; each phase has a time limit.
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import resource
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cluster import cpu_pressure  # noqa: E402

MAX_SUBSCRIBERS = 1000
PHASE_TIMEOUT_S = 120.0


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 65536) if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    pos = (len(v) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


# ---------------------------------------------------------------- client process
async def raw_client_main(url: str, n: int, idle: bool) -> None:
    from urllib.parse import urlsplit

    from sse_client import connect

    raise_fd_limit()
    u = urlsplit(url)
    states = [{"lat": [], "burst": 0, "burst_first": 0, "burst_last": 0, "bad": 0, "last_id": 0, "end": False}
              for _ in range(n)]

    def handler(st: dict):
        def on_event(ev, now: int) -> None:
            if ev.event == "end":
                st["end"] = True
                return
            i = int(ev.id)
            if i != st["last_id"] + 1:
                st["bad"] += 1
            st["last_id"] = i
            d = json.loads(ev.data)
            if d["phase"] == "paced":
                st["lat"].append(now - d["t"])
            else:
                st["burst"] += 1
                st["burst_first"] = st["burst_first"] or now
                st["burst_last"] = now
        return on_event

    protos = []
    for st in states:
        for attempt in range(5):
            try:
                protos.append(await connect(u.hostname, u.port, u.path, handler(st)))
                break
            except OSError:
                if attempt == 4:
                    raise
                await asyncio.sleep(0.05 * (attempt + 1))
    print("ready", flush=True)
    if idle:
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)   # until EOF
        for p in protos:
            p.close()
        return
    await asyncio.gather(*(p.closed for p in protos))
    for st in states:
        if not st["end"]:
            st["bad"] += 1                     # closed before "end": counted as bad
    out = {"lat_ms": [round(x / 1e6, 4) for st in states for x in st["lat"]],
           "burst_events": sum(st["burst"] for st in states),
           "burst_first_ns": min((st["burst_first"] for st in states if st["burst_first"]), default=0),
           "burst_last_ns": max(st["burst_last"] for st in states),
           "gaps_or_dups": sum(st["bad"] for st in states)}
    print(json.dumps(out), flush=True)


async def client_main(url: str, n: int, idle: bool) -> None:
    import aiohttp
    from tokenrace.sse import SSEDecoder

    raise_fd_limit()
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30)
    opened = 0

    async def one(session: aiohttp.ClientSession) -> dict:
        nonlocal opened
        dec = SSEDecoder()
        lat: list[int] = []
        burst_first = burst_last = 0
        burst = 0
        last_id = 0
        bad = 0
        async with session.get(url) as resp:
            opened += 1
            if opened == n:
                print("ready", flush=True)
            async for chunk in resp.content.iter_any():
                now = time.perf_counter_ns()
                for ev in dec.feed(chunk):
                    if ev.event == "end":
                        return {"lat": lat, "burst": burst, "burst_first": burst_first,
                                "burst_last": burst_last, "bad": bad, "last_id": last_id}
                    i = int(ev.id)
                    if i != last_id + 1:
                        bad += 1
                    last_id = i
                    d = json.loads(ev.data)
                    if d["phase"] == "paced":
                        lat.append(now - d["t"])
                    else:
                        burst += 1
                        burst_first = burst_first or now
                        burst_last = now
        return {"lat": lat, "burst": burst, "burst_first": burst_first, "burst_last": burst_last,
                "bad": bad + 1, "last_id": last_id}      # closed before "end": counted as bad

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        tasks = [asyncio.create_task(one(session)) for _ in range(n)]
        if idle:
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)   # until EOF
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            return
        results = await asyncio.gather(*tasks)
    out = {"lat_ms": [round(x / 1e6, 4) for r in results for x in r["lat"]],
           "burst_events": sum(r["burst"] for r in results),
           "burst_first_ns": min(r["burst_first"] for r in results if r["burst_first"]),
           "burst_last_ns": max(r["burst_last"] for r in results),
           "gaps_or_dups": sum(r["bad"] for r in results)}
    print(json.dumps(out), flush=True)


# ---------------------------------------------------------------- server process
CLIENT = "raw"


async def spawn_client(url: str, n: int, idle: bool = False) -> asyncio.subprocess.Process:
    args = [sys.executable, __file__, "--client", url, str(n), "--client-kind", CLIENT] + (["--idle"] if idle else [])
    return await asyncio.create_subprocess_exec(*args, stdin=asyncio.subprocess.PIPE,
                                                stdout=asyncio.subprocess.PIPE, limit=1 << 28)


async def wait_subscribers(hub, n: int, proc) -> None:
    async with asyncio.timeout(PHASE_TIMEOUT_S):
        while hub.subscriber_count < n:
            if proc.returncode is not None:
                raise RuntimeError("the client process ended early")
            await asyncio.sleep(0.01)
    if proc.returncode is not None:
        raise RuntimeError("the client process ended early")


async def measure_idle(server, n: int) -> dict:
    hub = server.hub
    ch = hub.open("idle")
    gc.collect()
    rss0 = rss_bytes()
    tracemalloc.start()
    heap0 = tracemalloc.get_traced_memory()[0]
    proc = await spawn_client(f"http://127.0.0.1:{server.port}/api/runs/idle/events", n, idle=True)
    await wait_subscribers(hub, n, proc)
    await asyncio.sleep(0.5)               # let every connection settle (first writes flushed)
    gc.collect()
    heap1 = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    rss1 = rss_bytes()
    proc.stdin.close()
    await proc.wait()
    ch.close()
    async with asyncio.timeout(PHASE_TIMEOUT_S):
        while hub.subscriber_count:
            await asyncio.sleep(0.01)
    return {"subscribers": n, "rss_kb_per_sub": (rss1 - rss0) / n / 1024,
            "heap_kb_per_sub": (heap1 - heap0) / n / 1024}


async def collect(proc) -> dict:
    async with asyncio.timeout(PHASE_TIMEOUT_S):
        line = b"ready"
        while line and not line.startswith(b"{"):
            line = await proc.stdout.readline()
        await proc.wait()
    if not line:
        raise RuntimeError("a client process gave no result")
    return json.loads(line)


async def measure_level(server, n: int, rate: float, paced_s: float, burst_deliveries: int, procs: int) -> dict:
    hub = server.hub
    run_id = f"fanout-{n}"
    ch = hub.open(run_id)
    url = f"http://127.0.0.1:{server.port}/api/runs/{run_id}/events"
    procs = max(1, min(procs, n))
    clients = [await spawn_client(url, n // procs + (1 if i < n % procs else 0)) for i in range(procs)]
    for p in clients:
        await wait_subscribers(hub, 0, p)
    async with asyncio.timeout(PHASE_TIMEOUT_S):
        while hub.subscriber_count < n:
            await asyncio.sleep(0.01)
    subs = list(ch.subscribers)
    pad = "x" * 40                          # a typical delta: a token or a few
    # paced: also time the server alone (publish -> the last subscriber's frames handed to its socket)
    handoff: list[float] = []
    interval = 1.0 / rate
    cpu0 = time.process_time()
    start = time.perf_counter()
    for i in range(int(rate * paced_s)):
        target = start + i * interval
        delay = target - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        t = time.perf_counter_ns()
        msg = ch.publish("delta", f'{{"provider":"bench","phase":"paced","text":"{pad}","t":{t}}}', "bench")
        j = 0                               # scan each subscriber once per event (cheap polling)
        while j < len(subs):
            if subs[j].cursor >= msg.id or subs[j].closed:
                j += 1
            else:
                await asyncio.sleep(0)
        handoff.append((time.perf_counter_ns() - t) / 1e6)
    paced_cpu_us = (time.process_time() - cpu0) * 1e6 / max(1, len(handoff) * n)
    # burst
    k = max(200, burst_deliveries // n)
    t0 = time.perf_counter_ns()
    published = 0
    async with asyncio.timeout(PHASE_TIMEOUT_S):
        while published < k:
            for _ in range(min(100, k - published)):
                ch.publish("delta", f'{{"provider":"bench","phase":"burst","text":"{pad}",'
                                    f'"t":{time.perf_counter_ns()}}}', "bench")
                published += 1
            await asyncio.sleep(0)
            while any(s.backlog()[0] > 1000 for s in subs if not s.closed):
                await asyncio.sleep(0.001)
        while any(s.cursor < ch.last_id for s in subs if not s.closed):
            await asyncio.sleep(0.001)
    t_server = time.perf_counter_ns()
    ch.publish("end", {"run": run_id, "status": "done"})
    ch.close()
    results = [await collect(p) for p in clients]
    dropped = sum(1 for s in subs if s.closed and s.reason != "client closed")
    lat = [x for r in results for x in r["lat_ms"]]
    return {
        "subscribers": n, "client_procs": procs, "paced_rate": rate,
        "lat_p50_ms": pct(lat, 50), "lat_p99_ms": pct(lat, 99), "lat_max_ms": max(lat),
        "server_p50_ms": pct(handoff, 50), "server_p99_ms": pct(handoff, 99),
        "server_cpu_us_per_delivery": paced_cpu_us,
        "burst_events": k, "deliveries": sum(r["burst_events"] for r in results),
        "e2e_per_s": sum(r["burst_events"] for r in results) / ((max(r["burst_last_ns"] for r in results) - t0) / 1e9),
        "server_per_s": k * n / ((t_server - t0) / 1e9),
        "gaps_or_dups": sum(r["gaps_or_dups"] for r in results), "dropped": dropped,
    }


async def server_main(args: argparse.Namespace) -> list[dict]:
    import logging

    from tokenrace.config.models import Config
    from tokenrace.server import Server, ServerSettings
    from tokenrace.store import RunStore

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    raise_fd_limit()
    levels = [int(x) for x in args.levels.split(",")]
    if any(not 1 <= n <= MAX_SUBSCRIBERS for n in levels):
        raise SystemExit(f"levels must be within 1..{MAX_SUBSCRIBERS}")
    rows = []
    async with RunStore(":memory:") as store:
        server = Server(Config(providers=()), store, ServerSettings(port=0))
        await server.start()
        try:
            idle = await measure_idle(server, max(levels))
            print(f"idle: {idle['subscribers']} subscribers, {idle['rss_kb_per_sub']:.1f} KB RSS and "
                  f"{idle['heap_kb_per_sub']:.1f} KB Python heap each", file=sys.stderr, flush=True)
            for n in levels:
                procs = args.client_procs or (1 if n < 100 else 2)
                row = await measure_level(server, n, args.rate, args.paced_s, args.burst_deliveries, procs)
                print(f"{n} subscribers done", file=sys.stderr, flush=True)
                rows.append(row)
        finally:
            await server.stop()
    return [idle] + rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--levels", default="1,100,1000", help=f"subscriber counts (at most {MAX_SUBSCRIBERS})")
    ap.add_argument("--rate", type=float, default=20.0, help="paced phase: events per second (default 20)")
    ap.add_argument("--client-procs", type=int, default=0,
                    help="client processes per level (default: 1 below 100 subscribers, else 2)")
    ap.add_argument("--paced-s", type=float, default=3.0, help="paced phase length in seconds (default 3)")
    ap.add_argument("--burst-deliveries", type=int, default=200_000,
                    help="burst phase: about this many subscriber-deliveries per level")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--client-kind", choices=("raw", "aiohttp"), default="raw",
                    help="subscribers: lean asyncio Protocols (raw, default) or aiohttp sessions")
    ap.add_argument("--client", nargs=2, metavar=("URL", "N"), help=argparse.SUPPRESS)
    ap.add_argument("--idle", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    global CLIENT
    CLIENT = args.client_kind
    if args.client:
        run = raw_client_main if args.client_kind == "raw" else client_main
        asyncio.run(run(args.client[0], int(args.client[1]), args.idle))
        return 0
    idle, *rows = asyncio.run(server_main(args))
    if args.json:
        print(json.dumps({"idle": idle, "levels": rows}, indent=2))
        return 0
    print(f"tokenrace serve fan-out on {platform.machine()} x{os.cpu_count()}, Python {platform.python_version()}; "
          f"server and {args.client_kind} clients in separate processes on loopback; load average "
          f"{os.getloadavg()[0]:.1f} at the end, CPU pressure {cpu_pressure()}% (PSI some avg60)\n")
    print(f"{'subs':>5} | {'delivery p50':>12} {'p99 ms':>8} {'max ms':>8} | {'server p50':>10} {'p99 ms':>8} | "
          f"{'e2e deliv/s':>12} {'server deliv/s':>15} | {'cpu us/deliv':>12} | {'gaps':>4} {'drops':>5}")
    for r in rows:
        print(f"{r['subscribers']:>5} | {r['lat_p50_ms']:>12.2f} {r['lat_p99_ms']:>8.2f} {r['lat_max_ms']:>8.2f} | "
              f"{r['server_p50_ms']:>10.2f} {r['server_p99_ms']:>8.2f} | "
              f"{r['e2e_per_s']:>12,.0f} {r['server_per_s']:>15,.0f} | {r['server_cpu_us_per_delivery']:>12.1f} | "
              f"{r['gaps_or_dups']:>4} {r['dropped']:>5}")
    print(f"\ndelivery: publish -> client read at {rows[0]['paced_rate']:g} events/s (the client process parses "
          f"every subscriber's events, so its own work is included); server: publish -> the last subscriber's "
          f"frame handed to its socket; e2e deliv/s: burst, until the clients parsed everything; server "
          f"deliv/s: until every frame was handed to a socket; cpu us/deliv: the server process's CPU time in the paced "
          f"phase per subscriber-delivery (what load on the machine does not change)")
    print(f"memory per idle subscriber ({idle['subscribers']} connected): {idle['rss_kb_per_sub']:.1f} KB RSS, "
          f"{idle['heap_kb_per_sub']:.1f} KB Python heap (tracemalloc)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
