"""The event loop a measuring process runs on, and the monitor of its lag.

Light on purpose (no aiohttp): the floor client's process imports only this, so its start-up cost
is what a minimal client's is.
"""
from __future__ import annotations

import asyncio
import time
from typing import Any, Coroutine, Sequence, TypeVar

from ..eventloop import loop_name, new_event_loop, run
from ..metrics import NS_PER_MS, percentile, summarize

__all__ = ["LAG_INTERVAL_S", "LAG_WARN_P99_MS", "LagMonitor", "loop_name", "new_event_loop", "run"]

T = TypeVar("T")
LAG_INTERVAL_S = 0.02
LAG_WARN_P99_MS = 10.0        # above this the client's own delay distorts TTFT/ITL noticeably


class LagMonitor:
    """An asyncio task that sleeps a fixed interval and records by how much it overslept."""

    def __init__(self, interval_s: float = LAG_INTERVAL_S, warn_ms: float = LAG_WARN_P99_MS) -> None:
        self.interval_s, self.warn_ms = interval_s, warn_ms
        self.samples: list[tuple[int, float]] = []     # (perf_counter_ns at wake-up, lag ms)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="tokenrace-lag-monitor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _loop(self) -> None:
        want_ns = int(self.interval_s * 1e9)
        while True:
            t0 = time.perf_counter_ns()
            await asyncio.sleep(self.interval_s)
            t1 = time.perf_counter_ns()
            self.samples.append((t1, max(0, t1 - t0 - want_ns) / NS_PER_MS))

    def summary(self, windows: Sequence[tuple[int, int]] | None = None) -> dict[str, Any]:
        """Lag figures over the samples taken inside ``windows`` (perf_counter_ns pairs; None: all)."""
        vals = [lag for t, lag in self.samples if windows is None or any(a <= t <= b for a, b in windows)]
        s = summarize(vals)
        return {"interval_ms": self.interval_s * 1000, "samples": s["count"], "p50_ms": s["p50"],
                "p99_ms": s["p99"], "max_ms": s["max"],
                "saturated": bool(vals) and (s["p99"] or 0) > self.warn_ms}

    def recent_p99(self, n: int = 50) -> float | None:
        vals = sorted(lag for _, lag in self.samples[-n:])
        return percentile(vals, 99) if vals else None
