"""The race screen: prompt, one pane per provider, the comparison table, the key bindings."""
from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.dom import DOMNode
from textual.screen import Screen
from textual.widgets import Footer, Static

from ..state import ProviderState, RunState
from ..widgets.figures_table import FiguresTable
from ..widgets.pane_grid import PaneGrid
from ..widgets.prompt_input import PromptInput
from ..widgets.provider_pane import ProviderPane


TABLE_REFRESH_S = 0.2     # the table redraws at most this often while figures stream in


class MainScreen(Screen):
    """Widgets only: the app folds messages into its :class:`RunState` and calls these methods."""

    BINDINGS = [
        Binding("ctrl+r", "app.rerun", "Re-run", priority=True),
        Binding("escape", "app.cancel", "Cancel"),
        Binding("ctrl+t", "app.toggle_reasoning", "Reasoning", priority=True),
        Binding("ctrl+o", "app.copy_answer", "Copy", priority=True),
        Binding("ctrl+s", "app.export", "Export", priority=True),
        Binding("ctrl+l", "app.history", "History", priority=True),
    ]

    def __init__(self, *, mask: bool = False) -> None:
        super().__init__(id="main")
        self.mask = mask
        self.reasoning_collapsed = True
        self._panes: dict[str, ProviderPane] = {}

    def compose(self) -> ComposeResult:
        yield Static("tokenrace", id="status-bar", markup=False)
        yield PromptInput(id="prompt")
        yield PaneGrid(id="panes")
        yield FiguresTable(id="figures", mask_timing=self.mask)
        yield Footer(compact=True, show_command_palette=False)   # Ctrl+P still opens it (see F1)

    def on_mount(self) -> None:
        self._dirty: dict[str, tuple[dict[str, Any], list[float]]] = {}
        self.set_interval(TABLE_REFRESH_S, self.flush_table)
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

    async def show_run(self, state: RunState) -> None:
        """New panes and rows for the run's providers (a new run, a reset, or the idle line-up)."""
        grid = self.grid
        panes = self.panes()
        if [p.provider for p in panes] == list(state.providers):     # same line-up: empty the panes
            for pane in panes:
                await pane.reset()
        else:
            await grid.remove_children()
            self._panes = {p.name: ProviderPane(p.name, p.model, reasoning_collapsed=self.reasoning_collapsed,
                                                mask_timing=self.mask) for p in state.providers.values()}
            await grid.mount_all(list(self._panes.values()))
            grid.arrange_panes()
        self._dirty = {}
        self.table.reset(list(state.providers))
        for p in state.providers.values():
            self.update_figures(p)
        self.flush_table()

    async def ensure_pane(self, p: ProviderState) -> ProviderPane:
        pane = self.pane(p.name)
        if pane is None:     # a provider the run did not announce (remote run watched from its middle)
            pane = ProviderPane(p.name, p.model, reasoning_collapsed=self.reasoning_collapsed, mask_timing=self.mask)
            self._panes[p.name] = pane
            await self.grid.mount(pane)
            self.grid.arrange_panes()
        return pane

    def update_figures(self, p: ProviderState) -> None:
        """The pane's footer now; the table at the next tick (at once when the stream ended)."""
        figures = p.figures()
        pane = self.pane(p.name)
        if pane is not None:
            pane.set_model(p.model)
            pane.set_figures(figures)
        self._dirty[p.name] = (figures, list(p.rates))
        if p.done or p.name not in self.table.figures:
            self.flush_table()

    def flush_table(self) -> None:
        if self._dirty:
            rows, self._dirty = self._dirty, {}
            self.table.set_rows(rows)

    def set_reasoning_collapsed(self, collapsed: bool) -> None:
        self.reasoning_collapsed = collapsed
        for pane in self.panes():
            pane.set_reasoning_collapsed(collapsed)
