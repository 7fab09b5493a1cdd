"""The bytes of Azure OpenAI chat, Vertex AI Gemini and Cohere v2 chat streams. Pure: no I/O.

Shapes and key order follow ``fixtures/streams/azure_openai_content_filter.sse`` and
``cohere_v2_chat.sse``; Vertex streams the Gemini body plus its own extra keys.
"""
from __future__ import annotations

import uuid
from typing import Any

from .base import HEX, Encoder, StreamContext, compact, rand_str, sse
from .formats import GeminiEncoder

_SAFE = {"filtered": False, "severity": "safe"}
_CLEAR = {"filtered": False, "detected": False}


def _prompt_filter() -> dict[str, Any]:
    return {"hate": _SAFE, "jailbreak": _CLEAR, "self_harm": _SAFE, "sexual": _SAFE, "violence": _SAFE}


def _output_filter(tripped: bool = False) -> dict[str, Any]:
    return {"hate": _SAFE, "protected_material_code": _CLEAR, "protected_material_text": _CLEAR,
            "self_harm": _SAFE, "sexual": _SAFE,
            "violence": {"filtered": True, "severity": "high"} if tripped else _SAFE}


class AzureEncoder(Encoder):
    """OpenAI chat chunks, keys in Azure's order, ``content_filter_results`` on every choice, a first
    chunk with ``choices: []`` and ``prompt_filter_results``; the content_filter fault ends with
    ``finish_reason: "content_filter"`` and the tripped category."""

    wire = "azure"
    content_type = "text/event-stream; charset=utf-8"
    default_model = "gpt-4o-2024-11-20"
    finish_words = ("stop", "length", "content_filter")

    def __init__(self, ctx: StreamContext) -> None:
        super().__init__(ctx)
        self.id = "chatcmpl-" + rand_str(self.rng, 29)
        self.fingerprint = "fp_" + rand_str(self.rng, 10, HEX)

    def headers(self) -> dict[str, str]:
        return {"Cache-Control": "no-cache, must-revalidate",
                "apim-request-id": str(uuid.UUID(int=self.rng.getrandbits(128), version=4))}

    def _chunk(self, choices: list[Any], usage: dict[str, Any] | None = None) -> bytes:
        return sse(compact({"choices": choices, "created": self.ctx.created, "id": self.id, "model": self.ctx.model,
                            "object": "chat.completion.chunk", "system_fingerprint": self.fingerprint,
                            "usage": usage}))

    @staticmethod
    def _choice(filters: dict[str, Any], delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"content_filter_results": filters, "delta": delta, "finish_reason": finish, "index": 0,
                "logprobs": None}

    def opening(self) -> list[bytes]:
        first = {"choices": [], "created": 0, "id": "", "model": "", "object": "",
                 "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": _prompt_filter()}]}
        return [sse(compact(first)),
                self._chunk([self._choice({}, {"content": "", "refusal": None, "role": "assistant"})])]

    def _text(self, text: str, last: bool) -> list[bytes]:
        return [self._chunk([self._choice(_output_filter(), {"content": text})])]

    def finish(self, total_ns: int = 0, eval_ns: int = 0) -> list[bytes]:
        word = self.finish_word()
        out = [self._chunk([self._choice(_output_filter(True) if word == "content_filter" else {}, {}, word)])]
        if self.ctx.include_usage and self.ctx.usage:
            p, n = self.ctx.prompt_tokens, self.output_tokens
            usage = {"completion_tokens": n, "completion_tokens_details": {
                         "accepted_prediction_tokens": 0, "audio_tokens": 0, "reasoning_tokens": 0,
                         "rejected_prediction_tokens": 0},
                     "prompt_tokens": p, "prompt_tokens_details": {"audio_tokens": 0, "cached_tokens": 0},
                     "total_tokens": p + n}
            out.append(self._chunk([], usage))
        return out + [sse("[DONE]")]

    def error_after(self) -> list[bytes]:
        err = {"message": "The server had an error processing your request. Sorry about that! You can retry your "
                          "request, or contact us through an Azure support request if the error persists.",
               "type": "server_error", "param": None, "code": None}
        return [sse(compact({"error": err})), sse("[DONE]")]


class VertexEncoder(GeminiEncoder):
    """The Gemini body (CRLF, ``": "``, cumulative usage, ends by closing) plus Vertex's extra keys:
    ``usageMetadata.trafficType`` and ``*TokensDetails``, and ``createTime``."""

    wire = "vertex"

    def __init__(self, ctx: StreamContext) -> None:
        super().__init__(ctx)
        now = ctx.clock()
        self.create_time = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond:06d}Z"

    def _usage_metadata(self) -> dict[str, Any]:
        p, a, r = self.ctx.prompt_tokens, self.answer_tokens, self.reasoning_tokens
        um: dict[str, Any] = {"promptTokenCount": p, "candidatesTokenCount": a, "totalTokenCount": p + a + r,
                              "trafficType": "ON_DEMAND",
                              "promptTokensDetails": [{"modality": "TEXT", "tokenCount": p}],
                              "candidatesTokensDetails": [{"modality": "TEXT", "tokenCount": a}]}
        if r:
            um["thoughtsTokenCount"] = r
        return um

    def _tail(self) -> dict[str, Any]:
        return {"modelVersion": self.ctx.model, "createTime": self.create_time, "responseId": self.response_id}


class CohereEncoder(Encoder):
    """``event:`` = ``data.type``; a thinking block (index 0) before the text block; usage and the finish
    reason on ``message-end``, then a bare ``data: [DONE]``."""

    wire = "cohere"
    content_type = "text/event-stream"
    default_model = "command-a-03-2025"
    reasoning_shape = True
    finish_words = ("COMPLETE", "MAX_TOKENS", "COMPLETE")     # Cohere has no filter reason
    malformed_event = "content-delta"
    PREAMBLE_TOKENS = 66        # Cohere's default system preamble: processed, never billed

    def __init__(self, ctx: StreamContext) -> None:
        super().__init__(ctx)
        self.id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        self.block: tuple[int, str] | None = None          # (index, "thinking" | "text") of the open block

    def _event(self, obj: dict[str, Any]) -> bytes:
        return sse(compact(obj), event=obj["type"])

    def _switch(self, kind: str) -> list[bytes]:
        """Close the open block and start one of ``kind`` when the kind changes."""
        if self.block is not None and self.block[1] == kind:
            return []
        out = self._close()
        index = 0 if self.block is None else self.block[0] + 1
        self.block = (index, kind)
        return out + [self._event({"type": "content-start", "index": index,
                                   "delta": {"message": {"content": {"type": kind, kind: ""}}}})]

    def _close(self) -> list[bytes]:
        if self.block is None or self.block[1] == "closed":
            return []
        index = self.block[0]
        self.block = (index, "closed")
        return [self._event({"type": "content-end", "index": index})]

    def _delta(self, kind: str, text: str) -> list[bytes]:
        out = self._switch(kind)
        assert self.block is not None
        return out + [self._event({"type": "content-delta", "index": self.block[0],
                                   "delta": {"message": {"content": {kind: text}}}})]

    def opening(self) -> list[bytes]:
        return [self._event({"id": self.id, "type": "message-start", "delta": {"message": {
            "role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}}})]

    def _reasoning(self, text: str) -> list[bytes]:
        return self._delta("thinking", text)

    def _text(self, text: str, last: bool) -> list[bytes]:
        return self._delta("text", text)

    def _usage(self) -> dict[str, Any]:
        p, n = self.ctx.prompt_tokens, self.output_tokens
        return {"billed_units": {"input_tokens": p, "output_tokens": n},
                "tokens": {"input_tokens": p + self.PREAMBLE_TOKENS, "output_tokens": n}, "cached_tokens": 0}

    def finish(self, total_ns: int = 0, eval_ns: int = 0) -> list[bytes]:
        end = {"type": "message-end", "delta": {"finish_reason": self.finish_word(), "usage": self._usage()}}
        return self._close() + [self._event(end), sse("[DONE]")]

    def error_after(self) -> list[bytes]:
        end = {"type": "message-end", "delta": {"finish_reason": "ERROR",
                                                "error": "internal server error, this has been reported to our "
                                                         "developers. id " + self.id,
                                                "usage": self._usage()}}
        return self._close() + [self._event(end), sse("[DONE]")]
