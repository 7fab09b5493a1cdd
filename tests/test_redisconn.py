"""``redisconn``: URLs without passwords in messages, and Redis calls that survive cancellation
(redis-py 8 leaves a task cancelled in the middle of a command hanging; :class:`Shielded` must not)."""
from __future__ import annotations

import asyncio
import random

from tokenrace.redisconn import Shielded, connect, safe_url


def test_safe_url_drops_user_password_and_query():
    assert safe_url("redis://user:pw@host:6380/2?password=x") == "redis://host:6380/2"
    assert safe_url("") == ""


async def test_cancelling_a_caller_mid_command_never_hangs_and_the_client_stays_usable(redis_url):
    r = Shielded(await connect(redis_url))
    rng = random.Random(5)

    async def busy() -> None:
        while True:
            await r.exists("x")
            await r.set("y", b"1", px=5000)
            await r.xread({"s": "0"}, block=20)

    try:
        for _ in range(150):
            task = asyncio.create_task(busy())
            await asyncio.sleep(rng.random() * 0.03)
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=5)
            assert done, "a cancelled caller hung inside a Redis command"
        assert await asyncio.wait_for(r.ping(), 5) is True
    finally:
        await r.aclose()
    assert not r.running
