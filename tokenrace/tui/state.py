"""The TUI's model of one run: what each provider has said, its figures, its rate over time.

Plain Python (no Textual): the app folds every source message into a :class:`RunState` and pushes
the result down to the widgets. Figures are taken as the source sent them (``Metrics`` while a
stream runs, the ``done`` result after); the only thing derived here is the series of token-rate
samples for the sparkline (tokens between two consecutive ``Metrics`` over the time between them).
Export to JSON and Markdown lives here too, so it is tested without a screen.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from .. import __version__
from ..render import fmt_cost, fmt_ms, fmt_rate
from .conversation import Answer, Turn
from .messages import (Delta, Metrics, Notice, ProviderDone, ProviderError, ProviderStart, RaceMessage, Reset,
                       RunEnd, RunStarted)

MAX_SAMPLES = 240


@dataclass
class ProviderState:
    name: str
    kind: str = ""
    model: str = ""
    status: str = "idle"           # idle | waiting | streaming | ok | error | truncated | cancelled
    attempt: int = 0
    text_parts: list[str] = field(default_factory=list)
    reasoning_parts: list[str] = field(default_factory=list)
    live: Metrics | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    notices: list[str] = field(default_factory=list)
    rates: list[float] = field(default_factory=list)
    _sample: tuple[float, int] | None = None

    @property
    def text(self) -> str:
        return "".join(self.text_parts)

    @property
    def reasoning(self) -> str:
        return "".join(self.reasoning_parts)

    @property
    def done(self) -> bool:
        return self.result is not None

    def figures(self) -> dict[str, Any]:
        """What the footer and the table show: the final result once done, else the live figures.

        ``estimate``: the token count is ours, not the provider's (shown with "~"), live or final;
        ``cost_usd`` comes with the result only (``cost_estimated``: it rests on estimated tokens)."""
        r, m = self.result, self.live
        if r is not None:
            tokens = r.get("output_tokens")
            return {"status": r.get("status", self.status), "ttft_ms": r.get("ttft_ms"),
                    "tokens_per_s": r.get("tokens_per_s"), "tokens": tokens,
                    "estimate": r.get("token_source") == "estimate" and tokens is not None,
                    "elapsed_ms": r.get("e2e_ms"), "cost_usd": r.get("cost_usd"),
                    "cost_estimated": bool(r.get("cost_estimated"))}
        return {"status": self.status, "ttft_ms": m.ttft_ms if m else None,
                "tokens_per_s": m.tokens_per_s if m else None, "tokens": m.tokens if m else None,
                "estimate": bool(m and m.tokens is not None and m.token_source == "estimate"),
                "elapsed_ms": m.elapsed_ms if m else None, "cost_usd": None, "cost_estimated": False}

    def add_metrics(self, m: Metrics) -> None:
        self.live = m
        if m.status and not self.done:
            self.status = m.status
        if m.status != "streaming" or m.tokens is None or m.elapsed_ms is None or not m.tokens:
            return      # rate samples while tokens flow (the last, at the end, would dip to the idle tail)
        if self._sample is not None:
            t0, n0 = self._sample
            dt = (m.elapsed_ms - t0) / 1000
            if dt <= 0:
                return
            self.rates.append(max(0.0, (m.tokens - n0) / dt))
            del self.rates[:-MAX_SAMPLES]
        self._sample = (m.elapsed_ms, m.tokens)


@dataclass
class RunState:
    run_id: str = ""
    prompt: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    providers: dict[str, ProviderState] = field(default_factory=dict)
    status: str = "idle"           # idle | running | done | cancelled | error ...
    replay: bool = False
    parent: str | None = None      # the run this one follows up (its conversation's previous turn)
    started: float = field(default_factory=time.time)

    @classmethod
    def idle(cls, providers: list[dict[str, Any]]) -> "RunState":
        st = cls()
        for p in providers:
            st.provider(p["name"], p.get("kind", ""), p.get("model", ""))
        return st

    @property
    def running(self) -> bool:
        return self.status == "running"

    def provider(self, name: str, kind: str = "", model: str = "") -> ProviderState:
        p = self.providers.get(name)
        if p is None:
            p = self.providers[name] = ProviderState(name, kind, model)
        p.kind, p.model = p.kind or kind, p.model or model
        return p

    def apply(self, msg: RaceMessage) -> ProviderState | None:
        """Fold one message in; returns the provider it concerned (None for run-wide ones)."""
        if isinstance(msg, RunStarted):
            fresh = RunState(msg.run_id, msg.prompt, dict(msg.params), status="running", replay=msg.replay,
                             parent=msg.parent)
            for info in msg.providers:
                fresh.provider(info["name"], info.get("kind", ""), info.get("model", "")).status = "waiting"
            self.__dict__.update(fresh.__dict__)
            return None
        if isinstance(msg, Reset):
            for old in list(self.providers.values()):
                self.providers[old.name] = ProviderState(old.name, old.kind, old.model, status="waiting")
            return None
        if isinstance(msg, RunEnd):
            self.status = msg.status or "done"
            return None
        name = getattr(msg, "provider", None)
        if not name:
            return None
        p = self.provider(name)
        if isinstance(msg, ProviderStart):
            p.model = msg.model or p.model
            p.kind = msg.kind or p.kind
            p.attempt = msg.attempt
            if not p.done:
                p.status = "waiting"
        elif isinstance(msg, Delta):
            if msg.text:
                p.text_parts.append(msg.text)
            if msg.reasoning:
                p.reasoning_parts.append(msg.reasoning)
            if not p.done:
                p.status = "streaming"
        elif isinstance(msg, Metrics):
            p.add_metrics(msg)
        elif isinstance(msg, Notice):
            p.notices.append(msg.message)
        elif isinstance(msg, ProviderError):
            p.error = msg.message
            p.status = "error"
        elif isinstance(msg, ProviderDone):
            p.result = dict(msg.result)
            p.status = str(msg.result.get("status", p.status))
            p.model = p.model or str(msg.result.get("model") or "")
            if p.status != "ok" and msg.result.get("error") and not p.error:
                p.error = msg.result["error"]
            if not p.text_parts and msg.result.get("text"):      # joined late: take the final text
                p.text_parts = [msg.result["text"]]
            if not p.reasoning_parts and msg.result.get("reasoning"):
                p.reasoning_parts = [msg.result["reasoning"]]
        return p

    def as_turn(self) -> Turn:
        """This run as an earlier turn of the conversation a follow-up continues."""
        return Turn(self.run_id, self.prompt, {p.name: Answer(p.text, p.status, p.error)
                                               for p in self.providers.values()})

    # ------------------------------------------------------------------ export
    def results(self) -> list[dict[str, Any]]:
        out = []
        for p in self.providers.values():
            if p.result is not None:
                out.append(dict(p.result))
            else:
                f = p.figures()
                out.append({"provider": p.name, "model": p.model, "status": p.status, "text": p.text,
                            "reasoning": p.reasoning, "error": p.error, "ttft_ms": f["ttft_ms"],
                            "tokens_per_s": f["tokens_per_s"], "output_tokens": f["tokens"],
                            "e2e_ms": f["elapsed_ms"]})
        return out

    def to_json(self, source: str = "") -> dict[str, Any]:
        """The same shape as ``tokenrace run --json`` (plus the run id and status)."""
        return {"run": self.run_id, "parent": self.parent, "prompt": self.prompt, "tool": f"tokenrace {__version__}",
                "config": source, "status": self.status, "params": dict(self.params), "results": self.results()}

    def to_markdown(self, source: str = "") -> str:
        lines = [f"# tokenrace run {self.run_id}", ""]
        if source:
            lines += [f"Source: {source} · status: {self.status}", ""]
        lines += ["## Prompt", ""] + [f"> {ln}" if ln else ">" for ln in self.prompt.splitlines()] + [""]
        lines += ["## Figures", "", "| Provider | Model | Status | TTFT | tok/s | Tokens | Total | Cost |",
                  "|---|---|---|--:|--:|--:|--:|--:|"]
        for p in self.providers.values():
            f = p.figures()
            tokens = "–" if f["tokens"] is None else (f"~{f['tokens']}" if f["estimate"] else str(f["tokens"]))
            lines.append(f"| {p.name} | {p.model} | {f['status']} | {fmt_ms(f['ttft_ms'])} | "
                         f"{fmt_rate(f['tokens_per_s'])} | {tokens} | {fmt_ms(f['elapsed_ms'])} | "
                         f"{fmt_cost(f['cost_usd'], f['cost_estimated'])} |")
        lines.append("")
        for p in self.providers.values():
            lines += [f"## {p.name} · {p.model}" if p.model else f"## {p.name}", ""]
            if p.error:
                lines += [f"**Error:** {p.error}", ""]
            if p.reasoning:
                lines += ["<details><summary>Reasoning</summary>", "", p.reasoning, "", "</details>", ""]
            lines += [p.text or "_(no answer)_", ""]
        return "\n".join(lines)
