"""``tokenrace tui``: the race in a terminal UI, in-process or against a tokenrace server."""
from __future__ import annotations

import argparse

HELP = "the side-by-side race in a terminal UI (in-process, or --server URL)"
DESCRIPTION = ("A terminal UI: type a prompt, watch every provider's answer stream side by side with live "
               "TTFT, tokens/s and totals. Runs the engine in-process (runs kept in the local database), or "
               "with --server follows a tokenrace server's runs, so several people can watch the same run.")


def add_arguments(parser: argparse.ArgumentParser, add_config) -> None:
    add_config(parser)
    parser.add_argument("--server", metavar="URL", help="use a tokenrace server (e.g. http://127.0.0.1:8765) "
                                                         "instead of running the engine here")
    parser.add_argument("--token", metavar="T", help="the server's access token (default: $TOKENRACE_TOKEN)")
    parser.add_argument("--db", metavar="PATH", help="local run database (default: the one tokenrace serve uses)")
    parser.add_argument("-p", "--provider", action="append", metavar="NAME", help="only this provider (repeatable)")
    parser.add_argument("--max-tokens", type=int, metavar="N", help="cap the answer length")
    parser.add_argument("--system", metavar="TEXT", help="system prompt for every run (F2 changes it in the UI)")
    parser.add_argument("--export-dir", metavar="DIR", help="where Ctrl+S writes the run (default: current directory)")
    parser.add_argument("--run", metavar="ID", dest="watch", help="open this run at start (remote: watch it live)")
    parser.add_argument("prompt", nargs="?", help="run this prompt at start")


def main(args: argparse.Namespace) -> int:
    import os

    from ..errors import UsageError
    from ..tui.app import TokenraceApp
    from ..tui.client import LocalSource, RemoteSource, Source

    if args.max_tokens is not None and args.max_tokens < 1:
        raise UsageError("--max-tokens must be at least 1")
    token = args.token or os.environ.get("TOKENRACE_TOKEN")
    source: Source
    if args.server:
        if args.config or args.db:
            raise UsageError("--server uses the server's providers and history: leave out -c and --db")
        if not args.server.startswith(("http://", "https://")):
            raise UsageError(f"--server needs an http:// or https:// URL, got {args.server!r}")
        source = RemoteSource(args.server, token, providers=args.provider)
    else:
        if args.token:
            raise UsageError("--token is for --server")
        from ..config.loader import load_config
        cfg = load_config(args.config)          # a config error stops here, with its file:line message
        if args.provider:
            if cfg is not None:
                cfg.select(args.provider)
            else:
                from ..config.defaults import BUILTIN
                unknown = sorted(set(args.provider) - {b[0] for b in BUILTIN})
                if unknown:
                    from ..config.validate import suggest
                    names = [b[0] for b in BUILTIN]
                    named = ", ".join(repr(n) + suggest(n, names) for n in unknown)
                    raise UsageError(f"unknown provider {named}; the built-in simulator "
                                     f"has {', '.join(b[0] for b in BUILTIN)}")
        source = LocalSource(args.config, providers=args.provider, db_path=args.db)
    params: dict[str, object] = {"max_tokens": args.max_tokens} if args.max_tokens else {}
    if args.system is not None and args.system.strip():
        params["system"] = args.system
    app = TokenraceApp(source, params=params or None, export_dir=args.export_dir, initial_prompt=args.prompt,
                       watch_run=args.watch)
    app.run()
    return app.return_code or 0
