"""Does ``tokenrace run``'s live display delay byte reads? TTFT error of ``run`` with 8 providers, beside the floor.

    python benchmarks/run_accuracy.py                 # 10 rounds of 8 streams each
    python benchmarks/run_accuracy.py --rounds 20 --json

A simulator (its own process) serves 8 profiles with the calibration timing. Each round, in turn:
the floor (a raw asyncio Protocol that only stamps reads) opens 8 new connections and sends the 8
requests at once; ``tokenrace run`` races the same 8 providers in a pseudo-terminal (``script``), so its live
display redraws as a user sees it; and ``tokenrace run --json`` (no display) does the same. Each
``run`` is read back from its own run history database (a fourth client, ``--switch-ms``: the live display
with a shorter interpreter thread switch interval, to see how much of the display's cost is the
engine thread waiting for the GIL) (its events: t_sent, the first answer chunk,
the simulator's request id), and every TTFT is compared with the simulator's truth. Errors are
measured - truth, in ms (new connections: the request's own trip is in every client's figure).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shlex
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tokenrace.bench.calibrate import PROFILE, probe  # noqa: E402
from tokenrace.metrics import NS_PER_MS, summarize  # noqa: E402

NAMES = [f"p{i}" for i in range(1, 9)]
ROOT = Path(__file__).resolve().parents[1]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(COLUMNS="160", LINES="50", TERM="xterm-256color")
    return env


def start_sim() -> tuple[subprocess.Popen[str], str]:
    code = ("import asyncio,sys\nfrom tokenrace.simulator import Profile, Simulator\n"
            "async def main():\n"
            "    s = Simulator([Profile(**dict(%r, name=n)) for n in %r]); await s.start(); print(s.url, flush=True)\n"
            "    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)\n    await s.stop()\n"
            "asyncio.run(main())\n" % (PROFILE, NAMES))
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            cwd=str(ROOT), env=_env())
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def truths(url: str) -> dict[str, dict]:
    import urllib.request

    out: dict[str, dict] = {}
    for name in NAMES:
        with urllib.request.urlopen(f"{url}/_sim/requests?profile={name}") as resp:
            for d in json.load(resp):
                out[d["request_id"]] = d
    return out


def run_cli(config: Path, db: Path, tty: bool, switch_ms: float | None = None) -> None:
    """``tokenrace run`` on the 8 providers: in a pseudo-terminal (live display) or with --json.
    ``switch_ms``: the interpreter's thread switch interval (``sys.setswitchinterval``) for this run."""
    start = ["-m", "tokenrace"] if switch_ms is None else [
        "-c", f"import sys; sys.setswitchinterval({switch_ms / 1000!r}); from tokenrace.cli import main; "
              f"sys.argv[0] = 'tokenrace'; sys.exit(main())"]
    cmd = [sys.executable, *start, "run", "-c", str(config), "--db", str(db), "--max-tokens", "64",
           "Calibrate the clock."]
    if not tty:
        subprocess.run(cmd + ["--json"], cwd=str(ROOT), env=_env(), stdout=subprocess.DEVNULL, check=True,
                       stdin=subprocess.DEVNULL)
        return
    # script(1) gives it a pseudo-terminal of its own as its controlling terminal, as a terminal window does.
    # `run` with its live display does not always exit after the race (the end message can be folded into a
    # batch of messages its loop never looks at again), so the race's end is read from its run history and
    # the process is then stopped.
    line = " ".join(shlex.quote(c) for c in cmd)
    proc = subprocess.Popen(["script", "-qec", line, "/dev/null"], cwd=str(ROOT), env=_env(),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if _finished(db):
                try:
                    proc.wait(2)        # a clean exit, when it makes one
                except subprocess.TimeoutExpired:
                    pass
                break
            time.sleep(0.1)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)


def _finished(db: Path) -> bool:
    if not db.exists():
        return False
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            row = conn.execute("SELECT status FROM runs ORDER BY created DESC LIMIT 1").fetchone()
    except sqlite3.Error:
        return False
    return row is not None and row[0] != "running"


def run_errors(db: Path, truth: dict[str, dict]) -> list[float]:
    """TTFT error of each stream of the newest run in ``db``, from its events."""
    from tokenrace.events import Headers, Started, TextDelta
    from tokenrace.store import RunStore

    async def read() -> list[float]:
        store = RunStore(db)
        await store.open()
        try:
            run_id = (await store.list_runs(1))[0]["id"]
            events = await store.get_events(run_id)
        finally:
            await store.close()
        by: dict[str, dict[str, Any]] = {}
        for ev in events:
            d = by.setdefault(ev.provider, {})
            if isinstance(ev, Started):
                d["sent"] = ev.t_ns
            elif isinstance(ev, Headers):
                d["rid"] = ev.request_id
            elif isinstance(ev, TextDelta) and ev.text and "first" not in d:
                d["first"] = ev.t_ns
        out = []
        for d in by.values():
            tr = truth.get(d.get("rid", ""))
            if tr and tr["ttft_ns"] is not None and "first" in d:
                out.append((d["first"] - d["sent"] - tr["ttft_ns"]) / NS_PER_MS)
        return out
    return asyncio.run(read())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--switch-ms", type=float, default=0.5,
                    help="also run with the live display and this thread switch interval (0: not)")
    args = ap.parse_args(argv)
    sim, url = start_sim()
    errs: dict[str, list[float]] = {"floor": [], "run (live display)": [], "run --json": []}
    switched = f"run (live display, switch interval {args.switch_ms:g} ms)"
    if args.switch_ms:
        errs[switched] = []
    rounds: dict[str, list[tuple[float, float]]] = {k: [] for k in errs}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "tokenrace.yaml"
            config.write_text("providers:\n" + "".join(
                f"  - {{name: {n}, kind: openai, model: m, base_url: '{url}/{n}/v1'}}\n" for n in NAMES))
            urls = [f"{url}/{n}/v1" for n in NAMES]
            for r in range(args.rounds):
                print(f"round {r + 1}/{args.rounds}", file=sys.stderr, flush=True)
                for name in errs:
                    truths(url)                  # (the simulator keeps every truth; ids are unique)
                    if name == "floor":
                        got = asyncio.run(probe("floor", urls, 8, 8, new_connections=True, warmup=0))
                        tr = truths(url)
                        e = [(c[0][0] - t0 - tr[rid]["ttft_ns"]) / NS_PER_MS for rid, t0, c, ok in got.measured
                             if ok and rid in tr]
                    else:
                        db = Path(tmp) / f"run-{r}-{list(errs).index(name)}.db"
                        run_cli(config, db, tty=name.startswith("run (live"),
                                switch_ms=args.switch_ms if name == switched else None)
                        e = run_errors(db, truths(url))
                    errs[name] += e
                    if e:
                        rounds[name].append((sorted(e)[len(e) // 2], max(e)))
    finally:
        if sim.stdin:
            sim.stdin.close()
        sim.wait(5)
    doc = {k: {"streams": len(v), "ttft_err": summarize(v), "rounds_median": [x for x, _ in rounds[k]],
               "rounds_worst": [y for _, y in rounds[k]]} for k, v in errs.items()}
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    print(f"tokenrace run, 8 providers, {args.rounds} rounds; {platform.machine()} x{os.cpu_count()}, "
          f"{time.strftime('%Y-%m-%d')}; TTFT error = measured - truth (ms), 8 new connections a round\n")
    print("| client | streams | median | p90 | worst | round medians (min–max) | round worsts (min–max) |")
    print("|---|---:|---:|---:|---:|---|---|")
    for k, d in doc.items():
        s = d["ttft_err"]
        rm, rw = d["rounds_median"], d["rounds_worst"]
        print(f"| {k} | {d['streams']} | {s['p50']:.2f} | {s['p90']:.2f} | {s['max']:.2f} | "
              f"{min(rm):.2f}–{max(rm):.2f} | {min(rw):.2f}–{max(rw):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
