"""The live progress display of a bench run (rich, refreshed from an asyncio task: no threads)."""
from __future__ import annotations

import asyncio
from collections.abc import Iterable

from rich.console import Console, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.text import Text

from .runner import LAG_WARN_P99_MS, BenchRunner

REFRESH_S = 0.25


class _Progress(Progress):
    footer: Text = Text("")

    def get_renderables(self) -> Iterable[RenderableType]:
        yield self.make_tasks_table(self.tasks)
        yield self.footer


class ProgressView:
    """One bar per provider and load step: done/total, errors, live p50 TTFT and tokens/s, ETA."""

    def __init__(self, runner: BenchRunner, console: Console) -> None:
        self.runner, self.console = runner, console
        self.live = console.is_terminal
        self.progress = _Progress(TextColumn("{task.description}"), BarColumn(bar_width=24), MofNCompleteColumn(),
                                  TextColumn("{task.fields[info]}"), TimeRemainingColumn(),
                                  console=console, auto_refresh=False, transient=False)
        self.tasks: dict[tuple[str, int], TaskID] = {}
        self._reported: set[tuple[str, int]] = set()

    def _ensure_tasks(self) -> None:
        if self.tasks:
            return
        names = [p.name for p in self.runner.providers]
        width = max(len(n) for n in names)
        steps = [(-1, "warmup")] if self.runner.sc.warmup else []
        steps += [(s.index, s.label) for s in self.runner.sc.steps]
        for idx, label in steps:
            for name in names:
                st = self.runner.stats.get((name, idx))
                if st is None:
                    continue
                self.tasks[(name, idx)] = self.progress.add_task(f"{name:<{width}}  {label}", total=st.total,
                                                                 info="", start=False)

    def update(self) -> None:
        self._ensure_tasks()
        for key, tid in self.tasks.items():
            st = self.runner.stats[key]
            step = self.runner.step
            running = (step.index == key[1]) if step is not None else (key[1] == -1 and st.done < st.total)
            task = self.progress._tasks[tid]
            if running and task.start_time is None:
                self.progress.start_task(tid)
            ttft, rate = st.p50(st.ttft), st.p50(st.rate)
            info = f"[red]{st.errors} err[/red]" if st.errors else "0 err"
            info += f"  TTFT p50 {ttft:,.0f} ms" if ttft is not None else "  TTFT p50 –"
            info += f"  {rate:,.1f} tok/s" if rate is not None else ""
            self.progress.update(tid, completed=st.done, info=info)
            if not self.live and st.done >= st.total and key not in self._reported:
                self._reported.add(key)
                self.console.print(f"{task.description.strip()}: {st.done}/{st.total} {Text.from_markup(info)}")
        lag = self.runner.lag.recent_p99()
        if lag is None:
            self.progress.footer = Text("")
        else:
            style = "bold red" if lag > LAG_WARN_P99_MS else "dim"
            note = "  — the client is lagging; figures may be overstated" if lag > LAG_WARN_P99_MS else ""
            self.progress.footer = Text(f"event-loop lag p99 {lag:.1f} ms{note}", style=style)
        if self.runner.stopping:
            self.progress.footer = Text("stopping: writing what finished so far …", style="yellow")

    async def run(self) -> None:
        if self.live:
            self.progress.start()
        try:
            while True:
                self.update()
                if self.live:
                    self.progress.refresh()
                await asyncio.sleep(REFRESH_S)
        finally:
            self.update()
            if self.live:
                self.progress.refresh()
                self.progress.stop()
