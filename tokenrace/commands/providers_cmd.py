"""``tokenrace providers``: what is configured (never a key), and ``--check`` sends a tiny request to each."""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..providers.http import HTTPClient
from ..redisconn import safe_url
from ..race import Race
from ..render import STATUS_STYLE, fmt_ms
from ..request import ChatRequest
from ..runtime import open_config

CHECK_PROMPT = "Reply with the single word: OK"


def main(args: argparse.Namespace) -> int:
    return asyncio.run(_main(args))


async def _main(args: argparse.Namespace) -> int:
    async with open_config(args.config) as cfg:
        # the built-in simulator listens on a fresh loopback port each time: its URLs mean nothing to keep
        rows: list[dict[str, Any]] = [dict(p.public(), base_url=None if cfg.builtin else safe_url(p.base_url),
                                           available=p.unavailable is None, problem=p.unavailable)
                                      for p in cfg.providers]
        results = None
        if args.check:
            async with HTTPClient() as client:
                req = ChatRequest.from_prompt(CHECK_PROMPT, {"max_tokens": 16})
                results = {r.provider: r for r in await Race(client, cfg.providers, req, defaults=cfg.defaults).run()}
            for row in rows:
                r = results[row["name"]]
                row.update(status=r.status, ttft_ms=r.ttft_ms, error=r.error)
    if args.json:
        json.dump({"config": cfg.source or "built-in simulator", "providers": rows}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _print(rows, cfg.source, args.check, cfg.builtin)
    if results is not None:
        return 0 if all(r.status == "ok" for r in results.values()) else 1
    return 0


BUILTIN_TITLE = "providers from the built-in simulator (in-process, no keys needed)"


def _print(rows: list[dict[str, Any]], source: str | None, check: bool, builtin: bool = False) -> None:
    console = Console()
    t = Table(title=BUILTIN_TITLE if builtin else f"providers from {source or 'the built-in simulator'}",
              header_style="bold")
    url = [] if builtin else ["Base URL"]
    for col in ("Name", "Kind", "Model", *url, "Ready" if not check else "Check", *(["TTFT"] if check else [])):
        t.add_column(col)
    for row in rows:
        if check:
            state = Text(row["status"], style=STATUS_STYLE.get(row["status"], ""))
            extra = [fmt_ms(row["ttft_ms"])]
        else:
            state = Text("yes", style="green") if row["available"] else Text("no", style="red")
            extra = []
        t.add_row(row["name"], row["kind"], row["model"], *([] if builtin else [row["base_url"]]), state, *extra)
    console.print(t)
    for row in rows:
        problem = row.get("error") if check else row["problem"]
        if problem:
            console.print(Text(f"✗ {problem}", style="red"))
