"""``tokenrace init``: write the commented starter config."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..config.loader import write_starter


def main(args: argparse.Namespace) -> int:
    path = write_starter(Path(args.path), force=args.force)
    print(f"wrote {path}: edit it, set the API keys in your environment, then run: tokenrace providers --check")
    return 0
