"""``api_key_command``: a key (an access token) taken from a command's output, as cloud CLIs give them.

The command runs without a shell, its stripped standard output is the key, and the key is cached
per command: concurrent streams share one run of it (a bench with 64 streams runs ``gcloud`` once).
A provider that answers 401 gets one fresh key (:func:`command_key` with ``refresh``): such tokens
expire after about an hour. The caller adds every key to the config's redactor.
"""
from __future__ import annotations

import asyncio
import time

from ..errors import TokenraceError

TIMEOUT_S = 30.0
MAX_AGE_S = 50 * 60           # cloud access tokens live about an hour: take a new one before
_cache: dict[tuple[str, ...], tuple[str, float]] = {}
_running: dict[tuple[int, tuple[str, ...]], "asyncio.Future[str]"] = {}


class KeyCommandError(TokenraceError):
    """The command could not give a key; the message names the command and says why (its stderr)."""


async def command_key(argv: tuple[str, ...], *, refresh: bool = False) -> str:
    """The key ``argv`` prints (cached; ``refresh`` runs the command again)."""
    cached = _cache.get(argv)
    if cached is not None and not refresh and time.monotonic() - cached[1] < MAX_AGE_S:
        return cached[0]
    loop = asyncio.get_running_loop()
    slot = (id(loop), argv)
    pending = _running.get(slot)
    if pending is not None:
        return await asyncio.shield(pending)
    fut: asyncio.Future[str] = loop.create_future()
    _running[slot] = fut
    try:
        key = await _run(argv)
        _cache[argv] = (key, time.monotonic())
        fut.set_result(key)
        return key
    except BaseException as e:
        fut.set_exception(e if isinstance(e, KeyCommandError) else KeyCommandError(f"api_key_command {argv[0]!r}: {e}"))
        fut.exception()          # retrieved: waiters get it, no "never retrieved" warning
        raise
    finally:
        _running.pop(slot, None)


async def _run(argv: tuple[str, ...]) -> str:
    name = argv[0]
    try:
        proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    except OSError as e:
        raise KeyCommandError(f"api_key_command {name!r} cannot run: {e.strerror or e}") from None
    try:
        out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT_S)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise KeyCommandError(f"api_key_command {name!r} gave no key within {TIMEOUT_S:g} s") from None
    if proc.returncode != 0:
        detail = " ".join(err.decode("utf-8", "replace").split())[:300] or "no error output"
        raise KeyCommandError(f"api_key_command {name!r} failed (exit status {proc.returncode}): {detail}")
    key = out.decode("utf-8", "replace").strip()
    if not key:
        raise KeyCommandError(f"api_key_command {name!r} printed nothing")
    if any(c.isspace() for c in key):
        raise KeyCommandError(f"api_key_command {name!r} printed more than one word; it must print only the key")
    return key
