"""SQLite store of runs: prompt, params, providers, per-provider results and the event logs.

All sqlite3 work happens on one dedicated worker thread (a one-thread executor), so disk I/O
never blocks the event loop and writes are serialized. ``append_events``/``append_messages``
only queue rows; a background task writes them in batches. Every other call first writes
whatever is queued, in the same worker job, so a read always sees earlier appends.

Tables::

    runs      id, prompt, params (JSON), providers (JSON: ProviderConfig.public() dicts),
              source (serve | tui | bench ...), status (running | done | cancelled | interrupted),
              created, finished (epoch seconds)
    results   run_id, idx, provider, data (JSON: StreamResult.to_dict())
    events    run_id, provider, data (JSON: events.event_to_dict) in arrival order (rowid)
    messages  run_id, id, event, data: the server's SSE protocol log, so a replay after a
              restart is byte-identical to the live stream

No API key is ever given to this module: providers are stored as their public dicts, and
event/result strings are redacted by the caller.

Retention: :meth:`RunStore.prune` deletes the oldest finished runs with all their rows (the
server calls it at start and every few minutes); SQLite reuses the freed pages, so the file
stops growing.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterable, TypeVar

from .events import Failed, Finished, StreamEvent, event_from_dict, event_to_dict
from .metrics import StreamResult, compute

log = logging.getLogger("tokenrace.store")
T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, prompt TEXT NOT NULL, params TEXT NOT NULL, providers TEXT NOT NULL,
    source TEXT NOT NULL, status TEXT NOT NULL, created REAL NOT NULL, finished REAL);
CREATE INDEX IF NOT EXISTS runs_created ON runs (created DESC);
CREATE INDEX IF NOT EXISTS runs_status ON runs (status);
CREATE TABLE IF NOT EXISTS results (
    run_id TEXT NOT NULL, idx INTEGER NOT NULL, provider TEXT NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (run_id, idx));
CREATE TABLE IF NOT EXISTS events (
    n INTEGER PRIMARY KEY, run_id TEXT NOT NULL, provider TEXT NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_run ON events (run_id, n);
CREATE TABLE IF NOT EXISTS messages (
    run_id TEXT NOT NULL, id INTEGER NOT NULL, event TEXT NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (run_id, id)) WITHOUT ROWID;
"""

def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def default_path() -> Path:
    """``$XDG_DATA_HOME/tokenrace/runs.db``, else ``~/.local/share/tokenrace/runs.db``."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "tokenrace" / "runs.db"


def interrupted_message(provider: str) -> str:
    return f"{provider}: interrupted: the server stopped before this stream ended; the text received is kept"


class RunStore:
    """Runs, results and event logs in one SQLite file (or ``":memory:"``)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path: str = ":memory:" if path == ":memory:" else str(Path(path) if path else default_path())
        self._exec: ThreadPoolExecutor | None = None
        self._db: sqlite3.Connection | None = None
        self._pending_events: list[tuple[str, StreamEvent]] = []
        self._pending_messages: list[tuple[str, int, str, str]] = []
        self._writer: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # ------------------------------------------------------------------ lifecycle
    async def open(self) -> None:
        if self._exec is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._exec = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tokenrace-store")
        await self._loop.run_in_executor(self._exec, self._connect)

    def _connect(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None)   # autocommit; explicit transactions
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=5000")
        db.executescript(_SCHEMA)
        if "parent" not in {r[1] for r in db.execute("PRAGMA table_info(runs)")}:   # a database from before threads
            db.execute("ALTER TABLE runs ADD COLUMN parent TEXT")
        db.execute("CREATE INDEX IF NOT EXISTS runs_parent ON runs (parent)")
        self._db = db

    async def close(self) -> None:
        if self._exec is None:
            return
        await self.flush()
        await self._call(self._disconnect)
        self._exec.shutdown(wait=True)
        self._exec = None

    def _disconnect(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    async def __aenter__(self) -> "RunStore":
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def db(self) -> sqlite3.Connection:
        """The connection (worker thread only)."""
        if self._db is None:
            raise RuntimeError("RunStore is not open (await store.open() first)")
        return self._db

    # ------------------------------------------------------------------ worker plumbing
    async def _call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the worker thread after writing everything queued so far."""
        if self._exec is None or self._loop is None:
            raise RuntimeError("RunStore is not open (await store.open() first)")
        events, self._pending_events = self._pending_events, []
        messages, self._pending_messages = self._pending_messages, []

        def job() -> T:
            if events or messages:
                self._write_batch(events, messages)
            return fn()
        return await self._loop.run_in_executor(self._exec, job)

    def _kick(self) -> None:
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._drain(), name="tokenrace-store-writer")

    async def _drain(self) -> None:
        while self._pending_events or self._pending_messages:
            try:
                await self._call(lambda: None)
            except Exception:
                log.exception("writing queued events to %s failed", self.path)
                return

    def _write_batch(self, events: list[tuple[str, StreamEvent]], messages: list[tuple[str, int, str, str]]) -> None:
        db = self.db
        db.execute("BEGIN")
        try:
            if events:
                db.executemany("INSERT INTO events (run_id, provider, data) VALUES (?, ?, ?)",
                               [(rid, ev.provider, _dumps(event_to_dict(ev))) for rid, ev in events])
            if messages:
                db.executemany("INSERT OR IGNORE INTO messages (run_id, id, event, data) VALUES (?, ?, ?, ?)",
                               messages)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    # ------------------------------------------------------------------ writes
    async def create_run(self, run_id: str, prompt: str, params: dict, providers: list[dict], *,
                         source: str = "serve", created: float | None = None, parent: str | None = None) -> None:
        created = time.time() if created is None else created
        row = (run_id, prompt, _dumps(params), _dumps(providers), source, "running", created,
               parent)

        def job() -> None:
            self.db.execute("INSERT INTO runs (id, prompt, params, providers, source, status, created, parent) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)
        await self._call(job)

    def append_events(self, run_id: str, events: list[StreamEvent]) -> None:
        """Queue engine events for a batched background write; never blocks."""
        if events:
            self._pending_events.extend((run_id, ev) for ev in events)
            self._kick()

    def append_messages(self, run_id: str, messages: Iterable[tuple[int, str, str]]) -> None:
        """Queue SSE protocol messages ``(id, event, data_json)``; never blocks."""
        before = len(self._pending_messages)
        self._pending_messages.extend((run_id, i, e, d) for i, e, d in messages)
        if len(self._pending_messages) != before:
            self._kick()

    async def finish_run(self, run_id: str, status: str, results: list[StreamResult]) -> None:
        rows = [(run_id, i, r.provider, _dumps(r.to_dict())) for i, r in enumerate(results)]
        finished = time.time()

        def job() -> None:
            db = self.db
            db.execute("BEGIN")
            try:
                db.execute("DELETE FROM results WHERE run_id = ?", (run_id,))
                db.executemany("INSERT INTO results (run_id, idx, provider, data) VALUES (?, ?, ?, ?)", rows)
                db.execute("UPDATE runs SET status = ?, finished = ? WHERE id = ?", (status, finished, run_id))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        await self._call(job)

    async def flush(self) -> None:
        """Wait until every queued event and message is written."""
        if self._exec is None:
            return
        while self._pending_events or self._pending_messages or (self._writer and not self._writer.done()):
            if self._pending_events or self._pending_messages:
                await self._call(lambda: None)
            elif self._writer is not None:
                await asyncio.shield(self._writer)

    async def mark_interrupted(self, source: str | None = None) -> int:
        """Runs still ``running`` (the process died) become ``interrupted``; results rebuilt from events.

        ``source`` limits it to one writer's runs (the server passes ``"serve"``, so a TUI's run
        in flight in another process sharing the file is left alone).
        """
        def job() -> int:
            db = self.db
            q = "SELECT id FROM runs WHERE status = 'running'"
            args: tuple[str, ...] = ()
            if source is not None:
                q, args = q + " AND source = ?", (source,)
            ids = [r[0] for r in db.execute(q, args)]
            for run_id in ids:
                providers = json.loads(db.execute("SELECT providers FROM runs WHERE id = ?", (run_id,)).fetchone()[0])
                by_provider: dict[str, list[StreamEvent]] = {}
                for (data,) in db.execute("SELECT data FROM events WHERE run_id = ? ORDER BY n", (run_id,)):
                    try:
                        ev = event_from_dict(json.loads(data))
                    except (ValueError, TypeError, KeyError):
                        continue
                    by_provider.setdefault(ev.provider, []).append(ev)
                results = []
                for p in providers:
                    name = p["name"]
                    evs = by_provider.get(name, [])
                    r = compute(evs, provider=name)
                    if not r.model:
                        r.model = p.get("model", "")
                    if not any(isinstance(e, (Finished, Failed)) for e in evs):
                        r.status, r.error, r.error_kind = "error", interrupted_message(name), "interrupted"
                    results.append(r)
                db.execute("BEGIN")
                try:
                    db.execute("DELETE FROM results WHERE run_id = ?", (run_id,))
                    db.executemany("INSERT INTO results (run_id, idx, provider, data) VALUES (?, ?, ?, ?)",
                                   [(run_id, i, r.provider, _dumps(r.to_dict()))
                                    for i, r in enumerate(results)])
                    db.execute("UPDATE runs SET status = 'interrupted', finished = ? WHERE id = ?",
                               (time.time(), run_id))
                    db.execute("COMMIT")
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
            return len(ids)
        n = await self._call(job)
        if n:
            log.warning("%d run(s) were in flight when the server stopped: marked interrupted", n)
        return n

    async def prune(self, keep_runs: int | None, keep_days: float | None, *, batch: int = 500) -> int:
        """Delete finished runs beyond the newest ``keep_runs`` or created more than ``keep_days``
        ago, with their results, events and messages; never a run still ``running`` (another
        process may be writing it). None: no limit of that kind. Returns how many runs went.
        Deletes ``batch`` runs per worker job, so other calls are not held up behind a long one."""
        if keep_runs is None and keep_days is None:
            return 0
        conds: list[str] = []
        args: list[Any] = []
        if keep_runs is not None:
            conds.append("id NOT IN (SELECT id FROM runs ORDER BY created DESC, rowid DESC LIMIT ?)")
            args.append(max(0, int(keep_runs)))
        if keep_days is not None:
            conds.append("created < ?")
            args.append(time.time() - keep_days * 86400.0)
        query = f"SELECT id FROM runs WHERE status != 'running' AND ({' OR '.join(conds)})"

        def select() -> list[str]:
            return [r[0] for r in self.db.execute(query, args)]
        ids = await self._call(select)
        for i in range(0, len(ids), batch):
            chunk = ids[i:i + batch]
            await self._call(lambda: self._delete_runs(chunk))
        return len(ids)

    def _delete_runs(self, ids: list[str]) -> None:
        db = self.db
        marks = ",".join("?" * len(ids))
        db.execute("BEGIN")
        try:
            for table, column in (("events", "run_id"), ("messages", "run_id"), ("results", "run_id"),
                                  ("runs", "id")):
                db.execute(f"DELETE FROM {table} WHERE {column} IN ({marks})", ids)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    # ------------------------------------------------------------------ reads
    @staticmethod
    def _run_row(row: tuple) -> dict[str, Any]:
        rid, prompt, providers, status, source, created, parent = row
        return {"id": rid, "prompt": prompt, "created": created, "providers": json.loads(providers),
                "status": status, "source": source, "parent": parent}

    async def list_runs(self, limit: int = 50, source: str | None = None) -> list[dict]:
        limit = max(0, int(limit))

        def job() -> list[dict]:
            q = "SELECT id, prompt, providers, status, source, created, parent FROM runs"
            args: tuple = ()
            if source is not None:
                q += " WHERE source = ?"
                args = (source,)
            q += " ORDER BY created DESC, rowid DESC LIMIT ?"
            return [self._run_row(r) for r in self.db.execute(q, args + (limit,))]
        return await self._call(job)

    async def get_run(self, run_id: str) -> dict | None:
        def job() -> dict | None:
            row = self.db.execute("SELECT id, prompt, providers, status, source, created, parent, params, finished "
                                   "FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                return None
            run = self._run_row(row[:7])
            run["params"] = json.loads(row[7])
            run["finished"] = row[8]
            run["results"] = [json.loads(d) for (d,) in self.db.execute(
                "SELECT data FROM results WHERE run_id = ? ORDER BY idx", (run_id,))]
            return run
        return await self._call(job)

    async def thread(self, run_id: str, max_runs: int = 500) -> list[dict]:
        """The conversation ``run_id`` ends: its runs from the first to ``run_id`` (each as :meth:`get_run`)."""
        from .thread import walk
        return await walk(self.get_run, run_id, max_runs)

    async def get_events(self, run_id: str) -> list[StreamEvent]:
        def job() -> list[StreamEvent]:
            return [event_from_dict(json.loads(d)) for (d,) in self.db.execute(
                "SELECT data FROM events WHERE run_id = ? ORDER BY n", (run_id,))]
        return await self._call(job)

    async def get_messages(self, run_id: str) -> list[tuple[int, str, str]]:
        """The stored SSE protocol log ``(id, event, data_json)`` in id order."""
        def job() -> list[tuple[int, str, str]]:
            return list(self.db.execute("SELECT id, event, data FROM messages WHERE run_id = ? ORDER BY id",
                                         (run_id,)))
        return await self._call(job)

    async def dump(self) -> list[tuple]:
        """Every row of every table (tests use it to check no secret was stored)."""
        def job() -> list[tuple]:
            out: list[tuple] = []
            for table in ("runs", "results", "events", "messages"):
                out.extend((table, *r) for r in self.db.execute(f"SELECT * FROM {table}"))
            return out
        return await self._call(job)
