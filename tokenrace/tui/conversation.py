"""Conversations in the TUI: the earlier turns a pane shows, and past runs grouped into threads.

The engine decides what each provider is sent (``tokenrace.thread``: its own earlier answers, a
turn it has no answer for left out); this module only shows the same thing. Plain Python, no
Textual: a :class:`Turn` comes from a finished :class:`~tokenrace.tui.state.RunState` or from a
stored run (``RunStore.thread`` / ``GET /api/runs/{id}/thread``), and :func:`threads` turns the
runs list (each with its ``parent``) into one row per conversation for the History screen.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence


@dataclass(frozen=True)
class Answer:
    text: str
    status: str
    error: str | None = None


@dataclass(frozen=True)
class Turn:
    """One earlier run of the conversation: its prompt and each provider's answer."""

    run_id: str
    prompt: str
    answers: Mapping[str, Answer] = field(default_factory=dict)

    @classmethod
    def from_run(cls, run: Mapping[str, Any]) -> "Turn":
        answers = {str(r.get("provider")): Answer(str(r.get("text") or ""), str(r.get("status") or ""),
                                                 r.get("error")) for r in run.get("results") or ()}
        return cls(str(run.get("id", "")), str(run.get("prompt", "")), answers)

    def answer(self, provider: str) -> Answer | None:
        return self.answers.get(provider)


def pane_note(answer: Answer | None) -> str | None:
    """Why an earlier turn is not in this provider's history (None: it is), as the pane says it."""
    if answer is None:
        return "not in this turn: left out of its history"
    if not answer.text:
        return f"no answer ({answer.status}): left out of its history"
    return None


@dataclass(frozen=True)
class ThreadRow:
    """A conversation for the History screen: its runs oldest first, as far as the list reaches."""

    runs: tuple[Mapping[str, Any], ...]
    complete: bool                  # False: earlier turns are older than the listed runs

    @property
    def last(self) -> Mapping[str, Any]:
        return self.runs[-1]

    @property
    def turns(self) -> str:
        return f"{len(self.runs)}" if self.complete else f"{len(self.runs)}+"


def threads(runs: Sequence[Mapping[str, Any]]) -> list[ThreadRow]:
    """One row per conversation end (a run no listed run follows up), newest first.

    A run followed up twice (a branch) ends two conversations, so each branch is a row of its own."""
    by_id = {str(r.get("id")): r for r in runs}
    followed = {str(r.get("parent")) for r in runs if r.get("parent")}
    rows = []
    for run in runs:                                 # newest first, as listed
        if str(run.get("id")) in followed:
            continue
        chain = [run]
        seen = {str(run.get("id"))}
        parent = run.get("parent")
        while parent and str(parent) in by_id and str(parent) not in seen:
            seen.add(str(parent))
            chain.append(by_id[str(parent)])
            parent = chain[-1].get("parent")
        rows.append(ThreadRow(tuple(reversed(chain)), complete=not parent))
    return rows
