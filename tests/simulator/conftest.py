from __future__ import annotations

import aiohttp
import pytest

from tokenrace.simulator import Profile, Simulator

# Fast profiles: tests stay quick while timings remain measurable.
FAST = Profile("fast", ttft_ms=10, itl_ms=2, answer_tokens=12)
THINK = Profile("think", ttft_ms=10, itl_ms=2, answer_tokens=12, reasoning_tokens=6)


@pytest.fixture
async def sim():
    async with Simulator([FAST, THINK]) as s:
        yield s


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as s:
        yield s
