"""Shared fixtures: a replay server for recorded bytes, the simulator, the shared HTTP client."""
from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from pathlib import Path

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
