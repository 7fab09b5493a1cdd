"""The race screen: prompt, the run bar, one pane per provider, the comparison table, the key bindings."""
from __future__ import annotations

import asyncio
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.dom import DOMNode
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from ..conversation import Turn
from ..state import ProviderState, RunState
from ..widgets.figures_table import FiguresTable
from ..widgets.pane_grid import PaneGrid
from ..widgets.prompt_input import PromptInput
from ..widgets.provider_pane import ProviderPane
from ..widgets.run_bar import RunBar

# Pane footers and table rows are drawn together on this tick, from the same figures: they never
# disagree (a footer updated per message ran ahead of a throttled table: "90 tok" beside "63").
FIGURES_REFRESH_S = 0.1
TABLE_ROWS_TALL, TABLE_ROWS_SHORT = 9, 6      # the table's height, header included


class MainScreen(Screen):
    """Widgets only: the app folds messages into its :class:`RunState` and calls these methods."""

    BINDINGS = [
        Binding("ctrl+n", "app.new_conversation", "New chat", priority=True),
        Binding("f2", "app.system_prompt", "System", priority=True),
        Binding("ctrl+l", "app.history", "History", priority=True),
        Binding("escape", "app.cancel", "Cancel"),
        Binding("ctrl+r", "app.rerun", "Re-run", priority=True),
        Binding("ctrl+t", "app.toggle_reasoning", "Reasoning", priority=True, show=False),
        Binding("ctrl+o", "app.copy_answer", "Copy", priority=True, show=False),
        Binding("ctrl+s", "app.export", "Export", priority=True, show=False),
        Binding("alt+right", "panes(1)", "Next panes", priority=True, show=False),
        Binding("alt+left", "panes(-1)", "Previous panes", priority=True, show=False),
    ]

    def __init__(self, *, mask: bool = False) -> None:
        super().__init__(id="main")
        self.mask = mask
        self.reasoning_collapsed = True
        self._panes: dict[str, ProviderPane] = {}
        self._dirty: dict[str, tuple[dict[str, Any], list[float]]] = {}

    def compose(self) -> ComposeResult:
        yield Static("tokenrace", id="status-bar", markup=False)
        yield PromptInput(id="prompt")
        yield RunBar(id="run-bar")
        yield PaneGrid(id="panes")
        yield FiguresTable(id="figures", mask_timing=self.mask)
        yield Footer(compact=True, show_command_palette=False)   # Ctrl+P still opens it (see F1)

    def on_mount(self) -> None:
        self.set_interval(FIGURES_REFRESH_S, self.flush_figures)
        self.watch(self.grid, "scroll_x", lambda: self.show_view(), init=False)
        self.run_bar.show_turn(0, "")
        prompt = self.query_one(PromptInput)
        if self.mask:
            prompt.cursor_blink = False      # snapshots: the same frame every time
        prompt.focus()

    # ------------------------------------------------------------------ lookups
    @property
    def prompt(self) -> PromptInput:
        return self.query_one(PromptInput)

    @property
    def table(self) -> FiguresTable:
        return self.query_one(FiguresTable)

    @property
    def grid(self) -> PaneGrid:
        return self.query_one(PaneGrid)

    @property
    def run_bar(self) -> RunBar:
        return self.query_one(RunBar)

    def panes(self) -> list[ProviderPane]:
        return list(self._panes.values())

    def pane(self, name: str) -> ProviderPane | None:
        return self._panes.get(name)      # a dict: querying the DOM per token would walk every block

    def focused_provider(self) -> str | None:
        """The pane with focus (or holding it), else the table's highlighted row."""
        node: DOMNode | None = self.focused
        while node is not None:
            if isinstance(node, ProviderPane):
                return node.provider
            node = node.parent
        return self.table.selected_provider

    # ------------------------------------------------------------------ data pushed in
    def set_status(self, text: str) -> None:
        self.query_one("#status-bar", Static).update(text)

    async def show_run(self, state: RunState, turns: list[Turn] | None = None, *,
                       show_cost: bool | None = None, system: str | None = None) -> None:
        """New panes and rows for the run's providers (a new run, a reset, or the idle line-up), each
        pane with its provider's earlier ``turns`` of the conversation."""
        turns = turns or []
        grid = self.grid
        panes = self.panes()
        if [p.provider for p in panes] == list(state.providers):     # same line-up: empty the panes
            await asyncio.gather(*(pane.reset() for pane in panes))
        else:
            await grid.remove_children()
            self._panes = {p.name: ProviderPane(p.name, p.model, reasoning_collapsed=self.reasoning_collapsed,
                                                mask_timing=self.mask) for p in state.providers.values()}
            await grid.mount_all(list(self._panes.values()))
            grid.arrange_panes()
        for pane in self.panes():
            pane.set_turns([(t.prompt, t.answer(pane.provider)) for t in turns], state.prompt)
        self._dirty = {}
        self.table.reset(list(state.providers), show_cost)
        for p in state.providers.values():
            self.update_figures(p)
        self.flush_figures()
        self.run_bar.show_turn(len(turns) + 1 if state.run_id else 0, state.prompt,
                               system if system is not None else state.params.get("system"))
        self.call_after_refresh(self.show_view)

    async def ensure_pane(self, p: ProviderState) -> ProviderPane:
        pane = self.pane(p.name)
        if pane is None:     # a provider the run did not announce (remote run watched from its middle)
            pane = ProviderPane(p.name, p.model, reasoning_collapsed=self.reasoning_collapsed, mask_timing=self.mask)
            self._panes[p.name] = pane
            await self.grid.mount(pane)
            self.grid.arrange_panes()
            self.call_after_refresh(self.show_view)
        return pane

    def update_figures(self, p: ProviderState, now: bool = False) -> None:
        """Queue ``p``'s figures for its footer and its table row; both change at the next tick (at
        once with ``now``: a status change, a result)."""
        pane = self.pane(p.name)
        if pane is not None:
            pane.set_model(p.model)
        self._dirty[p.name] = (p.figures(), list(p.rates))
        if now or p.done or p.name not in self.table.figures:
            self.flush_figures()

    def flush_figures(self) -> None:
        if not self._dirty:
            return
        rows, self._dirty = self._dirty, {}
        for name, (figures, _rates) in rows.items():
            pane = self.pane(name)
            if pane is not None:
                pane.set_figures(figures)
        self.table.set_rows(rows)

    def set_reasoning_collapsed(self, collapsed: bool) -> None:
        self.reasoning_collapsed = collapsed
        for pane in self.panes():
            pane.set_reasoning_collapsed(collapsed)

    # ------------------------------------------------------------------ panes off screen
    def show_view(self) -> None:
        """Say how many panes are off screen, and how to reach them."""
        self.run_bar.show_view(self.grid.in_view().describe())

    def on_resize(self) -> None:
        # a short terminal: the panes get the rows (the table scrolls; every provider is still in it)
        self.table.styles.max_height = TABLE_ROWS_TALL if self.size.height >= 32 else TABLE_ROWS_SHORT
        self.call_after_refresh(self.show_view)

    def action_panes(self, step: int) -> None:
        self.grid.page(step)
        self.show_view()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """A row of the figures table brings its provider's pane into view."""
        if event.data_table is not self.table:
            return
        pane = self.pane(str(event.row_key.value))
        if pane is not None:
            self.grid.scroll_to_widget(pane, animate=False)
            pane.focus()
