"""One provider's pane: title, its earlier turns, collapsible reasoning, the streaming answer as
Markdown, live footer.

Data is pushed in by the screen (``set_turns``, ``append_text``, ``append_reasoning``,
``set_figures``, ``show_error``); the pane does no networking and computes no figure. Everything
from a model goes through :func:`~tokenrace.render.display_text` on its way to the screen, so an
emoji sequence cannot push the border out. The answer streams through an
:class:`~.markdown_stream.AnswerStream`, which appends to the document (only the last block is
re-parsed) and batches fragments that arrive faster than the screen refreshes; the body is anchored
to its end so the newest tokens stay in view until the user scrolls up.
"""
from __future__ import annotations

import re
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.color import Color
from rich.text import Text
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Collapsible, Markdown, Static

from ...render import display_text, fmt_cost, fmt_ms, fmt_rate
from ..conversation import Answer, pane_note
from .markdown_stream import AnswerStream

STATUS_ICON = {"idle": "·", "waiting": "…", "streaming": "▶", "ok": "✓", "error": "✗", "truncated": "!",
               "cancelled": "■"}
# status -> (theme colour, opacity) of the pane's border
BORDER = {"streaming": ("primary", 1.0), "ok": ("success", 0.7), "error": ("error", 1.0),
          "truncated": ("warning", 0.7), "cancelled": ("warning", 0.7)}
ANSWER_LINES = 3     # an earlier turn's answer, in a pane
_MARKUP = re.compile(r"\*\*|__|`+|^#+ ", re.MULTILINE)    # Markdown emphasis, code and heading marks
MASK = "▒▒"
_THEME_COLOURS: dict[str, str] = {}     # "" -> the theme they belong to    # figures hidden (snapshot tests): timing differs run to run


def fmt_tokens(tokens: int | None, estimate: bool = False) -> str:
    if tokens is None:
        return "–"
    return f"~{tokens}" if estimate else str(tokens)


def wrap_parts(parts: list[str], width: int, sep: str = " · ") -> str:
    """Join ``parts`` with ``sep``, breaking lines between parts only (never inside "12.3 s")."""
    lines: list[str] = []
    line = ""
    for part in parts:
        if line and len(line) + len(sep) + len(part) > width:
            lines.append(line)
            line = part
        else:
            line = f"{line}{sep}{part}" if line else part
    lines.append(line)
    return "\n".join(lines)


def fmt_seconds(ms: float | None) -> str:
    return "–" if ms is None else f"{ms / 1000:.1f} s"


def _prompt_line(prompt: str, turn: int) -> Text:
    text = Text(f"{turn} › ", style="bold", no_wrap=True, overflow="ellipsis")
    text.append(display_text(" ".join(prompt.split())), style="bold")
    return text


def turns_text(turns: list[tuple[str, Answer | None]], width: int) -> Text:
    """Earlier turns in one renderable (one widget per turn made a follow-up's first frame slow):
    each prompt on one line, the answer (or why there is none) in at most ``ANSWER_LINES`` lines."""
    out = Text()
    for i, (prompt, answer) in enumerate(turns, 1):
        line = _prompt_line(prompt, i)
        line.truncate(width, overflow="ellipsis")
        out.append_text(line)
        out.append("\n")
        note = pane_note(answer)
        if note or answer is None:
            body = Text(f"  {note}", style="italic")
        else:
            body = Text("  " + display_text(" ".join(_MARKUP.sub("", answer.text).split())))
            # wrapping wastes a few cells per line: leave room for them
            body.truncate(ANSWER_LINES * (width - 4), overflow="ellipsis")
        out.append_text(body)
        if i < len(turns):
            out.append("\n")
    return out


class ProviderPane(Vertical, can_focus=True):
    """Everything one provider sent in the current run (and, above it, in the conversation's earlier turns)."""

    BINDINGS = [Binding(key, f"scroll_body('{action}')", show=False) for key, action in (
        ("up", "scroll_up"), ("down", "scroll_down"), ("pageup", "page_up"), ("pagedown", "page_down"),
        ("home", "scroll_home"), ("end", "scroll_end"))]

    def __init__(self, name: str, model: str = "", *, reasoning_collapsed: bool = True,
                 mask_timing: bool = False, **kw: Any) -> None:
        super().__init__(classes="provider-pane", **kw)
        self.provider, self.model = name, model
        self.reasoning_collapsed = reasoning_collapsed
        self.mask_timing = mask_timing
        self._answer_stream: AnswerStream | None = None
        self._reasoning_stream: AnswerStream | None = None
        self.status = "idle"
        self._footer = ""
        self._figures: dict[str, Any] = {}
        self._turns: list[tuple[str, Answer | None]] = []
        self._prompt = ""
        self.border_title = f"{name} · {model}" if model else name

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="pane-body"):
            yield Static(classes="pane-turns")
            yield Static(classes="pane-prompt", markup=False)
            with Collapsible(title="Reasoning", collapsed=self.reasoning_collapsed, classes="reasoning"):
                yield Markdown(classes="reasoning-md")
            yield Markdown(classes="answer")
            yield Static(classes="pane-error", markup=False)
        yield Static(self._footer_text({}), classes="pane-footer", markup=False)

    def on_mount(self) -> None:
        self.query_one(".reasoning", Collapsible).display = False
        self.query_one(".pane-error", Static).display = False
        self.query_one(".pane-prompt", Static).display = False

    def _follow_end(self) -> None:
        """Keep the newest tokens in view: anchor the body once it overflows.

        (Anchoring earlier would bottom-align a short answer; once anchored, Textual keeps the
        body scrolled to its end until the user scrolls up, and again when they scroll back down.)
        """
        if not self.is_mounted:
            return
        body = self.body
        if not body.is_anchored and body.max_scroll_y > 0:
            body.anchor()

    def action_scroll_body(self, where: str) -> None:
        """Keys on a focused pane scroll its body (earlier turns are above the answer)."""
        getattr(self.body, f"action_{where}")()

    @property
    def body(self) -> VerticalScroll:
        return self.query_one(".pane-body", VerticalScroll)

    @property
    def answer(self) -> Markdown:
        return self.query_one(".answer", Markdown)

    # ------------------------------------------------------------------ data pushed in
    def set_model(self, model: str) -> None:
        if model and model != self.model:
            self.model = model
            self.border_title = f"{self.provider} · {model}"

    def set_turns(self, turns: list[tuple[str, Answer | None]], prompt: str) -> None:
        """The conversation so far, compactly (each earlier prompt and this provider's answer cut to a
        few lines, or why it has none), then the current ``prompt`` as the heading of the answer."""
        self._turns, self._prompt = turns, prompt
        box = self.query_one(".pane-turns", Static)
        box.update(turns_text(turns, self._text_width()))
        box.display = bool(turns)
        heading = self.query_one(".pane-prompt", Static)
        heading.update(_prompt_line(prompt, len(turns) + 1))
        heading.display = bool(turns)

    def _text_width(self) -> int:
        """The body's text width, whether or not its scrollbar shows (borders, padding, scrollbar)."""
        return max(16, self.size.width - 5) if self.size.width else 32

    async def append_text(self, text: str) -> None:
        if self._answer_stream is None:
            self._answer_stream = AnswerStream(self.answer)
        self._answer_stream.write(display_text(text))
        self._follow_end()

    async def append_reasoning(self, text: str) -> None:
        box = self.query_one(".reasoning", Collapsible)
        if not box.display:
            box.display = True
        if self._reasoning_stream is None:
            self._reasoning_stream = AnswerStream(self.query_one(".reasoning-md", Markdown))
        self._reasoning_stream.write(display_text(text))
        self._follow_end()

    @property
    def streams_idle(self) -> bool:
        """Everything received so far is in the pane's documents (none is waiting to be appended)."""
        return all(s is None or s.idle for s in (self._answer_stream, self._reasoning_stream))

    async def finish(self) -> None:
        """The stream ended: flush what is pending into the documents, then keep the end in view once
        laid out (the last append may be the one that made the body overflow)."""
        for attr in ("_answer_stream", "_reasoning_stream"):
            stream = getattr(self, attr)
            if stream is not None:
                await stream.close()          # (closing twice is fine: a run's end follows a provider's)
                if getattr(self, attr) is stream:
                    setattr(self, attr, None)
        self.call_after_refresh(self._follow_end)

    async def reset(self) -> None:
        """Empty the pane for a new run of the same provider (cheaper than a new pane)."""
        await self.finish()
        await self.answer.update("")
        await self.query_one(".reasoning-md", Markdown).update("")
        self.query_one(".reasoning", Collapsible).display = False
        self.query_one(".pane-error", Static).display = False
        self.status = "idle"
        self._paint_border()
        self.body.anchor(False)
        self.body.scroll_home(animate=False)

    def set_reasoning_collapsed(self, collapsed: bool) -> None:
        self.reasoning_collapsed = collapsed
        self.query_one(".reasoning", Collapsible).collapsed = collapsed

    def show_error(self, message: str) -> None:
        err = self.query_one(".pane-error", Static)
        err.update(f"✗ {display_text(message)}")
        err.display = True

    def set_figures(self, figures: dict[str, Any]) -> None:
        status = figures.get("status") or self.status
        if status != self.status:
            self.status = status
            self._paint_border()
        self._figures = figures
        text = self._footer_text(figures)
        if text != self._footer:
            self._footer = text
            self.query_one(".pane-footer", Static).update(text)

    def _paint_border(self) -> None:
        """Border colour by status, set inline: a class change would restyle every Markdown block."""
        var, alpha = BORDER.get(self.status, ("primary", 0.5))
        theme = self.app.theme
        if _THEME_COLOURS.get("") != theme:          # the theme's variables, once per theme (not per pane)
            _THEME_COLOURS.clear()
            _THEME_COLOURS[""] = theme
            _THEME_COLOURS.update(self.app.get_css_variables())
        colour = Color.parse(_THEME_COLOURS.get(var, "#0178D4")).with_alpha(alpha)
        self.styles.border = ("round", colour)

    def _footer_text(self, f: dict[str, Any]) -> str:
        status = f.get("status") or self.status
        tokens = fmt_tokens(f.get("tokens"), bool(f.get("estimate")))
        if self.mask_timing:
            ttft = rate = elapsed = MASK
        else:
            ttft, rate, elapsed = fmt_ms(f.get("ttft_ms")), fmt_rate(f.get("tokens_per_s")), fmt_seconds(
                f.get("elapsed_ms"))
        parts = [f"{STATUS_ICON.get(status, '?')} {status}", f"TTFT {ttft}", f"{rate} tok/s", f"{tokens} tok", elapsed]
        if f.get("cost_usd") is not None:
            parts.append(fmt_cost(f["cost_usd"], f.get("cost_estimated")))
        return wrap_parts(parts, self._footer_width())

    def _footer_width(self) -> int:
        try:
            width = self.query_one(".pane-footer", Static).content_size.width
        except Exception:
            width = 0
        return width or max(20, self.size.width - 4)

    def on_resize(self) -> None:
        self._footer = ""
        self.set_figures(self._figures)
        if self._turns:
            self.set_turns(self._turns, self._prompt)
