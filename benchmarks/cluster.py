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
        return cpu_of(self.pids)

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


def cpu_of(pids: list[int]) -> float:
    """User + system CPU seconds of these processes so far."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except OSError:
            pass
    return total


def send_floor_us(n: int = 1000, size: int = 180, reps: int = 20) -> float:
    """CPU microseconds of one ``send`` of ``size`` bytes to one of ``n`` loopback TCP connections
    (TCP_NODELAY, as the server): the kernel's send and receive path, the floor under any fan-out."""
    import statistics
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(n)
    pairs = []
    try:
        for _ in range(n):
            c = socket.create_connection(srv.getsockname())
            s, _ = srv.accept()
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pairs.append((c, s))
        payload = b"x" * size
        out = []
        for _ in range(reps):
            t0 = time.process_time()
            for _, s in pairs:
                s.send(payload)
            out.append((time.process_time() - t0) * 1e6 / n)
            for c, _ in pairs:
                c.recv(65536)
        return statistics.median(out)
    finally:
        for c, s in pairs:
            c.close()
            s.close()
        srv.close()


def cpu_pressure() -> float | None:
    """Linux PSI: the share of the last 60 s in which some runnable task waited for a CPU (%): how much
    other work on the machine competed with the benchmark."""
    try:
        with open("/proc/pressure/cpu") as f:
            for line in f:
                if line.startswith("some"):
                    return float(line.split("avg60=")[1].split()[0])
    except (OSError, IndexError, ValueError):
        pass
    return None
