"""Redis for ``serve --redis``, ``bench --redis`` and ``worker``: one way to open redis-py's asyncio
client, and one way to name a server in messages (never with its password)."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .errors import TokenraceError


class RedisUnavailable(TokenraceError):
    """Redis could not be reached or used; the message names the server (never its password)."""


def safe_url(url: str) -> str:
    """The URL without its user, password or query (keys sometimes hide there), for messages and logs."""
    if not url:
        return ""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        return urlunsplit((parts.scheme, host, parts.path, "", ""))
    except ValueError:
        return "(an unparsable URL)"


def why(e: BaseException) -> str:
    """One line of an exception, for a message."""
    text = str(e) or type(e).__name__
    return text.splitlines()[0][:200]


async def connect(url: str, *, block_ms: int = 2000) -> Any:
    """redis-py's asyncio client on ``url``, answering PING; :class:`RedisUnavailable` otherwise.

    Replies are bytes (``decode_responses=False``): redis-py's return types are unions over that
    setting, so callers use the client through this ``Any`` view."""
    try:
        import redis.asyncio as aioredis
    except ImportError:
        raise RedisUnavailable("Redis needs the redis package: pip install 'redis>=5'") from None
    r = None
    try:
        # a blocked XREAD answers within block_ms: the socket timeout must be longer
        r = aioredis.from_url(url, decode_responses=False, health_check_interval=30,
                              socket_connect_timeout=5, socket_timeout=max(10.0, 3 * block_ms / 1000))
        await r.ping()
    except Exception as e:
        if r is not None:
            await r.aclose()
        raise RedisUnavailable(f"cannot reach Redis at {safe_url(url)}: {why(e)}") from None
    return r
