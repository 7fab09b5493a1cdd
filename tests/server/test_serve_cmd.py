"""`tokenrace serve` as a real process: ready fast, built-in simulator, graceful SIGTERM/SIGINT."""
from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sqlite3
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from tests.server import read_sse

ROOT = Path(__file__).resolve().parents[2]


async def spawn(tmp_path: Path, *args: str) -> tuple[asyncio.subprocess.Process, str, float]:
    env = {k: v for k, v in os.environ.items() if k != "TOKENRACE_CONFIG"}
    env.update(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "cfg"), XDG_DATA_HOME=str(tmp_path / "data"),
               PYTHONPATH=str(ROOT))
    t0 = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tokenrace", "serve", "--port", "0", *args, cwd=str(tmp_path), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    async with asyncio.timeout(10):
        while True:
            line = (await proc.stdout.readline()).decode()
            if not line:
                raise AssertionError((await proc.stderr.read()).decode())
            if m := re.search(r"open (http://\S+/)", line):
                return proc, m.group(1), time.perf_counter() - t0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_serve_graceful_shutdown(tmp_path, sig):
    proc, url, ready_s = await spawn(tmp_path)
    try:
        assert ready_s < 3          # process start included; the server part is well under a second
        async with aiohttp.ClientSession() as s:
            async with s.get(url + "api/providers") as r:
                names = [p["name"] for p in await r.json()]
            assert names[0] == "sim-openai" and len(names) == 11
            async with s.post(url + "api/runs", json={"prompt": "stop", "providers": ["sim-openai", "sim-ollama"]}) as r:
                run_id = (await r.json())["id"]
            reader = asyncio.create_task(read_sse(s, f"{url}api/runs/{run_id}/events"))
            async with asyncio.timeout(10):          # wait until text is flowing, then stop the server
                while True:
                    part = await read_sse(s, f"{url}api/runs/{run_id}/events", stop_at_event="delta")
                    if part.of("delta"):
                        break
            proc.send_signal(sig)
            res = await reader
        assert await asyncio.wait_for(proc.wait(), 10) == 0
        out = (await proc.stdout.read()).decode()
        assert "stopping" in out
        dones = res.data("done")
        assert {d["status"] for d in dones} == {"cancelled"} and len(dones) == 2
        end = json.loads(res.events[-1].data)
        assert end["status"] == "cancelled" and "shutting down" in end["reason"]
        texts = {d["provider"]: d["text"] for d in dones}
        for name, text in texts.items():
            assert text == "".join(d["text"] for d in res.data("delta") if d["provider"] == name)
        db = tmp_path / "data" / "tokenrace" / "runs.db"
        con = sqlite3.connect(db)
        assert con.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone() == ("cancelled",)
        stored = {p: json.loads(d)["text"] for p, d in con.execute(
            "SELECT provider, data FROM results WHERE run_id = ?", (run_id,))}
        assert stored == texts
        con.close()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def test_serve_help_and_bad_port():
    from tokenrace.cli import build_parser, main
    parser = build_parser()
    args = parser.parse_args(["serve", "--allow-origin", "http://a", "--allow-origin", "http://b", "--heartbeat", "5"])
    assert args.allow_origin == ["http://a", "http://b"] and args.heartbeat == 5.0 and args.port == 8765
    assert args.host == "127.0.0.1"
    assert main(["serve", "--port", "70000"]) == 2
