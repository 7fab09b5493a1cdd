"""Runs shared through Redis (``serve --redis URL``): every process can serve every run (hub.md rule 10).

Imported only with ``--redis``; the ``redis`` package is imported in :meth:`RedisBridge.connect`.

Keys (``{p}`` is the prefix, ``tokenrace`` by default)::

    {p}:run:{id}:log     stream: the session's frames, entry id ``0-{frame id}``, fields e (event),
                         p (provider; absent for run-wide messages), d (the JSON data); MAXLEN ~ cap
    {p}:run:{id}         the run as ``GET /api/runs/{id}`` shows it (JSON), plus ``owner``
    {p}:runs             sorted set: run ids by creation time (the shared run index)
    {p}:run:{id}:cancel  a cancel asked of a process that does not run it
    {p}:proc:{proc} ...  leases (see :mod:`.lease`)

The owner (the process whose :class:`~tokenrace.session.RaceSession` runs the race) hands each frame
to :meth:`publish`; frames published in one loop turn go out as one pipeline of ``XADD``s, in order,
with their run-wide id as the entry id, so ``Last-Event-ID`` n is stream position ``0-n``. Any other
process serves the run from a *mirror* (:mod:`.mirror`): a hub :class:`~.hub.Channel` filled by
``XRANGE`` and then followed by one ``XREAD BLOCK`` reader per run (not per subscriber), so every hub
rule (bounded backlog, flush timeout, heartbeat, replay without gap or duplicate) applies unchanged.

History is capped at ``maxlen`` entries per run (``MAXLEN ~``: Redis trims whole nodes, so a little
more may stay). A mirror made after trimming starts at the first id kept (``Channel.base``) and a
subscriber asking for anything older gets ``reset`` (hub rule 2) followed by what is kept; each
provider's ``done`` still carries its whole text. The owner's own process and its SQLite log always
hold everything.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any, Callable, Iterable

from ..protocol import Frame
from ..redisconn import RedisUnavailable, Shielded, connect, safe_url
from .entries import PAGE, Entry, _why, fields_of, frame_of
from .hub import Hub
from .mirror import Mirrors

__all__ = ["RedisBridge", "RedisUnavailable", "safe_url", "Entry", "PAGE", "fields_of", "frame_of", "_why"]

log = logging.getLogger("tokenrace.server")



class RedisBridge:
    """One per server process: publishes the runs it owns, mirrors the others, keeps the shared index."""

    def __init__(self, url: str, *, prefix: str = "tokenrace", maxlen: int = 100_000,
                 block_ms: int = 2000, reach_timeout_s: float = 3.0) -> None:
        self.url, self.prefix, self.maxlen = url, prefix, maxlen
        self.block_ms, self.reach_timeout_s = block_ms, reach_timeout_s
        self.where = safe_url(url)
        # redis-py's return types are unions over decode_responses and RESP versions; with
        # decode_responses=False every reply here is bytes, so calls go through an Any view
        self.r: "Shielded | None" = None
        self.mirrors = Mirrors(self)       # other processes' runs this process follows
        self._pending: list[tuple[str, Frame]] = []
        self._kick = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._writer: asyncio.Task[None] | None = None
        self.on_taken_over: Callable[[str], None] | None = None   # the owner lost a run to a reaper
        self.lost: set[str] = set()        # runs another process ended while this one still ran them
        self.xadds = 0                     # entries written (benchmarks, tests)
        self.batches = 0                   # pipelines sent

    # ------------------------------------------------------------------ keys
    def log_key(self, run_id: str) -> str:
        return f"{self.prefix}:run:{run_id}:log"

    def record_key(self, run_id: str) -> str:
        return f"{self.prefix}:run:{run_id}"

    def cancel_key(self, run_id: str) -> str:
        return f"{self.prefix}:run:{run_id}:cancel"

    @property
    def index_key(self) -> str:
        return f"{self.prefix}:runs"

    @property
    def redis(self) -> Any:
        if self.r is None:
            raise RuntimeError("RedisBridge is not connected (await connect() first)")
        return self.r

    # ------------------------------------------------------------------ lifecycle
    async def connect(self, hub: Hub) -> None:
        self.mirrors.hub = hub
        self.r = Shielded(await connect(self.url, block_ms=self.block_ms))   # see Shielded: no hang on cancel
        self._writer = asyncio.create_task(self._write_loop(), name="tokenrace-redis-writer")
        log.info("sharing runs through Redis at %s", self.where)

    async def close(self) -> None:
        await self.flush(timeout=5.0)
        await self.mirrors.close()
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.wait([self._writer], timeout=5)
        self._writer = None
        if self.r is not None:
            await self.r.aclose()
            self.r = None

    # ------------------------------------------------------------------ the owner: frames out
    def publish(self, run_id: str, frame: Frame) -> None:
        """Queue one frame of a run this process owns; sent with the rest of this loop turn's."""
        self._pending.append((run_id, frame))
        self._idle.clear()
        self._kick.set()

    async def flush(self, timeout: float | None = None) -> bool:
        """Until every published frame reached Redis (True), or ``timeout`` passed (False)."""
        if self._writer is None or self._writer.done():
            return not self._pending
        try:
            async with asyncio.timeout(timeout):
                await self._idle.wait()
            return True
        except TimeoutError:
            return False

    async def _write_loop(self) -> None:
        backoff = 0.1
        while True:
            await self._kick.wait()
            self._kick.clear()
            batch, self._pending = self._pending, []
            if not batch:
                self._idle.set()
                continue
            try:
                await self._xadd(batch)
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception as e:
                # Redis is down: keep the frames, in order, and try again (bounded by the runs themselves,
                # like the owner's own channels); local subscribers are not held up
                log.warning("writing %d frame(s) to Redis at %s failed (%s); retrying in %.1f s",
                            len(batch), self.where, _why(e), backoff)
                self._pending[:0] = batch
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                self._kick.set()
                continue
            if not self._pending:
                self._idle.set()

    async def _xadd(self, batch: list[tuple[str, Frame]]) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for run_id, f in batch:
            pipe.xadd(self.log_key(run_id), fields_of(f), id=f"0-{f.id}",
                      maxlen=self.maxlen, approximate=True)
        replies = await pipe.execute(raise_on_error=False)
        self.batches += 1
        lost: set[str] = set()
        for (run_id, f), reply in zip(batch, replies):
            if not isinstance(reply, Exception):
                self.xadds += 1
            elif "equal or smaller" not in str(reply):
                raise reply
            elif run_id not in lost and not await self._already_there(run_id, f):
                lost.add(run_id)           # another process ended this run (it thought this one was dead)
        for run_id in lost - self.lost:
            self.lost.add(run_id)
            log.error("run %s was ended by another process (this one missed its lease); stopping it here", run_id)
            if self.on_taken_over is not None:
                self.on_taken_over(run_id)

    async def _already_there(self, run_id: str, f: Frame) -> bool:
        """After a retry: is this very frame in the stream already (an earlier attempt wrote it)?"""
        sid = f"0-{f.id}"
        got = await self.redis.xrange(self.log_key(run_id), min=sid, max=sid, count=1)
        return bool(got) and frame_of(*got[0]) == f

    # ------------------------------------------------------------------ the run index and records
    async def put_record(self, doc: dict[str, Any], owner: str | None = None, *, index: bool = False) -> None:
        rec = dict(doc, owner=owner) if owner is not None else dict(doc)
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(self.record_key(doc["id"]), _dumps(rec))
        if index:
            pipe.zadd(self.index_key, {doc["id"]: float(doc.get("created") or time.time())})
        await pipe.execute()

    async def put_records(self, docs: Iterable[dict[str, Any]], owner: str) -> None:
        pipe = self.redis.pipeline(transaction=False)
        n = 0
        for doc in docs:
            pipe.set(self.record_key(doc["id"]), _dumps(dict(doc, owner=owner)))
            n += 1
        if n:
            await pipe.execute()

    async def get_record(self, run_id: str) -> dict[str, Any] | None:
        raw = await self.redis.get(self.record_key(run_id))
        return _loads(raw)

    async def list_runs(self, limit: int) -> list[dict[str, Any]]:
        """The newest ``limit`` runs of every process, as ``RunStore.list_runs`` shows them."""
        ids = await self.redis.zrevrange(self.index_key, 0, max(0, limit - 1))
        if not ids:
            return []
        raws = await self.redis.mget([self.record_key(i.decode()) for i in ids])
        out = []
        for raw in raws:
            rec = _loads(raw)
            if rec is not None:
                out.append({k: rec.get(k) for k in ("id", "prompt", "created", "providers", "status", "source",
                                                    "parent")})
        return out

    async def request_cancel(self, run_id: str, reason: str) -> bool:
        """Ask the owner of a run this process does not run to cancel it (it checks every lease tick)."""
        rec = await self.get_record(run_id)
        if rec is None or rec.get("status") != "running":
            return False
        await self.redis.set(self.cancel_key(run_id), reason.encode(), ex=60)
        return True

    async def prune(self, keep_runs: int | None, keep_days: float | None) -> int:
        """Finished runs past the retention settings leave Redis (record, stream, index entry)."""
        r = self.redis
        ids: set[bytes] = set()
        if keep_runs is not None:
            ids.update(await r.zrevrange(self.index_key, keep_runs, -1))
        if keep_days is not None:
            ids.update(await r.zrangebyscore(self.index_key, "-inf", time.time() - keep_days * 86400.0))
        n = 0
        for raw_id in ids:
            run_id = raw_id.decode()
            rec = await self.get_record(run_id)
            if rec is not None and rec.get("status") == "running":
                continue
            await r.delete(self.record_key(run_id), self.log_key(run_id))
            await r.zrem(self.index_key, run_id)
            n += 1
        return n

    # ------------------------------------------------------------------ reading a run's stream
    async def range_after(self, key: str, after: int) -> list[Entry]:
        """Every entry of a stream after frame id ``after`` (0: all), in pages."""
        out: list[Entry] = []
        start = f"(0-{after}" if after else "-"
        while True:
            page: list[Entry] = await self.redis.xrange(key, min=start, max="+", count=PAGE)
            out.extend(page)
            if len(page) < PAGE:
                return out
            start = f"({page[-1][0].decode()}"


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def _loads(raw: bytes | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        doc = json.loads(raw)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None
