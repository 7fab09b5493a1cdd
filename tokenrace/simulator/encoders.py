"""wire name -> encoder class, over the hosted formats and the self-hosted/custom ones."""
from __future__ import annotations

from .formats import AnthropicEncoder, Encoder, GeminiEncoder, OpenAIEncoder, StreamContext, ZhipuEncoder
from .local_formats import (ChatCumulativeEncoder, ChatEventsEncoder, ChatStreamEncoder, LlamaCppEncoder,
                            OllamaEncoder)

ENCODERS: dict[str, type[Encoder]] = {cls.wire: cls for cls in (
    OpenAIEncoder, LlamaCppEncoder, AnthropicEncoder, GeminiEncoder, ZhipuEncoder, OllamaEncoder,
    ChatCumulativeEncoder, ChatStreamEncoder, ChatEventsEncoder)}


def make_encoder(wire: str, ctx: StreamContext) -> Encoder:
    return ENCODERS[wire](ctx)
