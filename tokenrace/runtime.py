"""Where a command gets its providers: the user's config, or the built-in simulator."""
from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, AsyncIterator, Callable, Iterable

from .config.models import Config
from .secrets import install_log_filter

if TYPE_CHECKING:
    from .simulator import Profile, Simulator

log = logging.getLogger("tokenrace")


@contextlib.asynccontextmanager
async def simulator_config(profiles: "Iterable[Profile] | None" = None,
                           make_config: "Callable[[Simulator], Config] | None" = None) -> AsyncIterator[Config]:
    """Start the simulator in-process (the default profiles unless given), yield the config built on it
    (the built-in providers unless ``make_config`` says otherwise), and stop it on exit."""
    from .config.defaults import builtin_config
    from .simulator import DEFAULT_PROFILES, Simulator

    sim = Simulator(profiles or DEFAULT_PROFILES)
    await sim.start()
    log.info("using the in-process simulator at %s", sim.url)
    try:
        yield (make_config or builtin_config)(sim)
    finally:
        await sim.stop()


@contextlib.asynccontextmanager
async def open_config(explicit: str | None = None) -> AsyncIterator[Config]:
    """Load the config (look-up order in the README); with none, start the simulator in-process."""
    from .config.loader import load_config

    cfg = load_config(explicit)
    if cfg is not None:
        install_log_filter(cfg.redactor)      # nothing logged may carry a configured secret
        yield cfg
        return
    async with simulator_config() as cfg:
        yield cfg
