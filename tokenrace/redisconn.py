"""Redis for ``serve --redis``, ``bench --redis`` and ``worker``: one way to open redis-py's asyncio
client, and one way to name a server in messages (never with its password)."""
from __future__ import annotations

import asyncio
import inspect
from typing import Any, Awaitable, TypeVar
from urllib.parse import urlsplit, urlunsplit

from .errors import TokenraceError

T = TypeVar("T")


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
        raise RedisUnavailable("Redis needs the redis package: pip install 'tokenrace[redis]' (or 'redis>=5')") from None
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


class Shielded:
    """Redis calls that survive their caller's cancellation.

    redis-py 8 can leave a task that is cancelled in the middle of a command hanging for good (seen with
    EXISTS, SET and a blocked XREAD: the cancelled task never finishes), so no task here is cancelled
    inside a command: the command runs in a task of its own, the caller awaits it through
    ``asyncio.shield``, and :meth:`aclose` waits (at most one block) for the ones still running.
    ``shielded.xadd(...)`` is ``client.xadd(...)`` run so; ``shielded.client`` is the client itself
    (for pipelines, whose ``execute()`` goes through ``shielded(...)``).
    """

    def __init__(self, client: Any) -> None:
        self.client = client
        self.running: set[asyncio.Future[Any]] = set()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            result = method(*args, **kwargs)     # a command's coroutine; or not (register_script, ...)
            return self(result) if inspect.isawaitable(result) else result
        return call

    def pipeline(self, *args: Any, **kwargs: Any) -> "_Pipeline":
        return _Pipeline(self, self.client.pipeline(*args, **kwargs))

    async def __call__(self, command: Awaitable[T]) -> T:
        task = asyncio.ensure_future(command)
        self.running.add(task)
        task.add_done_callback(self._done)
        return await asyncio.shield(task)

    def _done(self, task: asyncio.Future[Any]) -> None:
        self.running.discard(task)
        if not task.cancelled():
            task.exception()            # retrieved: an abandoned call's error is not "never retrieved"

    async def aclose(self, timeout: float = 5.0) -> None:
        if self.running:
            await asyncio.wait(set(self.running), timeout=timeout)
        await self.client.aclose()


class _Pipeline:
    """A redis-py pipeline whose ``execute()`` is shielded like every other call."""

    def __init__(self, owner: Shielded, pipe: Any) -> None:
        self.owner, self.pipe = owner, pipe

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pipe, name)

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        return await self.owner(self.pipe.execute(*args, **kwargs))

    async def __aenter__(self) -> "_Pipeline":
        await self.pipe.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.pipe.__aexit__(*exc)
