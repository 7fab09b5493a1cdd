"""kind -> adapter class."""
from __future__ import annotations

from ..config.models import ProviderConfig
from .anthropic import AnthropicAdapter
from .base import Adapter
from .custom import CustomSSEAdapter
from .gemini import GeminiAdapter
from .ollama import OllamaAdapter
from .openai import OpenAIAdapter
from .zhipu import ZhipuAdapter

ADAPTERS: dict[str, type[Adapter]] = {
    a.kind: a for a in (OpenAIAdapter, AnthropicAdapter, GeminiAdapter, ZhipuAdapter, OllamaAdapter, CustomSSEAdapter)
}


def make_adapter(cfg: ProviderConfig) -> Adapter:
    try:
        return ADAPTERS[cfg.kind](cfg)
    except KeyError:
        raise ValueError(f"unknown kind {cfg.kind!r}") from None
