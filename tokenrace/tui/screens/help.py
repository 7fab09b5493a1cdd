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
| Enter | run the prompt; after a run, ask a follow-up in the same conversation |
| Ctrl+N | new conversation (the next prompt starts afresh) |
| F2 | system prompt (sent with every run from now on) |
| Shift+Enter, Ctrl+J | new line in the prompt |
| Up / Down | earlier prompts (on the first / last line) |
| Ctrl+R | run the last prompt again (the same turn, beside the first answer) |
| Esc | cancel the run (text received so far is kept) |
| Ctrl+L | past conversations (Enter opens one with its turns; Enter again continues it) |
| Alt+← / Alt+→ | panes off screen (the line above the panes says how many); Enter on a table row shows its pane |
| Up, Down, PgUp, PgDn, Home, End | scroll the focused pane (earlier turns are above the answer) |
| Ctrl+T | show or hide reasoning |
| Ctrl+O | copy the answer of the selected provider (pane with focus, else the table's row) |
| Ctrl+S | export the run: `tokenrace-run-<id>.json` and `.md` |
| s, or click a header | sort the table (again: reverse) |
| Tab | move between prompt, panes and table |
| Ctrl+P | command palette |
| F1 | this help |
| Ctrl+Q | quit |

**Conversations**: each provider is sent the earlier prompts and *its own* earlier answers, never
another provider's; a turn it gave no answer in is left out of its history (its pane says so).
Each pane shows the earlier turns compactly above the current answer.

**Figures**: TTFT is the time from sending the request to the first answer token; tok/s is the output
speed after the first token; Time is the whole stream; Cost is the provider's price times the tokens
(`~`: the token count is an estimate, not the provider's). Pane footers and table rows show the same
figures, redrawn together ten times a second. The best of each column is highlighted. *Rate over
time* is each provider's token rate about four times a second, every row on one scale: 0 at the
bottom, the fastest moment of any row at the top, and one bar is the same stretch of time in every
row (a gap: nothing arrived).

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
