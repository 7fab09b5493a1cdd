"""``tokenrace`` command line: argparse subcommands, each in ``tokenrace/commands/``."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Sequence

from . import __version__
from .commands import bench_cmd, compare_cmd, serve_cmd, tui_cmd, worker_cmd
from .errors import ConfigError, TokenraceError, UsageError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
# Imported, not looked up: a command module that fails to import is a bug and must stop the CLI
# loudly rather than quietly drop the subcommand (they import only the standard library at load).
PLUGGED = {"serve": serve_cmd, "tui": tui_cmd, "bench": bench_cmd, "compare": compare_cmd,
           "worker": worker_cmd}


def _add_config(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--config", metavar="FILE",
                   help="config file (default: $TOKENRACE_CONFIG, ./tokenrace.yaml, "
                        "~/.config/tokenrace/config.yaml, else the built-in simulator)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tokenrace",
        description="Send one prompt to several LLM providers at once; compare TTFT, tokens/s and answers.")
    parser.add_argument("--version", action="version", version=f"tokenrace {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="race one prompt across providers and compare",
                         description="Send PROMPT to the chosen providers at the same moment, show live "
                                     "progress, then a comparison table. Exit 0 when all succeeded, 1 when "
                                     "any failed, 2 for a usage or config error.")
    run.add_argument("prompt", help="the prompt ('-' reads it from standard input)")
    _add_config(run)
    run.add_argument("-p", "--provider", action="append", metavar="NAME", help="only this provider (repeatable)")
    run.add_argument("--max-tokens", type=int, metavar="N", help="cap the answer length")
    run.add_argument("--temperature", type=float, metavar="T",
                     help="sampling temperature sent to every provider (default: each provider's params)")
    run.add_argument("--system", metavar="TEXT", help="a system prompt")
    run.add_argument("--json", action="store_true", help="print exactly one JSON document and nothing else")
    run.add_argument("--no-text", action="store_true", help="do not print the answers, only the table")
    run.add_argument("--db", metavar="PATH", help="the run history database (default: the one serve and tui use)")
    run.add_argument("--no-history", action="store_true", help="do not record this run in the run history")
    run.add_argument("--continue", dest="continue_run", metavar="RUN_ID|last",
                     help="ask a follow-up in that run's conversation (each provider gets its own earlier answers)")

    sim = sub.add_parser("simulate", help="run the built-in provider simulator",
                         description="A loopback HTTP server that speaks every supported wire format with "
                                     "set timing and faults; point a config's base_url at it.")
    sim.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    sim.add_argument("--port", type=int, default=9009, help="port to listen on (default 9009)")

    prov = sub.add_parser("providers", help="list the configured providers (never a key)")
    _add_config(prov)
    prov.add_argument("--check", action="store_true", help="send a tiny request to each and report")
    prov.add_argument("--json", action="store_true",
                      help="print one JSON document (name, kind, model, base URL, ready) instead of a table")

    init = sub.add_parser("init", help="write a commented starter config file")
    init.add_argument("path", nargs="?", default="tokenrace.yaml", metavar="PATH",
                      help="where to write it (default tokenrace.yaml)")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")

    # Later commands own their arguments: tokenrace/commands/<name>_cmd.py defines
    # HELP, add_arguments(parser, add_config) and main(args).
    for name, module in PLUGGED.items():
        p = sub.add_parser(name, help=module.HELP, description=getattr(module, "DESCRIPTION", module.HELP))
        module.add_arguments(p, _add_config)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    try:
        from .commands import dispatch
        return dispatch(args)
    except (ConfigError, UsageError) as e:
        print(f"tokenrace: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except TokenraceError as e:
        print(f"tokenrace: {e}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:                 # `tokenrace compare ... | head`: the reader left; no traceback
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())     # Python's own flush at exit would fail again
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
