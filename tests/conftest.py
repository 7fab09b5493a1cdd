"""Shared fixtures: a replay server for recorded bytes, the simulator, the shared HTTP client."""
from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import web

from tokenrace.providers.http import HTTPClient

ROOT = Path(__file__).resolve().parents[1]
# recorded provider streams (a copy of the project's shared/fixtures; add new quirks to both)
FIXTURES = Path(os.environ.get("TOKENRACE_FIXTURES", ROOT / "tests" / "fixtures" / "streams"))


@dataclass
class Reply:
    body: bytes
    content_type: str = "text/event-stream"
    status: int = 200
    piece: int = 0                  # 0: one write; n: write n bytes at a time
    headers: dict = field(default_factory=dict)
    seed: int | None = None         # random splits: pieces of 1..64 bytes drawn from this seed


class ReplayServer:
    """A real HTTP server on loopback that answers every request with a chosen reply."""

    def __init__(self) -> None:
        self.reply = Reply(b"")
        self.requests: list[dict] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append({"path": request.path_qs, "headers": dict(request.headers),
                              "body": await request.read()})
        r = self.reply
        resp = web.StreamResponse(status=r.status, headers={"Content-Type": r.content_type, **r.headers})
        await resp.prepare(request)
        if r.seed is not None:
            rng, i = random.Random(r.seed), 0
            while i < len(r.body):
                n = rng.randint(1, 64)
                await resp.write(r.body[i:i + n])
                i += n
        elif r.piece:
            for i in range(0, len(r.body), r.piece):
                await resp.write(r.body[i:i + r.piece])
        else:
            await resp.write(r.body)
        await resp.write_eof()
        return resp

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()


@pytest_asyncio.fixture
async def replay():
    server = ReplayServer()
    await server.start()
    yield server
    await server.stop()


@pytest_asyncio.fixture
async def http_client():
    async with HTTPClient() as client:
        yield client


@pytest_asyncio.fixture
async def sim():
    from tokenrace.simulator import DEFAULT_PROFILES, Simulator
    s = Simulator(DEFAULT_PROFILES)
    await s.start()
    yield s
    await s.stop()


# ---------------------------------------------------------------- a real redis-server (serve --redis)
REQUIRE_REDIS = os.environ.get("TOKENRACE_REQUIRE_REDIS") == "1"


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _redis_ping(port: int) -> bool:
    import socket
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """redis-server (Debian's package) on a free loopback port in a temporary folder, no persistence;
    stopped after the session. Skipped when it is not installed, unless TOKENRACE_REQUIRE_REDIS=1 (CI).
    ``TOKENRACE_REDIS_URL`` (``.ci/run`` starts one) uses that server instead: its data is flushed."""
    import shutil
    import subprocess
    import time

    given = os.environ.get("TOKENRACE_REDIS_URL")
    if given:
        port = int(given.rstrip("/").rsplit(":", 1)[1].split("/")[0])
        if not _redis_ping(port):
            pytest.fail(f"TOKENRACE_REDIS_URL={given} does not answer PING")
        yield f"redis://127.0.0.1:{port}"
        return

    exe = shutil.which("redis-server")
    if exe is None:
        if REQUIRE_REDIS:
            pytest.fail("TOKENRACE_REQUIRE_REDIS=1 but redis-server is not installed (apt-get install redis-server)")
        pytest.skip("redis-server is not installed (apt-get install redis-server): the Redis tests are skipped")
    folder = tmp_path_factory.mktemp("redis")
    for _ in range(3):                       # a free port can be taken between choosing and binding it
        port = _free_port()
        proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                 "--dir", str(folder), "--daemonize", "no", "--loglevel", "warning"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while proc.poll() is None and not _redis_ping(port) and time.monotonic() < deadline:
            time.sleep(0.02)
        if proc.poll() is None and _redis_ping(port):
            break
        proc.kill()
        proc.wait()
    else:
        pytest.fail(f"redis-server did not start: {proc.stderr.read().decode(errors='replace')[-500:]}")
    yield f"redis://127.0.0.1:{port}"
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture
def redis_url(redis_server):
    """The session's redis-server, emptied for this test (database 0)."""
    import socket
    port = int(redis_server.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"FLUSHALL\r\n")
        assert s.recv(64).startswith(b"+OK")
    return redis_server + "/0"
