"""wire name -> encoder class, over every simulated format."""
from __future__ import annotations

from .base import Encoder, StreamContext
from .bedrock_format import BedrockEncoder
from .formats import AnthropicEncoder, GeminiEncoder, OpenAIEncoder, ZhipuEncoder
from .hosted_formats import AzureEncoder, CohereEncoder, VertexEncoder
from .local_formats import (ChatCumulativeEncoder, ChatEventsEncoder, ChatGLMEncoder, ChatStreamEncoder,
                            GinRelayEncoder, LlamaCppEncoder, OllamaEncoder)
from .responses_format import OpenAIResponsesEncoder

ENCODERS: dict[str, type[Encoder]] = {cls.wire: cls for cls in (
    OpenAIEncoder, LlamaCppEncoder, AnthropicEncoder, GeminiEncoder, ZhipuEncoder, OllamaEncoder,
    ChatCumulativeEncoder, ChatStreamEncoder, ChatEventsEncoder,
    OpenAIResponsesEncoder, AzureEncoder, VertexEncoder, BedrockEncoder, CohereEncoder, ChatGLMEncoder,
    GinRelayEncoder)}
WIRES = tuple(ENCODERS)
REASONING_WIRES = frozenset(w for w, cls in ENCODERS.items() if cls.reasoning_shape)
DEFAULT_MODELS = {w: cls.default_model for w, cls in ENCODERS.items() if cls.default_model != "model"}


def make_encoder(wire: str, ctx: StreamContext) -> Encoder:
    return ENCODERS[wire](ctx)
