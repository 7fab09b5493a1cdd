"""``tokenrace simulate``: the provider simulator as a stand-alone server."""
from __future__ import annotations

import argparse
import asyncio

from ..simulator import DEFAULT_PROFILES
from ..simulator.server import serve


def main(args: argparse.Namespace) -> int:
    try:
        asyncio.run(serve(args.host, args.port, DEFAULT_PROFILES))
    except KeyboardInterrupt:
        pass
    except OSError as e:
        print(f"tokenrace: cannot listen on {args.host}:{args.port}: {e.strerror or e}")
        return 1
    return 0
