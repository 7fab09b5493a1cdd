"""One module per subcommand; ``dispatch`` imports only the one that runs (fast start-up)."""
from __future__ import annotations

import argparse
import importlib


def dispatch(args: argparse.Namespace) -> int:
    module = importlib.import_module(f".{args.command.replace('-', '_')}_cmd", __name__)
    return module.main(args)
