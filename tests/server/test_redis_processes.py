"""`tokenrace serve --redis` as real processes: A and B share one Redis; A is killed; --workers on one port."""
from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from tokenrace.simulator import Profile, Simulator, answer_tokens

from tests.server import read_sse

ROOT = Path(__file__).resolve().parents[2]
PROFILES = (Profile("long", ttft_ms=20, itl_ms=8, answer_tokens=400),
            Profile("short", ttft_ms=10, itl_ms=4, answer_tokens=60))


@pytest.fixture
async def sim():
    s = Simulator(PROFILES)
    await s.start()
    yield s
    await s.stop()


def write_config(sim: Simulator, path: Path) -> Path:
    lines = ["providers:"]
    for p in PROFILES:
        lines += [f"  - name: {p.name}", "    kind: openai", f"    model: m-{p.name}",
                  f"    base_url: {sim.base_url(p.name, 'openai')}", "    retries: 0"]
    path.write_text("\n".join(lines) + "\ndefaults: {params: {max_tokens: 512}}\n")
    return path


class Proc:
    def __init__(self, proc: asyncio.subprocess.Process, url: str) -> None:
        self.proc, self.url = proc, url

    async def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        try:
            return await asyncio.wait_for(self.proc.wait(), 30)
        except TimeoutError:
            self.proc.kill()
            return await self.proc.wait()


async def spawn(tmp_path: Path, name: str, *args: str) -> Proc:
    env = {k: v for k, v in os.environ.items() if k != "TOKENRACE_CONFIG"}
    env.update(HOME=str(tmp_path), XDG_DATA_HOME=str(tmp_path / f"data-{name}"), PYTHONPATH=str(ROOT))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tokenrace", "serve", *args, cwd=str(tmp_path), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    async with asyncio.timeout(30):
        while True:
            line = (await proc.stdout.readline()).decode()
            if not line:
                raise AssertionError((await proc.stderr.read()).decode())
            if m := re.search(r"open (http://\S+/)", line):
                asyncio.create_task(_drain(proc))
                return Proc(proc, m.group(1))


async def _drain(proc: asyncio.subprocess.Process) -> None:
    async def pump(stream):
        while stream is not None and await stream.read(65536):
            pass
    await asyncio.gather(pump(proc.stdout), pump(proc.stderr))


async def create(session: aiohttp.ClientSession, url: str, body: dict) -> str:
    async with session.post(url + "api/runs", json=body) as r:
        doc = await r.json()
        assert r.status == 201, doc
        return doc["id"]


@pytest.fixture
async def two(sim, tmp_path, redis_url):
    cfg = write_config(sim, tmp_path / "tokenrace.yaml")
    common = ("--port", "0", "-c", str(cfg), "--redis", redis_url, "--lease", "1")
    a = await spawn(tmp_path, "a", *common, "--db", str(tmp_path / "a.db"))
    b = await spawn(tmp_path, "b", *common, "--db", str(tmp_path / "b.db"))
    yield a, b
    await asyncio.gather(a.stop(), b.stop())


async def test_run_on_a_read_on_b_reconnecting_alternately_is_byte_identical(two, sim):
    a, b = two
    rng = random.Random(5)
    async with aiohttp.ClientSession() as s:
        run_id = await create(s, a.url, {"prompt": "across processes", "providers": ["long", "short"]})
        got, last, n = [], None, 0
        while True:
            url = (b.url, a.url)[n % 2]
            headers = {"Last-Event-ID": last} if last is not None else {}
            res = await read_sse(s, f"{url}api/runs/{run_id}/events", headers=headers, stop_after=rng.randint(1, 6))
            assert res.status == 200 and not res.of("reset")
            got.extend(res.events)
            if res.ended:
                break
            last, n = res.events[-1].id, n + 1
        full_a = await read_sse(s, f"{a.url}api/runs/{run_id}/events")
        full_b = await read_sse(s, f"{b.url}api/runs/{run_id}/events")
        async with s.get(f"{b.url}api/runs/{run_id}") as r:
            doc = await r.json()
    assert n >= 40
    assert [int(e.id) for e in got] == list(range(1, len(got) + 1))
    assert full_a.raw == full_b.raw
    assert [(e.id, e.event, e.data) for e in got] == [(e.id, e.event, e.data) for e in full_b.events]
    text = "".join(d["text"] for d in (json.loads(e.data) for e in got if e.event == "delta")
                   if d["provider"] == "long")
    assert text == "".join(answer_tokens(sim.profiles["long"], "across processes", 512))
    assert doc["status"] == "done" and {r["text"] for r in doc["results"] if r["provider"] == "long"} == {text}


async def test_owner_killed_mid_run_survivor_ends_it_interrupted(two, sim):
    a, b = two
    async with aiohttp.ClientSession() as s:
        run_id = await create(s, a.url, {"prompt": "killed", "providers": ["long", "short"]})
        reader = asyncio.create_task(read_sse(s, f"{b.url}api/runs/{run_id}/events", timeout=30))
        # the short provider is done (its done comes first: it ends seconds before the long one)
        part = await read_sse(s, f"{b.url}api/runs/{run_id}/events", stop_at_event="done", timeout=20)
        assert part.data("done")[0]["provider"] == "short"
        a.proc.send_signal(signal.SIGKILL)
        t_kill = time.monotonic()
        await a.proc.wait()
        res = await reader
        waited = time.monotonic() - t_kill
        async with s.get(f"{b.url}api/runs/{run_id}") as r:
            doc = await r.json()
        replay = await read_sse(s, f"{b.url}api/runs/{run_id}/events")
    assert res.ended and waited < 10                       # lease 1 s, checked every 0.25 s
    end = json.loads(res.events[-1].data)
    assert end["status"] == "interrupted" and "lease expired" in end["reason"]
    assert [int(e.id) for e in res.events] == list(range(1, len(res.events) + 1))
    dones = {d["provider"]: d for d in res.data("done")}
    assert dones["short"]["status"] == "ok"
    assert dones["long"]["status"] == "error" and dones["long"]["error_kind"] == "interrupted"
    streamed = "".join(d["text"] for d in res.data("delta") if d["provider"] == "long")
    assert streamed and dones["long"]["text"] == streamed                # the text received is kept
    assert doc["status"] == "interrupted"
    assert {r["provider"]: r["text"] for r in doc["results"]}["long"] == streamed
    assert replay.raw == res.raw


async def worker_pids(url: str, n: int) -> set[int]:
    pids: set[int] = set()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as s:
        for _ in range(80):
            async with s.get(url + "healthz") as r:
                pids.add((await r.json())["pid"])
            if len(pids) == n:
                break
    return pids


async def gone(pids: set[int], timeout: float = 20) -> bool:
    async with asyncio.timeout(timeout):
        while True:
            alive = set()
            for pid in pids:
                try:
                    with open(f"/proc/{pid}/stat") as f:
                        state = f.read().rsplit(")", 1)[1].split()[0]
                except OSError:
                    continue
                if state != "Z":             # an exited orphan waits for init to reap it
                    alive.add(pid)
            if not alive:
                return True
            await asyncio.sleep(0.05)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_workers_share_one_port_and_stop_together(sim, tmp_path, redis_url, sig):
    cfg = write_config(sim, tmp_path / "tokenrace.yaml")
    sup = await spawn(tmp_path, "w", "--port", "0", "-c", str(cfg), "--redis", redis_url, "--workers", "2",
                      "--db", str(tmp_path / "w.db"))
    try:
        pids = await worker_pids(sup.url, 2)
        assert len(pids) == 2 and sup.proc.pid not in pids
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as s:
            run_id = await create(s, sup.url, {"prompt": "workers", "providers": ["short"]})
            reads = [await read_sse(s, f"{sup.url}api/runs/{run_id}/events") for _ in range(6)]
            assert all(r.ended for r in reads) and len({r.raw for r in reads}) == 1
        assert await sup.stop(sig) == 0
        assert await gone(pids, timeout=1)        # the supervisor waited for them
    finally:
        await sup.stop(signal.SIGKILL)


async def test_workers_stop_when_their_supervisor_is_killed(sim, tmp_path, redis_url):
    cfg = write_config(sim, tmp_path / "tokenrace.yaml")
    sup = await spawn(tmp_path, "w", "--port", "0", "-c", str(cfg), "--redis", redis_url, "--workers", "2",
                      "--db", str(tmp_path / "w.db"))
    pids = await worker_pids(sup.url, 2)
    try:
        assert len(pids) == 2
        await sup.stop(signal.SIGKILL)
        assert await gone(pids)                   # their stdin closed: each stopped by itself
    finally:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_workers_need_redis():
    from tokenrace.cli import main
    assert main(["serve", "--workers", "2"]) == 2
    assert main(["serve", "--redis", "localhost:6379"]) == 2
