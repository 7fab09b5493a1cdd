"""Per-client token buckets: how many runs one address may start. No tornado, no I/O.

A bucket holds up to ``burst`` tokens and refills at ``per_minute / 60`` a second; a run started
takes one (a refused or invalid request takes none), and a client with less than one is refused.
The clock is a parameter, so tests move time instead of sleeping. Buckets that refilled to full
are forgotten (a full bucket and no bucket are the same), so the table stays small.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class RateLimiter:
    def __init__(self, per_minute: float, burst: int, *, clock: Callable[[], float] = time.monotonic,
                 max_clients: int = 10_000) -> None:
        if per_minute <= 0 or burst < 1:
            raise ValueError("per_minute must be positive and burst at least 1")
        self.rate = per_minute / 60.0          # tokens a second
        self.burst = burst
        self.clock = clock
        self.max_clients = max_clients
        self._buckets: dict[str, _Bucket] = {}

    def _level(self, b: _Bucket, now: float) -> float:
        return min(self.burst, b.tokens + max(0.0, now - b.stamp) * self.rate)

    def wait(self, client: str) -> float:
        """Seconds until ``client`` may start a run (0.0: now). Takes nothing."""
        b = self._buckets.get(client)
        if b is None:
            return 0.0
        tokens = self._level(b, self.clock())
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate

    def charge(self, client: str) -> None:
        """``client`` started a run: take a token. Runs admitted together may leave a debt, which
        the client then waits off."""
        now = self.clock()
        b = self._buckets.get(client)
        if b is None:
            if len(self._buckets) >= self.max_clients:
                self._forget_full(now)
            b = self._buckets[client] = _Bucket(float(self.burst), now)
        b.tokens, b.stamp = self._level(b, now) - 1.0, now

    def retry_after(self, wait_s: float) -> int:
        """Whole seconds for a ``Retry-After`` header (never 0 while refused)."""
        return max(1, math.ceil(wait_s))

    def _forget_full(self, now: float) -> None:
        full = [k for k, b in self._buckets.items() if self._level(b, now) >= self.burst]
        for k in full:
            del self._buckets[k]
        # every one still refilling: drop the oldest (dicts keep insertion order)
        while len(self._buckets) >= self.max_clients:
            del self._buckets[next(iter(self._buckets))]

    def __len__(self) -> int:
        return len(self._buckets)
