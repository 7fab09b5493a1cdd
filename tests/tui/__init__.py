"""TUI test helpers: simulator-backed configs with fixed text and zero jitter, condition waits.

Test modules import what they use (``from tests.tui import sim_config, until``).
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Callable, Iterable

from tokenrace.config.models import Config, Price, ProviderConfig, Timeouts
from tokenrace.simulator import Fault, Profile, Simulator, answer_tokens

PROMPT = "Compare the answers"
MAX_TOKENS = 512

# Fixed texts (the simulator tokenizes them into words), no jitter: the same run every time.
ALPHA = "Hello from **alpha**. Streams are fun, and this one is quick."
BETA = "Beta answers with a list:\n\n- one\n- two\n- three\n\nDone."
GAMMA = "Gamma thinks first, then says: tokens arrive in order."

PROFILES = (
    Profile("alpha", ttft_ms=20, itl_ms=4, text=ALPHA),
    Profile("beta", ttft_ms=30, itl_ms=5, text=BETA),
    Profile("gamma", ttft_ms=25, itl_ms=4, text=GAMMA, reasoning_tokens=6),
)


def expected(profile: Profile, prompt: str = PROMPT) -> str:
    return "".join(answer_tokens(profile, prompt, MAX_TOKENS))


def provider(sim: Simulator, profile: str, kind: str = "openai", price: Price | None = None) -> ProviderConfig:
    return ProviderConfig(name=profile, kind=kind, model=f"m-{profile}", base_url=sim.base_url(profile, kind),
                          retries=0, timeout=Timeouts(connect=5, read=60, total=120), price=price)


def sim_config(profiles: Iterable[Profile], kinds: dict[str, str] | None = None,
               sims: list | None = None, prices: dict[str, Price] | None = None) -> Callable:
    """A ``config_factory`` for ``LocalSource``: starts a simulator with ``profiles`` in the app's loop
    (its loop: the engine thread's); ``sims`` receives it, for its request truths."""
    profiles = tuple(profiles)
    kinds = kinds or {}
    prices = prices or {}

    @contextlib.asynccontextmanager
    async def factory():
        sim = Simulator(profiles)
        await sim.start()
        if sims is not None:
            sims.append(sim)
        try:
            yield Config(providers=tuple(provider(sim, p.name, kinds.get(p.name, "openai"), prices.get(p.name))
                                         for p in profiles),
                         defaults={"params": {"max_tokens": MAX_TOKENS}})
        finally:
            await sim.stop()
    return factory


async def until(predicate: Callable[[], bool], timeout: float = 10.0, pilot=None, what: str = "") -> None:
    """Wait for a condition (never a fixed sleep as synchronisation)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        if pilot is not None:
            await pilot.pause(0.02)
        else:
            await asyncio.sleep(0.02)


__all__ = ["ALPHA", "BETA", "GAMMA", "Fault", "MAX_TOKENS", "PROFILES", "PROMPT", "Profile", "expected",
           "provider", "sim_config", "until"]


class CuttableProxy:
    """A loopback TCP forwarder whose open connections a test can cut (a dropped network, mid-run)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.server: asyncio.AbstractServer | None = None
        self.port = 0
        self.cuts = 0
        self.connections = 0
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> "CuttableProxy":
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers.difference_update((writer, up_writer))

    def cut(self) -> int:
        """Abort every open connection (both sides); returns how many were cut."""
        n = 0
        for w in list(self._writers):
            if w.transport is not None and not w.transport.is_closing():
                w.transport.abort()
                n += 1
        self._writers.clear()
        self.cuts += 1
        return n

    async def stop(self) -> None:
        self.cut()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
