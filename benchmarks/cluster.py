"""Helpers for the scale-out benchmarks: a throw-away redis-server, `tokenrace serve` processes."""
from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """redis-server on a free loopback port in a temporary folder, no persistence."""

    def __init__(self) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            raise SystemExit("redis-server is not installed (apt-get install redis-server)")
        self.dir = tempfile.mkdtemp(prefix="tokenrace-redis-")
        self.port = free_port()
        self.proc = subprocess.Popen([exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", self.dir, "--loglevel", "warning"],
                                     stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("redis-server did not start")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


class Serve:
    """`tokenrace serve ...` as a child process; ``url`` once it is ready, ``pids`` of its workers."""

    def __init__(self, proc: asyncio.subprocess.Process, url: str, pids: list[int]) -> None:
        self.proc, self.url, self.pids = proc, url, pids

    @classmethod
    async def start(cls, *args: str, home: str) -> "Serve":
        env = {k: v for k, v in os.environ.items() if k != "TOKENRACE_CONFIG"}
        env.update(HOME=home, XDG_DATA_HOME=os.path.join(home, "data"), PYTHONPATH=str(ROOT))
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "tokenrace", "serve", *args, env=env,
                                                    cwd=home, stdout=asyncio.subprocess.PIPE)
        pids = [proc.pid]
        assert proc.stdout is not None
        async with asyncio.timeout(120):
            while True:
                line = (await proc.stdout.readline()).decode()
                if not line:
                    raise SystemExit("tokenrace serve stopped before it was ready")
                if m := re.search(r"\(pids ([\d ]+)\)", line):
                    pids = [int(p) for p in m.group(1).split()]
                if m := re.search(r"open (http://\S+/)", line):
                    asyncio.create_task(_drain(proc))
                    return cls(proc, m.group(1), pids)

    def cpu_s(self) -> float:
        """User + system CPU seconds of the serving processes so far."""
        total = 0.0
        tick = os.sysconf("SC_CLK_TCK")
        for pid in self.pids:
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / tick
            except OSError:
                pass
        return total

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.terminate()
        try:
            await asyncio.wait_for(self.proc.wait(), 60)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


async def _drain(proc: asyncio.subprocess.Process) -> None:
    assert proc.stdout is not None
    while await proc.stdout.read(65536):
        pass


def raise_fd_limit() -> None:
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 65536) if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
