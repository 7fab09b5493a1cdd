"""Conversations: a follow-up run has a ``parent``; the chain of runs is the thread.

Each provider in a follow-up gets its own history: the earlier prompts and *its own* earlier answers,
never another provider's (that would put words in its mouth). The rule for a provider that joins
mid-thread, or that gave no answer in a turn (it failed before any text): the turns it has no answer
for are left out of its history, prompt and all, so the history always alternates user/assistant as
every API requires. An answer cut short (truncated, cancelled, an error after some text) is its answer
as far as it went: that is what the user saw. The system prompt is the follow-up's own, else the
thread's last one.
"""
from __future__ import annotations

from typing import Any, Awaitable, Callable, Mapping, Sequence

from .runrequest import RequestError, RunRequest

Run = Mapping[str, Any]


async def walk(get_run: Callable[[str], Awaitable[Mapping[str, Any] | None]], run_id: str,
               max_runs: int = 500) -> list[dict[str, Any]]:
    """The conversation ``run_id`` ends, first turn first, following ``parent`` through ``get_run``;
    empty when ``run_id`` is unknown. A parent that is gone (pruned) ends the chain there."""
    chain: list[dict[str, Any]] = []
    seen: set[str] = set()
    current: str | None = run_id
    while current is not None and current not in seen and len(chain) < max_runs:
        seen.add(current)
        run = await get_run(current)
        if run is None:
            break
        chain.append(dict(run))
        parent = run.get("parent")
        current = parent if isinstance(parent, str) else None
    return chain[::-1]


def provider_history(runs: Sequence[Run], provider: str) -> tuple[dict[str, str], ...]:
    """The messages ``provider`` has seen in ``runs`` (oldest first): user prompt, its answer, ..."""
    out: list[dict[str, str]] = []
    for run in runs:
        answer = next((r.get("text") for r in run.get("results") or () if r.get("provider") == provider), None)
        if answer:
            out.append({"role": "user", "content": str(run.get("prompt", ""))})
            out.append({"role": "assistant", "content": str(answer)})
    return tuple(out)


def thread_system(runs: Sequence[Run]) -> str | None:
    for run in reversed(runs):
        system = (run.get("params") or {}).get("system")
        if isinstance(system, str) and system.strip():
            return system
    return None


def with_history(request: RunRequest, runs: Sequence[Run]) -> RunRequest:
    """``request`` continuing ``runs`` (the parent's thread, oldest first)."""
    if not runs:
        raise RequestError(f"no run {request.parent!r} to continue", status=404, field="parent")
    last = runs[-1]
    if last.get("status") in ("running", "waiting", "streaming"):
        raise RequestError(f"run {request.parent!r} is still running; continue it when it has ended",
                           status=409, field="parent")
    history = {p.name: provider_history(runs, p.name) for p in request.providers}
    system = request.system if request.system is not None else thread_system(runs)
    return RunRequest(request.prompt, request.providers, request.params, system, request.parent, history)


def thread_json(runs: Sequence[Run]) -> dict[str, Any]:
    """The thread as one document: its runs, oldest first, with every provider's result."""
    return {"thread": runs[-1]["id"] if runs else None, "runs": [dict(r) for r in runs]}


def thread_markdown(runs: Sequence[Run]) -> str:
    """The thread for people: each turn's prompt, then each provider's answer and figures."""
    if not runs:
        return ""
    lines = [f"# tokenrace conversation ({len(runs)} turn{'s' if len(runs) != 1 else ''})", ""]
    if system := thread_system(runs):
        lines += [f"System: {system}", ""]
    for i, run in enumerate(runs, 1):
        lines += [f"## Turn {i} · run {run['id']}", "", "> " + str(run.get("prompt", "")).replace("\n", "\n> "), ""]
        for r in run.get("results") or ():
            figures = [f"status {r.get('status')}"]
            if r.get("ttft_ms") is not None:
                figures.append(f"TTFT {r['ttft_ms']:.0f} ms")
            if r.get("tokens_per_s") is not None:
                figures.append(f"{r['tokens_per_s']:.1f} tok/s")
            if r.get("cost_usd") is not None:
                figures.append(f"{'~' if r.get('cost_estimated') else ''}${r['cost_usd']:.6f}")
            lines += [f"### {r.get('provider')} · {r.get('model', '')}", "", "_" + ", ".join(figures) + "_", ""]
            lines += [str(r.get("text") or "(no answer)"), ""]
            if r.get("error") and r.get("status") != "ok":
                lines += [f"> error: {r['error']}", ""]
    return "\n".join(lines).rstrip() + "\n"
