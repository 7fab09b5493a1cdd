"""Leases: which process runs which run, and what happens to a run whose process died.

Every server process sharing Redis holds a lease, ``{p}:proc:{proc}``, a key with a TTL of
``ttl_s`` (5 s by default) that it renews every ``ttl_s / 4``; ``{p}:procs`` lists the processes
and ``{p}:proc:{proc}:runs`` the runs each one is running. On each tick a process also

* refreshes the records of its live runs (live figures and the text so far, for ``GET`` on any process),
* takes cancels other processes asked for (``DELETE /api/runs/{id}`` sent to a process that does not
  run it), and
* looks for processes whose lease expired. One survivor (a ``SET NX`` lock per dead process) ends
  each of their runs: a ``done`` for every provider without one (status ``error``, kind
  ``interrupted``, the text received kept) and an ``end`` with status ``interrupted`` and the reason,
  appended by a script only if the stream still ends where it read it; then the run's record.

So a run whose process was killed is marked within about ``ttl_s * 1.25`` seconds, and every
subscriber on every process gets ``end`` with the reason. A process that was only stalled past its
lease finds its next ``XADD`` refused (ids only grow) and stops the run (:mod:`.redis_bridge`).
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import socket
import time
from typing import Any, Callable

from ..metrics import compute
from ..protocol import Frame, ProviderDone, RunEnd, encode
from ..store import interrupted_message
from .entries import _why, fields_of, frame_of
from .redis_bridge import RedisBridge

log = logging.getLogger("tokenrace.server")

INTERRUPTED = "the server process running this run stopped (its lease expired); the text received is kept"

# Append frames only if the stream still ends at ARGV[1] (no one else wrote since it was read).
_APPEND = """
local top = 0
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if #last > 0 then top = tonumber(string.match(last[1][1], '-(%d+)$')) end
if top ~= tonumber(ARGV[1]) then return top end
for i = 3, #ARGV, 4 do
  if ARGV[i + 2] == '' then
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], ARGV[i], 'e', ARGV[i + 1], 'd', ARGV[i + 3])
  else
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], ARGV[i], 'e', ARGV[i + 1], 'p', ARGV[i + 2], 'd', ARGV[i + 3])
  end
end
return -1
"""


def new_proc_id() -> str:
    return f"{socket.gethostname()[:40]}-{os.getpid()}-{secrets.token_hex(3)}"


class Lease:
    """This process's lease, the runs it owns, and the reaping of dead processes' runs."""

    def __init__(self, bridge: RedisBridge, *, ttl_s: float = 5.0,
                 live: Callable[[], dict[str, Any]] | None = None,
                 cancel: Callable[[str, str], bool] | None = None) -> None:
        self.bridge, self.ttl_s = bridge, ttl_s
        self.proc = new_proc_id()
        self.live = live or (lambda: {})          # run id -> describe() of the runs this process runs
        self.cancel = cancel or (lambda run_id, reason: False)
        self.task: asyncio.Task[None] | None = None
        self.reaped: list[str] = []                # runs this process marked interrupted (tests, logs)
        self._script: Any = None

    @property
    def key(self) -> str:
        return f"{self.bridge.prefix}:proc:{self.proc}"

    def runs_key(self, proc: str) -> str:
        return f"{self.bridge.prefix}:proc:{proc}:runs"

    @property
    def procs_key(self) -> str:
        return f"{self.bridge.prefix}:procs"

    @property
    def interval_s(self) -> float:
        return max(0.05, self.ttl_s / 4)

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        r = self.bridge.redis
        self._script = r.register_script(_APPEND)
        await self._renew()
        await self.reap()                          # processes that died while none was up
        self.task = asyncio.create_task(self._loop(), name="tokenrace-lease")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.wait([self.task], timeout=5)
            self.task = None
        try:
            r = self.bridge.redis
            await r.srem(self.procs_key, self.proc)
            await r.delete(self.key, self.runs_key(self.proc))
        except Exception as e:
            log.warning("releasing this process's lease in Redis failed (%s); it expires in %.0f s", _why(e),
                        self.ttl_s)

    async def own(self, run_id: str) -> None:
        await self.bridge.redis.sadd(self.runs_key(self.proc), run_id)

    async def disown(self, run_id: str) -> None:
        await self.bridge.redis.srem(self.runs_key(self.proc), run_id)

    async def _renew(self) -> None:
        # listed again every time: a process stalled past its lease was reaped and delisted, and must
        # be found again if it dies later
        pipe = self.bridge.redis.pipeline(transaction=False)
        pipe.set(self.key, str(time.time()).encode(), px=int(self.ttl_s * 1000))
        pipe.sadd(self.procs_key, self.proc)
        await pipe.execute()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self._renew()
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning("lease tick with Redis at %s failed: %s", self.bridge.where, _why(e))

    async def tick(self) -> None:
        live = self.live()
        b = self.bridge
        if live:
            await b.put_records(live.values(), self.proc)
            ids = list(live)
            asked = await b.redis.mget([b.cancel_key(i) for i in ids])
            for run_id, reason in zip(ids, asked):
                if reason is not None:
                    await b.redis.delete(b.cancel_key(run_id))
                    self.cancel(run_id, reason.decode(errors="replace"))
        await self.reap()

    # ------------------------------------------------------------------ dead processes
    async def reap(self) -> int:
        """End the runs of every process whose lease expired; returns how many runs were ended."""
        r = self.bridge.redis
        procs = [p.decode() for p in await r.smembers(self.procs_key) if p.decode() != self.proc]
        if not procs:
            return 0
        pipe = r.pipeline(transaction=False)
        for p in procs:
            pipe.exists(f"{self.bridge.prefix}:proc:{p}")
        alive = await pipe.execute()
        n = 0
        for proc, up in zip(procs, alive):
            if up:
                continue
            lock = f"{self.bridge.prefix}:reap:{proc}"
            if not await r.set(lock, self.proc.encode(), nx=True, px=30_000):
                continue                            # another survivor is on it
            runs = [x.decode() for x in await r.smembers(self.runs_key(proc))]
            log.warning("server process %s stopped renewing its lease: ending its %d run(s) as interrupted",
                        proc, len(runs))
            for run_id in runs:
                try:
                    if await self.interrupt(run_id):
                        n += 1
                except Exception:
                    log.exception("run %s: marking it interrupted failed", run_id)
            await r.delete(self.runs_key(proc))
            await r.srem(self.procs_key, proc)
        return n

    async def interrupt(self, run_id: str, reason: str = INTERRUPTED) -> bool:
        """Close a dead process's run: ``done`` for each unfinished provider, then ``end``."""
        b = self.bridge
        for _ in range(5):
            rec = await b.get_record(run_id) or {}
            entries = await b.range_after(b.log_key(run_id), 0)
            frames = [frame_of(sid, fields) for sid, fields in entries]
            if any(f.event == "end" for f in frames):
                await self._finish_record(run_id, rec, frames, None)
                return False                         # it had ended: only its record was behind
            top = frames[-1].id if frames else 0
            results = interrupted_results(rec, frames)
            add: list[Frame] = []
            for name, result in results.items():
                if result.get("error_kind") == "interrupted" and not _has_done(frames, name):
                    add.append(encode(ProviderDone(name, result), top + len(add) + 1))
            add.append(encode(RunEnd(run_id, "interrupted", reason), top + len(add) + 1))
            args: list[Any] = [top, b.maxlen]
            for f in add:
                flds = fields_of(f)
                args += [f"0-{f.id}", flds["e"], flds.get("p", ""), flds["d"]]
            got = await self._script(keys=[b.log_key(run_id)], args=args)
            if got == -1:
                await self._finish_record(run_id, rec, frames + add, list(results.values()))
                self.reaped.append(run_id)
                log.warning("run %s marked interrupted (%s)", run_id, reason)
                return True
        log.error("run %s: its stream kept moving while it was being marked interrupted; left as it is", run_id)
        return False

    async def _finish_record(self, run_id: str, rec: dict[str, Any], frames: list[Frame],
                             results: list[dict[str, Any]] | None) -> None:
        end: dict[str, Any] = next((json.loads(f.data) for f in frames if f.event == "end"), {})
        doc = dict(rec, id=run_id, status=end.get("status", "interrupted"), finished=time.time())
        if results is None:
            results = list(interrupted_results(rec, frames).values())
        doc["results"] = results
        doc.pop("owner", None)
        await self.bridge.put_record(doc, index=True)


def _has_done(frames: list[Frame], name: str) -> bool:
    return any(f.event == "done" and f.provider == name for f in frames)


def interrupted_results(rec: dict[str, Any], frames: list[Frame]) -> dict[str, dict[str, Any]]:
    """One result per provider of the record: its ``done`` when it has one, else the last live result
    the owner stored, with the text and reasoning streamed (when the stream holds them all) and status
    ``error``, kind ``interrupted``."""
    live = {r.get("provider"): r for r in rec.get("results") or [] if isinstance(r, dict)}
    names = [p["name"] if isinstance(p, dict) else str(p) for p in rec.get("providers") or []]
    whole = bool(frames) and frames[0].id == 1
    text: dict[str, list[str]] = {}
    reasoning: dict[str, list[str]] = {}
    done: dict[str, dict[str, Any]] = {}
    for f in frames:
        if f.provider is None:
            continue
        if f.provider not in names:
            names.append(f.provider)
        if f.event == "delta":
            d = json.loads(f.data)
            if "reasoning" in d:
                reasoning.setdefault(f.provider, []).append(d["reasoning"])
            else:
                text.setdefault(f.provider, []).append(d.get("text", ""))
        elif f.event == "done":
            done[f.provider] = json.loads(f.data)
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        if name in done:
            out[name] = done[name]
            continue
        r = dict(live.get(name) or compute([], provider=name).to_dict())
        if whole or name not in live:
            r["text"] = "".join(text.get(name, []))
            r["reasoning"] = "".join(reasoning.get(name, []))
        r.update(provider=name, status="error", error=interrupted_message(name), error_kind="interrupted",
                 e2e_ms=None)
        out[name] = r
    return out
