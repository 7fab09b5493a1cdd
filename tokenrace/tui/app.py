"""The Textual app: one source of runs (local or remote), one :class:`RunState`, the screens.

Data flows one way. A worker iterates the source and posts each message as a :class:`RaceUpdate`;
the handler folds it into ``self.state`` and pushes the result down to the main screen's widgets.
Widgets never do I/O; the app does (source calls, clipboard, export files).

Conversations: Enter after a run asks a follow-up (the source is given the run as ``parent``; the
engine gives each provider its own history), Ctrl+N starts a new conversation. ``self.turns`` holds
the conversation's earlier turns for the panes; it follows the runs' ``parent``, so a run that
failed to start never becomes a turn.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
from pathlib import Path
from typing import Any, AsyncGenerator, Iterable

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.message import Message
from textual.screen import Screen

from .client import Source
from .conversation import Turn
from .messages import (Connection, Delta, Metrics, Notice, ProviderDone, ProviderError, ProviderStart, RaceMessage,
                       Reset, RunEnd, RunStarted, SourceError)
from .screens.help import HelpScreen
from .screens.history import HistoryScreen
from .screens.main import MainScreen
from .screens.system_prompt import SystemPromptScreen
from .state import RunState
from .widgets.prompt_input import PromptInput


NEW_PROMPT = "Type a prompt — Enter runs it, Shift+Enter or Ctrl+J adds a line"


async def _with_turns(stream: AsyncGenerator[RaceMessage, None],
                      turns: tuple[Turn, ...]) -> AsyncGenerator[RaceMessage, None]:
    """``stream`` with the conversation's earlier ``turns`` on its ``RunStarted`` (they travel with the
    messages: the worker may read a replay to its end before the app handles the first message)."""
    async with contextlib.aclosing(stream):
        async for msg in stream:
            yield dataclasses.replace(msg, turns=turns) if isinstance(msg, RunStarted) else msg


class RaceUpdate(Message):
    """One message from the source, posted by the run worker."""

    def __init__(self, msg: RaceMessage) -> None:
        super().__init__()
        self.msg = msg


class StreamClosed(Message):
    """The source's iterator ended (after its last message)."""


class TokenraceApp(App):
    """``tokenrace tui``: the side-by-side race in a terminal."""

    CSS_PATH = "tokenrace.tcss"
    TITLE = "tokenrace"
    BINDINGS = [Binding("f1", "help", "Help"), Binding("ctrl+q", "quit", "Quit", priority=True)]

    def __init__(self, source: Source, *, params: dict[str, Any] | None = None, export_dir: str | None = None,
                 mask: bool = False, initial_prompt: str | None = None, watch_run: str | None = None) -> None:
        super().__init__()
        self.source = source
        self.params = dict(params or {})
        self.export_dir = Path(export_dir) if export_dir else None
        self.mask = mask                  # snapshot tests: hide run ids and timing figures
        self.initial_prompt = initial_prompt
        self.watch_run = watch_run
        self.state = RunState()
        self.providers: list[dict[str, Any]] = []
        self.ready = False                # the source is open and the providers are known
        self.shown_end = ""               # the run whose end has been drawn in full
        self.last_prompt: str | None = None
        self._last_parent: str | None = None   # what the last prompt followed up (Ctrl+R runs it the same way)
        self.turns: list[Turn] = []            # the conversation's turns before the run on screen
        self._status_text = ""
        self.connection = ""              # remote: "" (fine) or what the status bar says while reconnecting
        self.reconnects = 0
        self.main = MainScreen(mask=mask)

    # ------------------------------------------------------------------ lifecycle
    def on_mount(self) -> None:
        self.push_screen(self.main)
        self.run_worker(self._open_source(), name="open-source", group="source")

    async def _open_source(self) -> None:
        self.main.set_status(f"tokenrace · connecting to {self.source.label} …")
        try:
            await self.source.open()
            providers = await self.source.providers()
        except Exception as e:          # bad config, server unreachable: say so, stay up
            self.main.set_status(f"tokenrace · {self.source.label} · not available")
            self.notify(str(e) or type(e).__name__, title="Cannot start", severity="error", timeout=15)
            return
        self.providers = providers
        self.state = RunState.idle(providers)
        await self.main.show_run(self.state, show_cost=self.show_cost, system=self.system)
        self.ready = True
        self._show_status()
        store_error = getattr(self.source, "store_error", None)
        if store_error:
            self.notify(store_error, severity="warning")
        if self.watch_run:
            self._open_run(self.watch_run)
        elif self.initial_prompt:
            self.start_run(self.initial_prompt)

    @property
    def show_cost(self) -> bool:
        """The Cost column, unless the source knows that no provider has a price."""
        return getattr(self.source, "priced", None) is not False

    @property
    def system(self) -> str:
        return str(self.params.get("system") or "")

    async def on_unmount(self) -> None:
        with contextlib.suppress(Exception):
            await self.source.close()

    def _show_status(self) -> None:
        """Status first: at 80 columns the end of the line is cut."""
        st = self.state
        parts = ["tokenrace"]
        if st.run_id:
            opened = (" (watching)" if self.source.mode == "remote" else " (from history)") if st.replay else ""
            parts.append(st.status)
            if self.connection and st.running:
                parts.append(self.connection)
            if self.turns:
                parts.append(f"turn {len(self.turns) + 1}")
            parts.append(f"run {'········' if self.mask else st.run_id}{opened}")
        else:
            parts.append(f"{len(st.providers)} providers · ready")
        parts.append(self.source.label)
        text = " · ".join(parts)
        if text != self._status_text:
            self._status_text = text
            self.main.set_status(text)

    # ------------------------------------------------------------------ running
    def on_prompt_input_submitted(self, event: PromptInput.Submitted) -> None:
        self.start_run(event.prompt, parent=self.follow_up_of())

    def follow_up_of(self) -> str | None:
        """The run the next prompt follows up: the one on screen (None: a new conversation)."""
        return self.state.run_id or None

    def start_run(self, prompt: str, parent: str | None = None) -> bool:
        if not self.ready:
            self.notify("Not connected yet", severity="warning")
            return False
        if self.state.running:
            self.notify("A run is in progress: Esc cancels it", severity="warning")
            return False
        self.last_prompt, self._last_parent = prompt, parent
        self.main.prompt.remember(prompt)
        self.main.prompt.load_text("")
        self._follow(self.source.run(prompt, params=self.params or None, parent=parent))
        return True

    def _follow(self, stream: AsyncGenerator[RaceMessage, None]) -> None:
        self.state.status = "running"      # until RunStarted replaces the state: no second run meanwhile
        self.run_worker(self._consume(stream), name="run", group="run", exclusive=True)

    async def _consume(self, stream: AsyncGenerator[RaceMessage, None]) -> None:
        try:
            async with contextlib.aclosing(stream):     # closing it stops a local race
                async for msg in stream:
                    self.post_message(RaceUpdate(msg))
        finally:
            self.post_message(StreamClosed())

    async def on_race_update(self, update: RaceUpdate) -> None:
        try:
            await self._show_update(update.msg)
        except NoMatches:
            if self.is_running:
                raise
            # quitting: the panes are being removed while the last messages still arrive

    async def _show_update(self, msg: RaceMessage) -> None:
        main = self.main
        if isinstance(msg, RunStarted):
            self._take_turns(msg)
        p = self.state.apply(msg)
        if isinstance(msg, (RunStarted, Reset)):
            await main.show_run(self.state, self.turns, show_cost=self.show_cost)
            if isinstance(msg, Reset):
                self.notify("The server restarted the stream from the beginning", severity="warning")
        elif isinstance(msg, RunEnd):
            for pane in main.panes():
                await pane.finish()
            main.flush_figures()
            self._follow_up_hint()
            self.shown_end = self.state.run_id     # every answer is in its pane (status says done earlier)
        elif isinstance(msg, Connection):
            if msg.state == "reconnecting":
                self.reconnects += 1
                self.connection = f"reconnecting (attempt {msg.attempt})"
                self.notify(f"Connection lost ({msg.detail}); reconnecting in {msg.delay_s:.1f} s "
                            f"(attempt {msg.attempt})", severity="warning", timeout=max(3.0, msg.delay_s + 1))
            else:
                self.connection = ""
                self.notify("Reconnected; the stream goes on where it stopped")
        elif isinstance(msg, SourceError):
            self.state.status = "failed"
            self.notify(msg.message, title="Run failed", severity="error", timeout=15)
        elif p is not None:
            pane = await main.ensure_pane(p)
            shown_status = main.table.figures.get(p.name, {}).get("status")
            if isinstance(msg, Delta):
                if msg.reasoning:
                    await pane.append_reasoning(msg.reasoning)
                if msg.text:
                    await pane.append_text(msg.text)
            elif isinstance(msg, ProviderError):
                pane.show_error(msg.message)
                self.notify(msg.message, title=msg.provider, severity="error", timeout=8)
            elif isinstance(msg, ProviderDone):
                await pane.finish()
                if p.error and p.status != "ok" and p.status != "error":    # truncated / cancelled
                    pane.show_error(p.error)
            elif isinstance(msg, Notice):
                self.notify(msg.message, title=msg.provider, timeout=4)
            # figures change with metrics and results; a delta changes them only when it starts the stream;
            # footer and table row change together, at once when the status does
            if isinstance(msg, (ProviderStart, Metrics, ProviderError, ProviderDone)) or p.status != shown_status:
                main.update_figures(p, now=p.status != shown_status or not isinstance(msg, Metrics))
        self._show_status()

    def _take_turns(self, msg: RunStarted) -> None:
        """The conversation's earlier turns for the run that starts (before ``state`` becomes it)."""
        if msg.turns is not None:                          # opened from history: its thread, read back
            self.turns = list(msg.turns)
            self.last_prompt, self._last_parent = msg.prompt, msg.parent     # Ctrl+R: this turn again
        elif not msg.parent:
            self.turns = []
        elif msg.parent == self.state.run_id:             # a follow-up of the run on screen
            self.turns = self.turns + [self.state.as_turn()]
        # else the same turn again (Ctrl+R): the same earlier turns

    def _follow_up_hint(self) -> None:
        self.main.prompt.placeholder = (f"Follow-up: Enter asks all {len(self.state.providers)} again in this "
                                        f"conversation (turn {len(self.turns) + 2}) · Ctrl+N new conversation")

    def on_stream_closed(self, _msg: StreamClosed) -> None:
        if self.state.running:            # ended without an `end` (source error, worker cancelled)
            self.state.status = "stopped"
            self._show_status()

    # ------------------------------------------------------------------ actions
    def action_rerun(self) -> None:
        """The last prompt again, as the same turn (the same earlier turns, a branch beside the last)."""
        if self.last_prompt is None:
            self.notify("Nothing to run again yet", severity="warning")
        else:
            self.start_run(self.last_prompt, parent=self._last_parent)

    async def action_new_conversation(self) -> None:
        if self.state.running:
            self.notify("A run is in progress: Esc cancels it first", severity="warning")
            return
        if not self.ready:
            return
        self.turns, self._last_parent = [], None
        self.state = RunState.idle(self.providers)
        await self.main.show_run(self.state, show_cost=self.show_cost, system=self.system)
        self.main.prompt.placeholder = NEW_PROMPT
        self.main.prompt.focus()
        self._show_status()

    def action_system_prompt(self) -> None:
        if not isinstance(self.screen, SystemPromptScreen):
            self.push_screen(SystemPromptScreen(self.system), callback=self._set_system)

    def _set_system(self, text: str | None) -> None:
        if text is None or text == self.system:
            return
        if text:
            self.params["system"] = text
            self.notify("System prompt set: sent with every run from now on", title="System prompt")
        else:
            self.params.pop("system", None)
            self.notify("System prompt cleared (a follow-up keeps the one its conversation had)",
                        title="System prompt")
        if not self.state.run_id:
            self.main.run_bar.show_turn(0, "", self.system)

    async def action_cancel(self) -> None:
        if not self.state.running:
            return
        try:
            await self.source.cancel()
        except Exception as e:
            self.notify(f"Cancel failed: {e}", severity="error")

    def action_toggle_reasoning(self) -> None:
        self.main.set_reasoning_collapsed(not self.main.reasoning_collapsed)

    def action_copy_answer(self) -> None:
        name = self.main.focused_provider() or next(iter(self.state.providers), None)
        p = self.state.providers.get(name) if name else None
        if p is None or not p.text:
            self.notify("No answer to copy yet", severity="warning")
            return
        self.copy_to_clipboard(p.text)
        self.notify(f"Copied {p.name}'s answer ({len(p.text)} characters)")

    def action_export(self) -> None:
        if not self.state.run_id:
            self.notify("Nothing to export yet: run a prompt first", severity="warning")
            return
        try:
            paths = self.export_run()
        except OSError as e:
            self.notify(f"Export failed: {e}", severity="error")
            return
        self.notify("Exported " + " and ".join(str(p) for p in paths), title="Export", timeout=8)

    def export_run(self) -> list[Path]:
        folder = self.export_dir or Path.cwd()
        folder.mkdir(parents=True, exist_ok=True)
        base = folder / f"tokenrace-run-{self.state.run_id}"
        label = self.source.label
        j, md = base.with_suffix(".json"), base.with_suffix(".md")
        j.write_text(json.dumps(self.state.to_json(label), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        md.write_text(self.state.to_markdown(label), encoding="utf-8")
        return [j, md]

    async def action_history(self) -> None:
        runs = await self._load_history()
        if runs is None:
            return
        where = "the server" if self.source.mode == "remote" else "the local database"
        self.push_screen(HistoryScreen(runs, where), callback=self._open_run)

    async def _load_history(self) -> list[dict[str, Any]] | None:
        try:
            return await self.source.list_runs(100)
        except Exception as e:
            self.notify(f"Cannot load past runs: {e}", severity="error")
            return None

    async def on_history_screen_refresh(self, _msg: HistoryScreen.Refresh) -> None:
        runs = await self._load_history()
        if runs is not None and isinstance(self.screen, HistoryScreen):
            self.screen.set_runs(runs)

    def _open_run(self, run_id: str | None) -> None:
        """Open the conversation that ends with ``run_id``: its earlier turns, then the run replayed."""
        if not run_id:
            return
        if self.state.running:
            self.notify("A run is in progress: Esc cancels it first", severity="warning")
            return
        self.state.status = "running"      # until RunStarted replaces the state: no second run meanwhile
        self.run_worker(self._open_thread(run_id), name="open", group="run", exclusive=True)

    async def _open_thread(self, run_id: str) -> None:
        try:
            runs = await self.source.thread(run_id)
        except Exception as e:             # an older server without threads: the run alone
            self.notify(f"Cannot read the conversation: {e}", severity="warning")
            runs = []
        turns = tuple(Turn.from_run(r) for r in runs[:-1]) if runs and runs[-1].get("id") == run_id else ()
        await self._consume(_with_turns(self.source.open_run(run_id), turns))

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Run", "Run the prompt in the prompt box", self._run_from_palette)
        yield SystemCommand("Re-run", "Run the last prompt again (Ctrl+R)", self.action_rerun)
        yield SystemCommand("Cancel run", "Stop the run; text received so far is kept (Esc)", self.action_cancel)
        yield SystemCommand("Toggle reasoning", "Show or hide every provider's reasoning (Ctrl+T)",
                            self.action_toggle_reasoning)
        yield SystemCommand("Copy answer", "Copy the selected provider's answer (Ctrl+O)", self.action_copy_answer)
        yield SystemCommand("Export run", "Write tokenrace-run-<id>.json and .md (Ctrl+S)", self.action_export)
        yield SystemCommand("New conversation", "Forget the thread: the next prompt starts afresh (Ctrl+N)",
                            self.action_new_conversation)
        yield SystemCommand("System prompt", "Set the system prompt sent with every run (F2)", self.action_system_prompt)
        yield SystemCommand("History", "Past conversations; Enter opens one (Ctrl+L)", self.action_history)
        yield SystemCommand("Help", "Key bindings and modes (F1)", self.action_help)

    def _run_from_palette(self) -> None:
        self.main.prompt.action_submit()
