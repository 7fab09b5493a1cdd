"""The built-in configuration: one simulated provider per wire format, so nothing needs keys."""
from __future__ import annotations

from typing import TYPE_CHECKING

from .models import Config, ProviderConfig, SSEEndpoint, Timeouts

if TYPE_CHECKING:   # the simulator uses aiohttp; config must not import it
    from ..simulator import Simulator

# (provider name = simulator profile name, kind, model, endpoint for kind sse)
BUILTIN = (
    ("sim-openai", "openai", "gpt-sim-mini", None),
    ("sim-anthropic", "anthropic", "claude-sim-haiku", None),
    ("sim-gemini", "gemini", "gemini-sim-flash", None),
    ("sim-zhipu", "zhipu", "glm-sim-4.5", None),
    ("sim-ollama", "ollama", "llama-sim:3b", None),
    ("sim-custom", "sse", "custom-chat", SSEEndpoint(
        path="/chat", body={"prompt": "{prompt}", "history": [], "max_new_tokens": "{max_tokens}",
                            "temperature": "{temperature}"},
        text_path=None, mode="cumulative", done=None)),
)


def builtin_config(sim: "Simulator") -> Config:
    providers = tuple(
        ProviderConfig(name=name, kind=kind, model=model, base_url=sim.base_url(name, kind),
                       endpoint=endpoint, timeout=Timeouts(connect=5, read=30, total=120), retries=1)
        for name, kind, model, endpoint in BUILTIN
    )
    return Config(providers=providers, defaults={"params": {"max_tokens": 512}}, source=None, builtin=True)
