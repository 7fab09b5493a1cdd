"""In-process mode: races run by the engine in this process, on an event loop of their own.

The engine (and the built-in simulator, when there is no config) runs on an :class:`EngineThread`,
not on the UI's loop: drawing a frame of a busy screen takes tens of milliseconds, and a read loop
waiting behind it would take its timestamps late. On its own loop the read loop waits at most a
GIL switch interval, so the figures match ``tokenrace run``'s.

Engine events cross to the UI loop with ``call_soon_threadsafe``. Everything computed from an
accumulator (live ``Metrics`` on a timer, the final result on ``Finished``/``Failed``) is computed on
the engine thread, where the accumulator lives, and travels with the event. On the UI loop,
:class:`_Translator` turns them into the protocol-shaped messages, a frame's worth at a time.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
import uuid
from typing import Any, AsyncContextManager, AsyncIterator, Callable

from ..config.models import Config
from ..errors import TokenraceError
from ..events import Failed, Finished, Notice as NoticeEvent, ReasoningDelta, Started, TextDelta
from .messages import (Delta, Metrics, Notice, ProviderDone, ProviderError, ProviderStart, RaceMessage, Reset,
                       RunEnd, RunStarted, SourceError, coalesce, message_from_sse, message_to_sse)

log = logging.getLogger("tokenrace.tui")
_JSON = dict(ensure_ascii=False, separators=(",", ":"))
_END = "end"       # the race finished (sent after its last event)
_TICK = "tick"     # ("tick", [Metrics, ...]): live figures


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


class EngineThread:
    """An asyncio loop on a daemon thread; coroutines are submitted from the UI loop."""

    def __init__(self, name: str = "tokenrace-engine") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
            pending = asyncio.all_tasks(self.loop)
            for task in pending:
                task.cancel()
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        finally:
            self.loop.close()

    def start(self) -> None:
        self._thread.start()

    async def call(self, coro) -> Any:
        """Run ``coro`` on the engine loop; await its result from the calling loop."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def call_soon(self, fn: Callable, *args: Any) -> None:
        self.loop.call_soon_threadsafe(fn, *args)

    async def stop(self) -> None:
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            await asyncio.to_thread(self._thread.join, 10)


class LocalSource:
    """Runs races with the engine directly; no server needed."""

    mode = "local"

    def __init__(self, config_path: str | None = None, *, providers: list[str] | None = None,
                 config_factory: Callable[[], AsyncContextManager[Config]] | None = None,
                 db_path: str | None = None, record: bool = True, metrics_interval: float = 0.25,
                 batch_s: float = 1 / 30) -> None:
        from ..runtime import open_config
        self._factory = config_factory or (lambda: open_config(config_path))
        self._only = providers
        self._db_path, self._record = db_path, record
        self.interval, self.batch_s = metrics_interval, batch_s
        self.engine: EngineThread | None = None
        self._engine_stack: contextlib.AsyncExitStack | None = None
        self.config: Config | None = None
        self.client = None
        self.store = None
        self.store_error: str | None = None     # why runs are not recorded (shown once by the app)
        self._race = None
        self._cancelled = False
        self._idle = asyncio.Event()

    @property
    def label(self) -> str:
        if self.config is None:
            return "in-process"
        return "in-process · " + ("built-in simulator" if self.config.builtin else (self.config.source or "config"))

    async def open(self) -> None:
        self.engine = EngineThread()
        self.engine.start()
        try:
            self._engine_stack, self.config, self.client = await self.engine.call(self._enter())
            if self._only:
                self.config.select(self._only)      # unknown names fail now, with the config's message
        except BaseException:
            await self.close()
            raise
        if self._record:
            await self._open_store()

    async def _enter(self):
        """On the engine loop: the config (perhaps starting the simulator) and the HTTP client."""
        from ..providers.http import HTTPClient
        stack = contextlib.AsyncExitStack()
        try:
            config = await stack.enter_async_context(self._factory())
            client = await stack.enter_async_context(HTTPClient())
        except BaseException:
            await stack.aclose()
            raise
        return stack, config, client

    async def _open_store(self) -> None:
        try:
            from ..store import RunStore
        except ImportError:                           # the store is optional for the TUI
            self.store_error = "run history is unavailable (tokenrace.store is missing)"
            return
        store = RunStore(self._db_path)
        try:
            await store.open()
        except Exception as e:                        # e.g. read-only home: run anyway, without history
            self.store_error = f"run history is off: cannot open {store.path}: {e}"
            log.warning("%s", self.store_error)
            return
        self.store = store

    async def close(self) -> None:
        if self._race is not None and self.engine is not None:     # quitting mid-run: stop it, record it
            self._cancelled = True
            self.engine.call_soon(self._race.cancel)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._idle.wait(), 5)
        if self.store is not None:
            store, self.store = self.store, None
            await store.close()
        if self.engine is not None:
            if self._engine_stack is not None:
                stack, self._engine_stack = self._engine_stack, None
                with contextlib.suppress(Exception):
                    await self.engine.call(stack.aclose())
            await self.engine.stop()

    async def providers(self) -> list[dict[str, Any]]:
        assert self.config is not None, "open() first"
        return [p.public() for p in self.config.select(self._only)]

    async def cancel(self) -> None:
        if self._race is not None and self.engine is not None:
            self._cancelled = True
            self.engine.call_soon(self._race.cancel)

    async def run(self, prompt: str, providers: list[str] | None = None,
                  params: dict[str, Any] | None = None) -> AsyncIterator[RaceMessage]:
        assert self.config is not None and self.engine is not None, "open() first"
        try:
            chosen = self.config.select(providers or self._only)
        except TokenraceError as e:
            yield SourceError(str(e))
            return
        params = dict(params or {})
        run_id = new_run_id()
        public = tuple(p.public() for p in chosen)
        ui_loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()   # drained a frame at a time; the race cannot outrun it for long

        def send(item: Any) -> None:             # engine thread -> UI loop
            ui_loop.call_soon_threadsafe(queue.put_nowait, item)

        rec = _Recorder(self.store, run_id)
        await rec.create(prompt, params, list(public))
        t0 = time.perf_counter_ns()
        race, task = await self.engine.call(self._start_race(chosen, prompt, params, send))
        self._race, self._cancelled = race, False
        self._idle = asyncio.Event()                # set once the run is recorded to its end
        yield RunStarted(run_id, prompt, public, params)
        state = _Translator({p.name: p.kind for p in chosen}, t0)
        ended = False
        try:
            while not ended:
                batch = [await queue.get()]
                if batch[0] != _END and self.batch_s:
                    await asyncio.sleep(self.batch_s)      # gather a frame's worth (timestamps are already taken)
                while not queue.empty():
                    batch.append(queue.get_nowait())
                ended = _END in batch
                for msg in coalesce(state.translate(batch, rec)):
                    rec.message(msg)
                    yield msg
        finally:
            self._race = None
            if not ended:                           # the consumer went away (app quit): stop the streams
                self.engine.call_soon(race.cancel)
                with contextlib.suppress(Exception):
                    await self.engine.call(_wait(task))
                    await rec.finish("cancelled", race.results())
                self._idle.set()
        results = race.results()                    # the race is over: nothing changes them any more
        status = "cancelled" if self._cancelled else "done"
        end = RunEnd(run_id, status)
        rec.message(end)
        await rec.finish(status, results)
        self._idle.set()
        yield end

    async def _start_race(self, chosen, prompt: str, params: dict, send: Callable[[Any], None]):
        """On the engine loop: start the race; its events, figures and end go to ``send``."""
        from ..race import Race
        from ..request import ChatRequest
        race = Race(self.client, chosen, ChatRequest.from_prompt(prompt, params), defaults=self.config.defaults)

        def on_event(ev) -> None:       # called after the accumulator took the event
            if isinstance(ev, (Finished, Failed)):
                acc = race.accumulators[ev.provider]
                send((ev, Metrics(**acc.live(time.perf_counter_ns()).to_dict()), acc.result().to_dict()))
            else:
                send(ev)
        race.listeners.append(on_event)

        async def tick() -> None:
            while True:
                await asyncio.sleep(self.interval)
                now = time.perf_counter_ns()
                send((_TICK, [Metrics(**acc.live(now).to_dict()) for acc in race.accumulators.values()
                              if acc.attempts and acc.status in ("waiting", "streaming")]))
        ticker = asyncio.create_task(tick())
        task = asyncio.create_task(race.run(), name="tokenrace-tui-race")
        task.add_done_callback(lambda _t: (ticker.cancel(), send(_END)))
        return race, task

    async def list_runs(self, limit: int = 50) -> list[dict[str, Any]]:
        if self.store is None:
            return []
        return await self.store.list_runs(limit)

    async def open_run(self, run_id: str) -> AsyncIterator[RaceMessage]:
        """Replay a recorded run from the database (its protocol log, else its results)."""
        run = await self.store.get_run(run_id) if self.store is not None else None
        if run is None:
            yield SourceError(f"run {run_id} is not in the local database")
            return
        yield RunStarted(run_id, run["prompt"], tuple(run["providers"]), run.get("params") or {}, replay=True)
        stored = await self.store.get_messages(run_id)
        ended = False
        for _id, event, data in stored:
            msg = message_from_sse(event, json.loads(data), run_id)
            if msg is not None and not isinstance(msg, Reset):
                ended = ended or isinstance(msg, RunEnd)
                yield msg
        if not stored:     # recorded without a protocol log: show the final results
            for r in run.get("results", []):
                if r.get("reasoning"):
                    yield Delta(r["provider"], reasoning=r["reasoning"])
                if r.get("text"):
                    yield Delta(r["provider"], text=r["text"])
                yield ProviderDone(r["provider"], r)
        if not ended:
            yield RunEnd(run_id, run.get("status", ""))


async def _wait(task: asyncio.Task) -> None:
    await asyncio.gather(task, return_exceptions=True)


class _Translator:
    """What the engine thread sent -> protocol-shaped messages, for one race (on the UI loop)."""

    def __init__(self, kinds: dict[str, str], t0_ns: int) -> None:
        self.kinds, self.t0 = kinds, t0_ns
        self.last: dict[str, Metrics] = {}

    def _t_ms(self, t_ns: int) -> float:
        return round((t_ns - self.t0) / 1e6, 3)

    def _changed(self, m: Metrics) -> bool:
        if self.last.get(m.provider) == m:
            return False
        self.last[m.provider] = m
        return True

    def translate(self, batch: list, rec: "_Recorder") -> list[RaceMessage]:
        out: list[RaceMessage] = []
        for item in batch:
            if item == _END:
                continue
            if isinstance(item, tuple) and item[0] == _TICK:
                out.extend(m for m in item[1] if self._changed(m))
                continue
            if isinstance(item, tuple):                       # (Finished | Failed, final Metrics, result)
                ev, metrics, result = item
                rec.event(ev)
                if self._changed(metrics):
                    out.append(metrics)
                if isinstance(ev, Failed):
                    out.append(ProviderError(ev.provider, ev.message, ev.kind, ev.http_status))
                out.append(ProviderDone(ev.provider, result))
                continue
            ev = item
            rec.event(ev)
            if isinstance(ev, (TextDelta, ReasoningDelta)):
                if ev.text:
                    is_text = isinstance(ev, TextDelta)
                    out.append(Delta(ev.provider, ev.text if is_text else "", "" if is_text else ev.text,
                                     self._t_ms(ev.t_ns)))
            elif isinstance(ev, Started):
                out.append(ProviderStart(ev.provider, ev.model, self.kinds.get(ev.provider, ""), ev.attempt,
                                         self._t_ms(ev.t_ns)))
            elif isinstance(ev, NoticeEvent):
                out.append(Notice(ev.provider, ev.message))
        return out


class _Recorder:
    """Writes a local run to the store (engine events, protocol log, results); never fails the run."""

    def __init__(self, store, run_id: str) -> None:
        self.store, self.run_id, self.n = store, run_id, 0

    async def create(self, prompt: str, params: dict, providers: list[dict]) -> None:
        if self.store is not None:
            try:
                await self.store.create_run(self.run_id, prompt, params, providers, source="tui")
            except Exception:
                log.exception("recording run %s failed; it will not be in the history", self.run_id)
                self.store = None

    def event(self, ev) -> None:
        if self.store is not None:
            self.store.append_events(self.run_id, [ev])

    def message(self, msg: RaceMessage) -> None:
        if self.store is None:
            return
        sse = message_to_sse(msg)
        if sse is not None:
            self.n += 1
            self.store.append_messages(self.run_id, [(self.n, sse[0], json.dumps(sse[1], **_JSON))])

    async def finish(self, status: str, results) -> None:
        if self.store is not None:
            try:
                await self.store.finish_run(self.run_id, status, results)
            except Exception:
                log.exception("recording the end of run %s failed", self.run_id)
