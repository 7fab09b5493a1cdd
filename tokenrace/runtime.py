"""Where a command gets its providers: the user's config, or the built-in simulator."""
from __future__ import annotations

import contextlib
import logging
from typing import AsyncIterator

from .config.models import Config

log = logging.getLogger("tokenrace")


@contextlib.asynccontextmanager
async def open_config(explicit: str | None = None) -> AsyncIterator[Config]:
    """Load the config (look-up order in the README); with none, start the simulator in-process."""
    from .config.loader import load_config

    cfg = load_config(explicit)
    if cfg is not None:
        yield cfg
        return
    from .config.defaults import builtin_config
    from .simulator import DEFAULT_PROFILES, Simulator

    sim = Simulator(DEFAULT_PROFILES)
    await sim.start()
    log.info("no config file found: using the built-in simulator at %s", sim.url)
    try:
        yield builtin_config(sim)
    finally:
        await sim.stop()
