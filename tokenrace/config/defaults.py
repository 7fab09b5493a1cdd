"""The built-in configuration: one simulated provider per kind, so nothing needs keys.

Kinds whose real APIs refuse a request without credentials (Azure's ``api-key``, Vertex AI's Bearer
token, Bedrock's) get a placeholder key: the simulator checks that one is sent, as the real service
would, and the placeholder is redacted like any key.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .models import Config, ProviderConfig, Secret, SSEEndpoint, Timeouts, VertexTarget

if TYPE_CHECKING:   # the simulator uses aiohttp; config must not import it
    from ..simulator import Simulator

SIM_KEY = Secret("sim-placeholder-key")
# (provider name = simulator profile name, kind, model, extra ProviderConfig fields)
BUILTIN: tuple[tuple[str, str, str, dict[str, Any]], ...] = (
    ("sim-openai", "openai", "gpt-sim-mini", {}),
    ("sim-responses", "openai-responses", "gpt-sim-reasoner", {"params": {"reasoning": {"summary": "auto"}}}),
    ("sim-anthropic", "anthropic", "claude-sim-haiku", {}),
    ("sim-gemini", "gemini", "gemini-sim-flash", {}),
    ("sim-vertex", "gemini", "gemini-sim-pro", {"vertex": VertexTarget("sim-project", "us-central1"),
                                                "api_key": SIM_KEY}),
    ("sim-azure", "azure", "gpt-sim-4o", {"deployment": "sim-deployment", "api_version": "2024-10-21",
                                          "api_key": SIM_KEY}),
    ("sim-bedrock", "bedrock", "anthropic.claude-sim-v1:0", {"region": "us-east-1", "api_key": SIM_KEY}),
    ("sim-cohere", "cohere", "command-sim-a", {}),
    ("sim-zhipu", "zhipu", "glm-sim-4.5", {}),
    ("sim-ollama", "ollama", "llama-sim:3b", {}),
    ("sim-custom", "sse", "custom-chat", {"endpoint": SSEEndpoint(
        path="/chat", body={"prompt": "{prompt}", "history": "{history}", "max_new_tokens": "{max_tokens}",
                            "temperature": "{temperature}"},
        text_path=None, mode="cumulative", done=None)}),
)


def builtin_config(sim: "Simulator") -> Config:
    providers = tuple(
        ProviderConfig(name=name, kind=kind, model=model,
                       base_url=sim.base_url(name, "vertex" if "vertex" in extra else kind),
                       timeout=Timeouts(connect=5, read=30, total=120), retries=1, **extra)
        for name, kind, model, extra in BUILTIN
    )
    return Config(providers=providers, defaults={"params": {"max_tokens": 512}}, source=None, builtin=True)
