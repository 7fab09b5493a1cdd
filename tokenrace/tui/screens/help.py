"""Key bindings and what the two modes do."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# tokenrace tui

Send one prompt to every provider at once and watch the answers race.

| Key | Action |
|---|---|
| Enter | run the prompt |
| Shift+Enter, Ctrl+J | new line in the prompt |
| Up / Down | earlier prompts (on the first / last line) |
| Ctrl+R | run the last prompt again |
| Esc | cancel the run (text received so far is kept) |
| Ctrl+T | show or hide reasoning |
| Ctrl+O | copy the answer of the selected provider (pane with focus, else the table's row) |
| Ctrl+S | export the run: `tokenrace-run-<id>.json` and `.md` |
| Ctrl+L | past runs (Enter opens one) |
| s, or click a header | sort the table (again: reverse) |
| Tab | move between prompt, panes and table |
| Ctrl+P | command palette |
| F1 | this help |
| Ctrl+Q | quit |

**Figures**: TTFT is the time from sending the request to the first answer token; tok/s is the output
speed after the first token; Time is the whole stream. The best of each column is highlighted;
*Rate over time* is each provider's token rate sampled about four times a second.

**Modes**: `tokenrace tui` runs the engine in this process (runs are kept in the local database);
`tokenrace tui --server URL` creates runs on a tokenrace server and follows its event stream,
reconnecting where it left off, so several people can watch the same run.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q", "close", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Markdown(HELP)

    def action_close(self) -> None:
        self.dismiss(None)
