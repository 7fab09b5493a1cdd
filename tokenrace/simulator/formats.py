"""The bytes of the first hosted wire formats: OpenAI Chat Completions, Anthropic Messages, Gemini
``streamGenerateContent?alt=sse`` and Zhipu GLM. Pure: no I/O, no sleeping.

The shapes follow ``docs/wire-formats.md`` and the recorded streams in ``fixtures/streams`` (content
types, line endings, JSON spacing, key order, event order, where usage goes, error shapes). The
shared machinery (StreamContext, Encoder, the JSON and SSE writers) lives in :mod:`.base`.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from .base import (ALNUM, MALFORMED, Encoder, StreamContext, compact, fmt_seconds, gemini_json, go_json, rand_str,
                   sse)

__all__ = ["ALNUM", "MALFORMED", "AnthropicEncoder", "Encoder", "GeminiEncoder", "OpenAIEncoder", "StreamContext",
           "ZhipuEncoder", "compact", "fmt_seconds", "gemini_json", "go_json", "rand_str", "sse"]


class OpenAIEncoder(Encoder):
    wire = "openai"
    content_type = "text/event-stream; charset=utf-8"
    default_model = "gpt-4o-mini"
    reasoning_shape = True

    def __init__(self, ctx: StreamContext) -> None:
        super().__init__(ctx)
        self.id = "chatcmpl-" + rand_str(self.rng, 29)
        self.fingerprint = "fp_" + rand_str(self.rng, 10, "0123456789abcdef")

    def _chunk(self, delta: dict | None, finish: str | None = None, usage: dict | None = None) -> bytes:
        obj: dict = {"id": self.id, "object": "chat.completion.chunk", "created": self.ctx.created,
                     "model": self.ctx.model, "service_tier": "default", "system_fingerprint": self.fingerprint,
                     "choices": [] if delta is None else
                     [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        if self.ctx.include_usage:
            obj["usage"] = usage
        obj["obfuscation"] = rand_str(self.rng, self.rng.randint(3, 12))
        return sse(compact(obj))

    def opening(self) -> list[bytes]:
        return [self._chunk({"role": "assistant", "content": "", "refusal": None})]

    def _reasoning(self, text: str) -> list[bytes]:
        return [self._chunk({"content": None, "reasoning_content": text})]

    def _text(self, text: str, last: bool) -> list[bytes]:
        delta = {"content": text, "reasoning_content": None} if self.ctx.has_reasoning else {"content": text}
        return [self._chunk(delta)]

    def usage(self) -> dict:
        p, r = self.ctx.prompt_tokens, self.reasoning_tokens
        return {"prompt_tokens": p, "completion_tokens": self.output_tokens, "total_tokens": p + self.output_tokens,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": r, "audio_tokens": 0,
                                              "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}

    def finish(self, total_ns: int = 0, eval_ns: int = 0) -> list[bytes]:
        out = [self._chunk({}, self.finish_word())]
        if self.ctx.include_usage and self.ctx.usage:
            out.append(self._chunk(None, usage=self.usage()))
        return out + [sse("[DONE]")]

    def error_after(self) -> list[bytes]:
        err = {"message": "The server experienced an error while processing your request. "
                          "We apologize for the inconvenience!", "type": "server_error", "param": None, "code": None}
        return [sse(compact({"error": err})), sse("[DONE]")]


class AnthropicEncoder(Encoder):
    wire = "anthropic"
    content_type = "text/event-stream; charset=utf-8"
    default_model = "claude-sonnet-4-20250514"
    reasoning_shape = True
    finish_words = ("end_turn", "max_tokens", "refusal")
    malformed_event = "content_block_delta"

    def __init__(self, ctx: StreamContext) -> None:
        super().__init__(ctx)
        self.id = "msg_01" + rand_str(self.rng, 22)
        self.block: tuple[int, str] | None = None      # (index, type) of the open content block

    def _event(self, name: str, obj: dict, pad: bool = False) -> bytes:
        data = compact(obj)
        if pad and self.rng.random() < 0.3:             # real traffic: random spaces before the last }
            data = data[:-1] + " " * self.rng.randint(1, 3) + "}"
        return sse(data, event=name)

    def _usage(self, output_tokens: int) -> dict:
        return {"input_tokens": self.ctx.prompt_tokens, "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0, "output_tokens": output_tokens}

    def _start_block(self, index: int, kind: str) -> bytes:
        self.block = (index, kind)
        cb = {"type": "thinking", "thinking": "", "signature": ""} if kind == "thinking" else {"type": "text", "text": ""}
        return self._event("content_block_start", {"type": "content_block_start", "index": index, "content_block": cb})

    def _close_block(self) -> list[bytes]:
        if self.block is None:
            return []
        index, kind = self.block
        out = []
        if kind == "thinking":
            sig = rand_str(self.rng, 64, ALNUM + "+/")
            out.append(self._event("content_block_delta", {"type": "content_block_delta", "index": index,
                                                           "delta": {"type": "signature_delta", "signature": sig}}))
        out.append(self._event("content_block_stop", {"type": "content_block_stop", "index": index}, pad=True))
        self.block = None
        return out

    def opening(self) -> list[bytes]:
        msg: dict[str, Any] = {"id": self.id, "type": "message", "role": "assistant", "model": self.ctx.model,
                               "content": [], "stop_reason": None, "stop_sequence": None}
        if self.ctx.usage:
            msg["usage"] = {**self._usage(1), "service_tier": "standard"}
        return [self._event("message_start", {"type": "message_start", "message": msg}),
                self._start_block(0, "thinking" if self.ctx.has_reasoning else "text"),
                sse('{"type": "ping"}', event="ping")]

    def _delta(self, delta: dict) -> bytes:
        assert self.block is not None
        return self._event("content_block_delta",
                           {"type": "content_block_delta", "index": self.block[0], "delta": delta}, pad=True)

    def _reasoning(self, text: str) -> list[bytes]:
        return [self._delta({"type": "thinking_delta", "thinking": text})]

    def _text(self, text: str, last: bool) -> list[bytes]:
        out: list[bytes] = []
        if self.block is None or self.block[1] != "text":
            nxt = 0 if self.block is None else self.block[0] + 1
            out += self._close_block()
            out.append(self._start_block(nxt, "text"))
        return out + [self._delta({"type": "text_delta", "text": text})]

    def finish(self, total_ns: int = 0, eval_ns: int = 0) -> list[bytes]:
        out = self._close_block()
        md: dict = {"type": "message_delta",
                    "delta": {"stop_reason": self.finish_word(), "stop_sequence": None}}
        if self.ctx.usage:
            md["usage"] = self._usage(self.output_tokens)
        return out + [self._event("message_delta", md), self._event("message_stop", {"type": "message_stop"})]

    def error_after(self) -> list[bytes]:
        return [sse(json.dumps({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
                    event="error")]


class GeminiEncoder(Encoder):
    """CRLF line endings, ``": "`` after keys, usageMetadata on every chunk, finishReason on the last."""

    wire = "gemini"
    content_type = "text/event-stream"
    default_model = "gemini-2.5-flash"
    reasoning_shape = True
    finish_words = ("STOP", "MAX_TOKENS", "SAFETY")
    closes = True
    eol = "\r\n"

    def __init__(self, ctx: StreamContext) -> None:
        super().__init__(ctx)
        self.response_id = rand_str(self.rng, 23)

    def _chunk(self, part: dict, finish: str | None = None) -> bytes:
        cand: dict = {"content": {"parts": [part], "role": "model"}, "index": 0}
        if finish:
            cand["finishReason"] = finish
        obj: dict[str, Any] = {"candidates": [cand]}
        if self.ctx.usage:
            obj["usageMetadata"] = self._usage_metadata()
        obj.update(self._tail())
        return sse(gemini_json(obj), eol="\r\n")

    def _usage_metadata(self) -> dict[str, Any]:
        """Cumulative counts so far (every chunk carries them)."""
        p, a, r = self.ctx.prompt_tokens, self.answer_tokens, self.reasoning_tokens
        um: dict[str, Any] = {"promptTokenCount": p, "candidatesTokenCount": a, "totalTokenCount": p + a + r}
        if r:
            um["thoughtsTokenCount"] = r
        return um

    def _tail(self) -> dict[str, Any]:
        return {"modelVersion": self.ctx.model, "responseId": self.response_id}

    def _reasoning(self, text: str) -> list[bytes]:
        return [self._chunk({"text": text, "thought": True})]

    def _finish_reason(self) -> str:
        self.finish_sent = True
        return self.finish_word()

    def _text(self, text: str, last: bool) -> list[bytes]:
        return [self._chunk({"text": text}, self._finish_reason() if last else None)]

    def finish(self, total_ns: int = 0, eval_ns: int = 0) -> list[bytes]:
        return [] if self.finish_sent else [self._chunk({"text": ""}, self._finish_reason())]

    def error_after(self) -> list[bytes]:
        err = {"code": 503, "message": "The model is overloaded. Please try again later.", "status": "UNAVAILABLE"}
        return [sse(gemini_json({"error": err}), eol="\r\n")]


class ZhipuEncoder(Encoder):
    """As OpenAI but no ``object`` key, role repeated in every delta, usage on the finish chunk."""

    wire = "zhipu"
    content_type = "text/event-stream;charset=UTF-8"
    default_model = "glm-4.5"
    reasoning_shape = True
    finish_words = ("stop", "length", "sensitive")

    def __init__(self, ctx: StreamContext) -> None:
        super().__init__(ctx)
        stamp = datetime.fromtimestamp(ctx.created, timezone.utc).strftime("%Y%m%d%H%M%S")
        self.id = stamp + rand_str(self.rng, 16, "0123456789abcdef")

    def _chunk(self, choice: dict, usage: dict | None = None) -> bytes:
        obj: dict = {"id": self.id, "created": self.ctx.created, "model": self.ctx.model,
                     "choices": [{"index": 0, **choice}]}
        if usage is not None:
            obj["usage"] = usage
        return sse(compact(obj))

    def _reasoning(self, text: str) -> list[bytes]:
        return [self._chunk({"delta": {"role": "assistant", "reasoning_content": text}})]

    def _text(self, text: str, last: bool) -> list[bytes]:
        delta = {"role": "assistant", "content": text}
        if self.ctx.has_reasoning:
            delta["reasoning_content"] = ""
        return [self._chunk({"delta": delta})]

    def finish(self, total_ns: int = 0, eval_ns: int = 0) -> list[bytes]:
        usage = None
        if self.ctx.usage:
            p = self.ctx.prompt_tokens
            usage = {"prompt_tokens": p, "completion_tokens": self.output_tokens,
                     "total_tokens": p + self.output_tokens, "prompt_tokens_details": {"cached_tokens": 0}}
        choice = {"finish_reason": self.finish_word(),
                  "delta": {"role": "assistant", "content": ""}}
        return [self._chunk(choice, usage), sse("[DONE]")]

    def error_after(self) -> list[bytes]:
        return [sse(compact({"error": {"code": "1234", "message": f"Network error, error id: {self.id}, "
                                                                  "please contact customer service"}}))]
