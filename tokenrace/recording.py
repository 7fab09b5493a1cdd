"""Putting a race into the run store, and reading its protocol log back for replay.

One :class:`Recorder` per run, used by the race session (``run``, ``serve``, both TUI modes) and by
``bench``: the run row, the engine events (for a result rebuilt after a crash), the protocol frames
(for a byte-identical replay) and the final results. Recording never fails a race: a store that
cannot write is logged once and the race goes on. Everything recorded was redacted by the engine.
"""
from __future__ import annotations

import json
import logging
import time
from typing import Any, Iterable, Sequence

from .events import StreamEvent
from .metrics import StreamResult
from .protocol import Frame, ProviderDone, RunEnd, dumps, encode
from .store import RunStore

log = logging.getLogger("tokenrace.store")


class Recorder:
    """Writes one run to a store; a ``None`` store records nothing."""

    def __init__(self, store: RunStore | None, run_id: str, source: str) -> None:
        self.store, self.run_id, self.source = store, run_id, source

    def _lost(self, what: str) -> None:
        log.exception("recording run %s failed (%s); it will be missing from the history", self.run_id, what)
        self.store = None

    async def create(self, prompt: str, params: dict[str, Any], providers: list[dict[str, str]],
                     created: float | None = None, parent: str | None = None) -> None:
        if self.store is None:
            return
        try:
            await self.store.create_run(self.run_id, prompt, params, providers, source=self.source,
                                        created=time.time() if created is None else created, parent=parent)
        except Exception:
            self._lost("creating it")

    def event(self, ev: StreamEvent) -> None:
        if self.store is not None:
            self.store.append_events(self.run_id, [ev])

    def frame(self, f: Frame) -> None:
        if self.store is not None:
            self.store.append_messages(self.run_id, ((f.id, f.event, f.data),))

    async def finish(self, status: str, results: Sequence[StreamResult]) -> None:
        if self.store is None:
            return
        try:
            await self.store.finish_run(self.run_id, status, list(results))
        except Exception:
            self._lost("storing its results")


def replay_frames(run: dict[str, Any], rows: Iterable[tuple[int, str, str]]) -> list[Frame]:
    """A stored run's protocol log (``RunStore.get_messages`` rows) as frames, completed when it was cut.

    The log is kept up to its last contiguous id; providers without a ``done`` get one from the stored
    results, and an ``end`` with the run's status closes it, so every replay ends like a live run.
    """
    out: list[Frame] = []
    done: set[str] = set()
    for i, event, data in rows:
        if i != len(out) + 1:     # a hole (a batch lost): stop at the last contiguous message
            break
        if event == "end":
            out.append(Frame(i, event, None, data))
            return out
        provider = None
        try:
            doc = json.loads(data)
            provider = doc.get("provider") if isinstance(doc, dict) else None
        except ValueError:
            pass
        if event == "done" and provider:
            done.add(provider)
        out.append(Frame(i, event, provider if isinstance(provider, str) else None, data))
    for r in run.get("results") or []:
        name = r.get("provider")
        if isinstance(name, str) and name not in done:
            done.add(name)
            out.append(encode(ProviderDone(name, r), len(out) + 1))
    out.append(encode(RunEnd(str(run["id"]), str(run.get("status", ""))), len(out) + 1))
    return out


__all__ = ["Recorder", "replay_frames", "dumps"]
