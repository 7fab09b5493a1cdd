"""In-process mode: a race session on an engine thread of its own; its messages cross to the UI loop.

The session (and the built-in simulator, when there is no config, and the run store) live on an
:class:`~tokenrace.engine_thread.EngineThread`, not on the UI's loop: drawing a frame of a busy
screen takes tens of milliseconds, and a read loop waiting behind it would take its timestamps late.
Everything about the race (validation, redaction, metrics, recording, the protocol) is the
:class:`~tokenrace.session.RaceSession`'s; this module only carries its messages to the UI, a
frame's worth at a time, and stops it (recorded to its end) when the app quits. A follow-up is
validated and given each provider's history (:func:`~tokenrace.thread.with_history`) on the engine
loop too, where the run store lives; without a store, this process's own runs stand in for it.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, AsyncContextManager, AsyncGenerator, Callable

from ..config.models import Config
from ..engine_thread import EngineThread
from ..protocol import Delta, Frame, Message, Reset, RunEnd, decode
from ..providers.http import HTTPClient
from ..recording import replay_frames
from ..runrequest import Limits, RequestError, RunRequest, validate
from ..session import RaceSession
from ..store import RunStore
from ..thread import with_history
from .messages import RaceMessage, RunStarted, SourceError, coalesce

log = logging.getLogger("tokenrace.tui")
QUIT_WAIT_S = 5.0          # quitting mid-run: how long the run may take to end and be recorded
MEMORY_RUNS = 500          # without a run history: finished runs kept for follow-ups


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
        self.limits = Limits(metrics_interval_s=metrics_interval)
        self.batch_s = batch_s
        self.engine: EngineThread | None = None
        self._engine_stack: contextlib.AsyncExitStack | None = None
        self.config: Config | None = None
        self.client: HTTPClient | None = None
        self.store: RunStore | None = None
        self.store_error: str | None = None     # why runs are not recorded (shown once by the app)
        self.session: RaceSession | None = None
        self._memory: dict[str, dict[str, Any]] = {}    # run id -> run (engine loop only; no store)

    @property
    def label(self) -> str:
        if self.config is None:
            return "in-process"
        return "in-process · " + ("built-in simulator" if self.config.builtin else (self.config.source or "config"))

    # ------------------------------------------------------------------ lifecycle
    async def open(self) -> None:
        self.engine = EngineThread()
        self.engine.start()
        try:
            self._engine_stack, config, self.client = await self.engine.call(self._enter())
            self.config = config
            if self._only:
                config.select(self._only)      # unknown names fail now, with the config's message
        except BaseException:
            await self.close()
            raise
        if self._record:
            await self._open_store()

    async def _enter(self) -> tuple[contextlib.AsyncExitStack, Config, HTTPClient]:
        """On the engine loop: the config (perhaps starting the simulator) and the HTTP client."""
        stack = contextlib.AsyncExitStack()
        try:
            config = await stack.enter_async_context(self._factory())
            client = await stack.enter_async_context(HTTPClient())
        except BaseException:
            await stack.aclose()
            raise
        return stack, config, client

    async def _open_store(self) -> None:
        assert self.engine is not None
        store = RunStore(self._db_path)
        try:
            await self.engine.call(store.open())      # the store lives on the engine loop, like the session
        except Exception as e:                        # e.g. read-only home: run anyway, without history
            self.store_error = f"run history is off: cannot open {store.path}: {e}"
            log.warning("%s", self.store_error)
            return
        self.store = store

    async def close(self) -> None:
        engine = self.engine
        if engine is None:
            return
        session = self.session
        if session is not None and session.running:     # quitting mid-run: stop it, wait until recorded
            engine.call_soon(session.cancel, "the terminal UI was closed")
            with contextlib.suppress(Exception):
                await engine.call(_wait(session, QUIT_WAIT_S))
        if self.store is not None:
            store, self.store = self.store, None
            with contextlib.suppress(Exception):
                await engine.call(store.close())
        if self._engine_stack is not None:
            stack, self._engine_stack = self._engine_stack, None
            with contextlib.suppress(Exception):
                await engine.call(stack.aclose())
        await engine.stop()

    # ------------------------------------------------------------------ races
    async def providers(self) -> list[dict[str, Any]]:
        assert self.config is not None, "open() first"
        return [p.public() for p in self.config.select(self._only)]

    @property
    def priced(self) -> bool | None:
        """Whether any provider has a price (no Cost column without one)."""
        return None if self.config is None else any(p.price is not None for p in self.config.select(self._only))

    async def cancel(self) -> None:
        if self.session is not None and self.engine is not None:
            self.engine.call_soon(self.session.cancel, "cancelled by request")

    async def run(self, prompt: str, providers: list[str] | None = None, params: dict[str, Any] | None = None,
                  parent: str | None = None) -> AsyncGenerator[RaceMessage, None]:
        """Race ``prompt``; with ``parent``, as a follow-up of that run (each provider gets its own history)."""
        assert self.config is not None and self.engine is not None and self.client is not None, "open() first"
        body = {"prompt": prompt, "providers": providers or self._only, "params": params, "parent": parent}
        try:
            request = await self.engine.call(self._prepare(body))
        except RequestError as e:
            yield SourceError(str(e))
            return
        except Exception as e:          # the run history could not be read: say so, stay up
            log.warning("cannot start the run: %s", e)
            yield SourceError(f"cannot start the run: {e}")
            return
        ui_loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Message] = asyncio.Queue()   # drained a frame at a time

        def forward(_frame: Frame, msg: Message) -> None:  # engine thread -> UI loop
            with contextlib.suppress(RuntimeError):        # the UI loop is gone (app closed): nobody reads
                ui_loop.call_soon_threadsafe(queue.put_nowait, msg)

        session = RaceSession(request, self.config, self.client, store=self.store, source="tui", limits=self.limits)
        session.listeners.append(forward)
        self.session = session
        done = self.engine.submit(self._race(session))
        yield RunStarted(session.id, prompt, tuple(p.public() for p in request.providers), request.shown_params(),
                         parent=request.parent)
        ended = False
        try:
            while not ended:
                batch: list[RaceMessage] = [await queue.get()]
                if not isinstance(batch[0], RunEnd) and self.batch_s:
                    await asyncio.sleep(self.batch_s)      # gather a frame's worth (timestamps are already taken)
                while not queue.empty():
                    batch.append(queue.get_nowait())
                for msg in coalesce(batch):
                    ended = ended or isinstance(msg, RunEnd)
                    yield msg
        finally:
            if not ended:                           # the consumer went away (app quit): stop the streams
                self.engine.call_soon(session.cancel, "the terminal UI stopped following the run")
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.wrap_future(done), QUIT_WAIT_S)
            if self.session is session:
                self.session = None

    async def _prepare(self, body: dict[str, Any]) -> RunRequest:
        """On the engine loop (where the store lives): validate, then the follow-up's history."""
        assert self.config is not None
        request = validate(body, self.config, self.limits)
        if request.parent is not None:
            request = with_history(request, await self._thread(request.parent))
        return request

    async def _race(self, session: RaceSession) -> None:
        await session.run()
        if self.store is None:          # no run history: keep the conversation in memory for follow-ups
            self._memory[session.id] = session.describe()
            while len(self._memory) > MEMORY_RUNS:
                del self._memory[next(iter(self._memory))]

    async def _thread(self, run_id: str) -> list[dict[str, Any]]:
        if self.store is not None:
            return await self.store.thread(run_id)
        chain: list[dict[str, Any]] = []
        run = self._memory.get(run_id)
        while run is not None and len(chain) < MEMORY_RUNS:
            chain.append(run)
            run = self._memory.get(run["parent"]) if run.get("parent") else None
        return chain[::-1]

    async def thread(self, run_id: str) -> list[dict[str, Any]]:
        """The conversation ``run_id`` ends, first turn first (each run with its results)."""
        if self.engine is None:
            return []
        return await self.engine.call(self._thread(run_id))

    # ------------------------------------------------------------------ history
    async def list_runs(self, limit: int = 50) -> list[dict[str, Any]]:
        if self.store is None or self.engine is None:
            return []
        return await self.engine.call(self.store.list_runs(limit))

    async def open_run(self, run_id: str) -> AsyncGenerator[RaceMessage, None]:
        """Replay a recorded run from the database (its protocol log, else its results)."""
        store, engine = self.store, self.engine
        run = await engine.call(store.get_run(run_id)) if store is not None and engine is not None else None
        if run is None or store is None or engine is None:
            yield SourceError(f"run {run_id} is not in the local database")
            return
        yield RunStarted(run_id, run["prompt"], tuple(run["providers"]), run.get("params") or {}, replay=True,
                         parent=run.get("parent"))
        rows = await engine.call(store.get_messages(run_id))
        if not rows:     # recorded without a protocol log (a bench run): the final results' text
            for r in run.get("results", []):
                if r.get("reasoning"):
                    yield Delta(r["provider"], reasoning=r["reasoning"])
                if r.get("text"):
                    yield Delta(r["provider"], text=r["text"])
        for frame in replay_frames(run, rows):
            msg = decode(frame.event, frame.data, run_id)
            if msg is not None and not isinstance(msg, Reset):
                yield msg


async def _wait(session: RaceSession, timeout: float) -> None:
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(session.wait(), timeout)

