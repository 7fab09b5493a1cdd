"""``tokenrace run``: one race in the terminal, a live view, then the comparison (or ``--json``)."""
from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time

from rich.console import Console
from rich.live import Live
from rich.panel import Panel

from .. import __version__
from ..errors import UsageError
from ..providers.http import HTTPClient
from ..race import Race
from ..render import live_table, results_table
from ..request import ChatRequest
from ..runtime import open_config

REFRESH_S = 0.1


def main(args: argparse.Namespace) -> int:
    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    if not prompt.strip():
        raise UsageError("the prompt is empty")
    if args.max_tokens is not None and args.max_tokens < 1:
        raise UsageError("--max-tokens must be at least 1")
    return asyncio.run(_run(args, prompt))


def request_params(args: argparse.Namespace) -> dict:
    params = {}
    if args.max_tokens is not None:
        params["max_tokens"] = args.max_tokens
    if args.temperature is not None:
        params["temperature"] = args.temperature
    return params


async def _run(args: argparse.Namespace, prompt: str) -> int:
    async with open_config(args.config) as cfg:
        providers = cfg.select(args.provider)
        request = ChatRequest.from_prompt(prompt, request_params(args), system=args.system)
        async with HTTPClient() as client:
            race = Race(client, providers, request, defaults=cfg.defaults)
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGINT, race.cancel)   # Ctrl+C: stop, keep what arrived
            try:
                if args.json:
                    results = await race.run()
                else:
                    results = await _run_live(race, Console(stderr=True))
            finally:
                loop.remove_signal_handler(signal.SIGINT)
    if args.json:
        doc = {"prompt": prompt, "tool": f"tokenrace {__version__}",
               "config": cfg.source or "built-in simulator", "params": dict(request.params),
               "results": [r.to_dict() for r in results]}
        json.dump(doc, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        _print_results(results, args, cfg.builtin)
    return 0 if all(r.status == "ok" for r in results) else 1


async def _run_live(race: Race, console: Console) -> list:
    if not console.is_terminal:
        return await race.run()

    def view():
        now = time.perf_counter_ns()
        return live_table((acc.live(now), acc.text or acc.reasoning, acc.error if acc.status == "error" else None)
                          for acc in race.accumulators.values())

    task = asyncio.create_task(race.run())
    with Live(view(), console=console, auto_refresh=False, transient=True) as live:
        while not task.done():
            await asyncio.wait([task], timeout=REFRESH_S)
            live.update(view(), refresh=True)
    return task.result()


def _print_results(results, args, builtin: bool) -> None:
    out = Console()
    if not args.no_text:
        for r in results:
            body = r.text if r.text else "(no answer)"
            if r.reasoning:
                body = f"[dim italic]reasoning: {_esc(r.reasoning)}[/dim italic]\n\n{_esc(body)}"
            else:
                body = _esc(body)
            style = {"ok": "green", "error": "red"}.get(r.status, "yellow")
            subtitle = r.error if r.error else None
            out.print(Panel(body, title=f"{r.provider} · {r.model}", subtitle=_esc(subtitle) if subtitle else None,
                            border_style=style, title_align="left", subtitle_align="left"))
    title = "tokenrace — built-in simulator" if builtin else None
    out.print(results_table(results, title=title))
    for r in results:
        for n in r.notices:
            out.print(f"[yellow]![/yellow] {r.provider}: {_esc(n)}")
        if r.error and r.status != "ok":
            out.print(f"[red]✗[/red] {_esc(r.error)}")


def _esc(text: str) -> str:
    from rich.markup import escape
    return escape(text)
