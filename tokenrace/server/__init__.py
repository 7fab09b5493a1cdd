"""``tokenrace serve``: a Tornado server that runs races and broadcasts their events as SSE.

``hub`` (channels, replay, bounded subscribers; no tornado), ``runs`` (RunManager: limits on race
sessions, their frames -> hub channels; no tornado), ``handlers`` (JSON API), ``sse_handler`` (one writer
loop per subscriber), ``auth`` (token, cookie, Host/Origin checks, CORS; no tornado), ``app``
(make_app, Server). Names are imported lazily, so ``tokenrace.server.hub`` loads without tornado.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Server": "app", "ServerSettings": "app", "make_app": "app",
    "Channel": "hub", "Hub": "hub", "HubLimits": "hub",
    "Limits": "runs", "RunError": "runs", "RunManager": "runs",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
