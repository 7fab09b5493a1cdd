"""``tokenrace run``: one race in the terminal, a live view, then the comparison (or ``--json``).

The race session runs on an engine thread of its own: the live view redraws on the main thread from
the session's messages, so drawing never delays a byte read (the figures are the TUI's and the
server's). The run is recorded in the local run history like the TUI's.
"""
from __future__ import annotations

import argparse
import dataclasses
import contextlib
import json
import queue
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.panel import Panel

from .. import __version__
from ..config.models import Config
from ..engine_thread import EngineThread
from ..errors import UsageError
from ..metrics import LiveFigures, StreamResult
from ..protocol import Delta, Message, Metrics, ProviderDone, ProviderError, RunEnd
from ..providers.http import HTTPClient
from ..render import display_text, live_table, results_table
from ..runrequest import RequestError, RunRequest, validate
from ..runtime import open_config
from ..session import RaceSession
from ..store import RunStore
from ..thread import with_history

REFRESH_S = 0.1
TAIL_CHARS = 400


def main(args: argparse.Namespace) -> int:
    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    engine = EngineThread("tokenrace-run")
    engine.start()
    try:
        return _main(engine, args, prompt)
    finally:
        engine.stop_now()


def request_params(args: argparse.Namespace) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if args.max_tokens is not None:
        params["max_tokens"] = args.max_tokens
    if args.temperature is not None:
        params["temperature"] = args.temperature
    if args.system is not None:
        params["system"] = args.system
    return params


@dataclass
class _Engine:
    """What lives on the engine loop for one ``run``: the config, the HTTP client, the store."""

    stack: contextlib.AsyncExitStack
    config: Config
    client: HTTPClient
    store: RunStore | None
    store_error: str | None = None


async def _open(args: argparse.Namespace) -> _Engine:
    stack = contextlib.AsyncExitStack()
    try:
        config = await stack.enter_async_context(open_config(args.config))
        client = await stack.enter_async_context(HTTPClient())
    except BaseException:
        await stack.aclose()
        raise
    store: RunStore | None = None
    error = None
    if not args.no_history:
        candidate = RunStore(args.db)
        try:
            await candidate.open()
            stack.push_async_callback(candidate.close)
            store = candidate
        except Exception as e:                     # a read-only home: race anyway, unrecorded
            error = f"not recorded in the run history: cannot open {candidate.path}: {e}"
    return _Engine(stack, config, client, store, error)


def _main(engine: EngineThread, args: argparse.Namespace, prompt: str) -> int:
    if args.continue_run and args.no_history:
        raise UsageError("--continue reads the conversation from the run history: leave out --no-history")
    env = engine.submit(_open(args)).result()
    try:
        try:
            request = validate({"prompt": prompt, "providers": args.provider, "params": request_params(args)},
                               env.config)
            if args.continue_run:
                request = engine.submit(_continue(env, request, args.continue_run)).result()
        except RequestError as e:
            raise UsageError(e.message) from None
        if env.store_error:
            print(f"tokenrace: {env.store_error}", file=sys.stderr)
        inbox: "queue.SimpleQueue[Message]" = queue.SimpleQueue()
        session = RaceSession(request, env.config, env.client, store=env.store, source="run")
        session.listeners.append(lambda _f, msg: inbox.put(msg))
        done = engine.submit(session.run())
        console = Console(stderr=True)
        view = _LiveView(request.providers) if not args.json and console.is_terminal else None
        results = _follow(engine, session, done, inbox, view, console)
    finally:
        engine.submit(env.stack.aclose()).result(timeout=30)
    if args.json:
        doc = {"prompt": prompt, "run": session.id, "parent": request.parent, "tool": f"tokenrace {__version__}",
               "config": env.config.source or "built-in simulator", "params": request.shown_params(),
               "results": [r.to_dict() for r in results]}
        json.dump(doc, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        _print_results(results, args, env.config.builtin)
    return 0 if all(r.status == "ok" for r in results) else 1


async def _continue(env: _Engine, request: RunRequest, which: str) -> RunRequest:
    """``request`` as a follow-up of run ``which`` (``last``: the newest run in the history)."""
    if env.store is None:
        raise RequestError(f"--continue needs the run history ({env.store_error})")
    if which == "last":
        newest = await env.store.list_runs(1)
        if not newest:
            raise RequestError("--continue last: the run history is empty")
        which = newest[0]["id"]
    thread = await env.store.thread(which)
    request = dataclasses.replace(request, parent=which)
    return with_history(request, thread)


def _follow(engine: EngineThread, session: RaceSession, done: Any, inbox: "queue.SimpleQueue[Message]",
            view: "_LiveView | None", console: Console) -> list[StreamResult]:
    """Until the session is over: fold its messages into the live view; Ctrl+C stops the race."""
    live = Live(view.table() if view else "", console=console, auto_refresh=False, transient=True) if view else None
    with live if live is not None else contextlib.nullcontext():
        ended = False
        while not ended:
            try:
                # paced, not woken per message: each wake-up of this thread takes the GIL from the
                # engine thread, whose next read would be stamped late
                time.sleep(REFRESH_S)
                while not inbox.empty():
                    msg = inbox.get_nowait()
                    if view is not None:
                        view.add(msg)
                    ended = ended or isinstance(msg, RunEnd)
            except KeyboardInterrupt:                 # Ctrl+C: stop, keep what arrived
                engine.call_soon(session.cancel, "cancelled (Ctrl+C)")
            if live is not None and view is not None:
                live.update(view.table(), refresh=True)
    results: list[StreamResult] = done.result()
    return results


@dataclass
class _Row:
    figures: LiveFigures
    tail: str = ""
    error: str | None = None


@dataclass
class _LiveView:
    """The live table, from the session's messages only (figures are never computed here)."""

    providers: Any
    rows: dict[str, _Row] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rows = {p.name: _Row(LiveFigures(p.name, "waiting", 0.0, None, 0, None)) for p in self.providers}

    def add(self, msg: Message) -> None:
        row = self.rows.get(getattr(msg, "provider", ""))
        if row is None:
            return
        if isinstance(msg, Metrics):
            row.figures = LiveFigures(msg.provider, msg.status, msg.elapsed_ms or 0.0, msg.ttft_ms,
                                      msg.tokens or 0, msg.tokens_per_s, msg.token_source or "estimate")
        elif isinstance(msg, Delta):
            row.tail = (row.tail + (msg.text or msg.reasoning))[-TAIL_CHARS:]
        elif isinstance(msg, ProviderError):
            row.error = msg.message
        elif isinstance(msg, ProviderDone):
            status = str(msg.result.get("status", row.figures.status))
            row.figures = dataclasses.replace(row.figures, status=status)

    def table(self) -> Any:
        return live_table((r.figures, r.tail, r.error) for r in self.rows.values())


def _print_results(results: list[StreamResult], args: argparse.Namespace, builtin: bool) -> None:
    out = Console()
    if not args.no_text:
        for r in results:     # display_text: emoji sequences would push the panel's right border out
            body = escape(display_text(r.text)) if r.text else "(no answer)"
            if r.reasoning:
                body = f"[dim italic]reasoning: {escape(display_text(r.reasoning))}[/dim italic]\n\n{body}"
            style = {"ok": "green", "error": "red"}.get(r.status, "yellow")
            subtitle = escape(display_text(r.error)) if r.error else None
            out.print(Panel(body, title=escape(f"{r.provider} · {display_text(r.model)}"), subtitle=subtitle,
                            border_style=style, title_align="left", subtitle_align="left"))
    title = "tokenrace — built-in simulator" if builtin else None
    out.print(results_table(results, title=title))
    for r in results:
        for n in r.notices:
            out.print(f"[yellow]![/yellow] {r.provider}: {escape(display_text(n))}")
        if r.error and r.status != "ok":
            out.print(f"[red]✗[/red] {escape(display_text(r.error))}")

