"""Harness for the server tests: the real server on a loopback port, the simulator behind it,
aiohttp clients reading SSE with ``tokenrace.sse.SSEDecoder``.

Test modules import the fixtures they use (``from tests.server import harness, sim_fast``).
"""
from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest_asyncio

from tokenrace.config.models import Config, ProviderConfig, Timeouts
from tokenrace.server import Server, ServerSettings
from tokenrace.simulator import Profile, Simulator
from tokenrace.sse import SSEDecoder, SSEEvent
from tokenrace.store import RunStore

FAST_PROFILES = (
    Profile("fast-a", ttft_ms=20, itl_ms=5, answer_tokens=40),
    Profile("fast-b", ttft_ms=25, itl_ms=4, answer_tokens=30, reasoning_tokens=8),
    Profile("steady", ttft_ms=20, itl_ms=6, answer_tokens=150, jitter_ms=1),
    Profile("broken", ttft_ms=10, itl_ms=5, answer_tokens=30),   # tests give it a fault with add_profile
)


def provider(sim: Simulator, profile: str, kind: str = "openai", **kw: Any) -> ProviderConfig:
    return ProviderConfig(name=kw.pop("name", profile), kind=kind, model=f"m-{profile}",
                          base_url=sim.base_url(profile, kind), retries=0,
                          timeout=Timeouts(connect=5, read=10, total=30), **kw)


@dataclass
class SSEResult:
    status: int
    headers: dict
    raw: bytes = b""
    events: list[SSEEvent] = field(default_factory=list)
    ended: bool = False                 # an "end" event was received
    closed: bool = False                # the server closed the stream

    def of(self, name: str) -> list[SSEEvent]:
        return [e for e in self.events if e.event == name]

    def data(self, name: str | None = None) -> list[dict]:
        return [json.loads(e.data) for e in self.events if name is None or e.event == name]


class Harness:
    def __init__(self, sim: Simulator, db: Path | str, providers: list[ProviderConfig],
                 settings: ServerSettings | None = None) -> None:
        self.sim, self.db, self.providers = sim, db, providers
        self.settings = settings or ServerSettings(port=0)
        self.settings.port = 0
        self.server: Server | None = None
        self.store: RunStore | None = None
        self.session: aiohttp.ClientSession | None = None
        self.headers: dict[str, str] = {}

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    async def start(self) -> "Harness":
        self.store = RunStore(self.db)
        await self.store.open()
        self.server = Server(Config(providers=tuple(self.providers), defaults={"params": {"max_tokens": 512}}),
                             self.store, self.settings)
        await self.server.start()
        if self.session is None:
            self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))  # cookies from 127.0.0.1
        return self

    async def stop(self, close_session: bool = True) -> None:
        if self.server is not None:
            await self.server.stop(timeout=5)
            self.server = None
        if self.store is not None:
            await self.store.close()
            self.store = None
        if close_session and self.session is not None:
            await self.session.close()
            self.session = None

    async def restart(self) -> None:
        await self.stop(close_session=False)
        await self.start()

    async def request(self, method: str, path: str, **kw: Any) -> tuple[int, Any, aiohttp.ClientResponse]:
        headers = {**self.headers, **kw.pop("headers", {})}
        async with self.session.request(method, self.base + path, headers=headers, **kw) as resp:
            body = await resp.read()
            try:
                doc = json.loads(body) if body else None
            except ValueError:
                doc = body.decode("utf-8", "replace")
            return resp.status, doc, resp

    async def create(self, prompt: str = "hello", providers: list[str] | None = None,
                     params: dict | None = None) -> str:
        body: dict[str, Any] = {"prompt": prompt}
        if providers is not None:
            body["providers"] = providers
        if params is not None:
            body["params"] = params
        status, doc, _ = await self.request("POST", "/api/runs", json=body)
        assert status == 201, doc
        return doc["id"]

    async def sse(self, path: str, **kw: Any) -> SSEResult:
        return await read_sse(self.session, self.base + path, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    def live_subscribers(self) -> int:
        return self.server.hub.subscriber_count


async def read_sse(session: aiohttp.ClientSession, url: str, *, headers: dict | None = None,
                   method: str = "GET", json_body: Any = None, stop_after: int | None = None,
                   stop_at_event: str | None = None, timeout: float = 15.0) -> SSEResult:
    """Read an SSE response until the server closes it (or ``stop_after`` events, then disconnect)."""
    dec = SSEDecoder()
    async with asyncio.timeout(timeout):
        async with session.request(method, url, headers=headers or {}, json=json_body) as resp:
            out = SSEResult(resp.status, dict(resp.headers))
            if resp.status not in (200, 201):
                out.raw = await resp.read()
                return out
            async for chunk in resp.content.iter_any():
                out.raw += chunk
                for ev in dec.feed(chunk):
                    out.events.append(ev)
                    if ev.event == "end":
                        out.ended = True
                    if stop_after is not None and len(out.events) >= stop_after:
                        return out
                    if stop_at_event is not None and ev.event == stop_at_event:
                        return out
            out.closed = True
            return out


async def wait_for(predicate, timeout: float = 5.0, interval: float = 0.01) -> None:
    """Poll a condition (no fixed sleeps as synchronisation): fails the test on timeout."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(interval)


@pytest_asyncio.fixture
async def sim_fast():
    s = Simulator(FAST_PROFILES)
    await s.start()
    yield s
    await s.stop()


@pytest_asyncio.fixture
async def harness(sim_fast, tmp_path):
    h = Harness(sim_fast, tmp_path / "runs.db",
                [provider(sim_fast, "fast-a"), provider(sim_fast, "fast-b", "anthropic"),
                 provider(sim_fast, "steady", "gemini"), provider(sim_fast, "broken")])
    await h.start()
    yield h
    await h.stop()
