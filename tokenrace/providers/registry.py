"""kind -> adapter class."""
from __future__ import annotations

from ..config.models import ProviderConfig
from .anthropic import AnthropicAdapter
from .azure import AzureAdapter
from .base import Adapter
from .bedrock import BedrockAdapter
from .cohere import CohereAdapter
from .custom import CustomSSEAdapter
from .gemini import GeminiAdapter
from .ollama import OllamaAdapter
from .openai import OpenAIAdapter
from .responses import ResponsesAdapter
from .zhipu import ZhipuAdapter

ADAPTERS: dict[str, type[Adapter]] = {
    a.kind: a for a in (OpenAIAdapter, ResponsesAdapter, AnthropicAdapter, GeminiAdapter, ZhipuAdapter, OllamaAdapter,
                        AzureAdapter, BedrockAdapter, CohereAdapter, CustomSSEAdapter)
}


def make_adapter(cfg: ProviderConfig) -> Adapter:
    try:
        return ADAPTERS[cfg.kind](cfg)
    except KeyError:
        raise ValueError(f"unknown kind {cfg.kind!r}") from None
