"""The bytes of each provider's streaming wire format. Pure: no I/O, no sleeping.

An :class:`Encoder` turns one simulated answer into the events of one wire format; the server
writes every ``bytes`` element it returns on its own. The shapes follow
``docs/wire-formats.md`` and the recorded streams in ``fixtures/streams`` (content types, line
endings, JSON spacing, key order, event order, where usage goes, error shapes).
"""
from __future__ import annotations

import json
import random
import re
import string
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

WIRES = ("openai", "llamacpp", "anthropic", "gemini", "zhipu", "ollama", "chat", "chat_stream", "chat_events")
REASONING_WIRES = frozenset({"openai", "llamacpp", "anthropic", "gemini", "zhipu", "ollama"})
DEFAULT_MODELS = {"openai": "gpt-4o-mini", "llamacpp": "smollm2", "anthropic": "claude-sonnet-4-20250514",
                  "gemini": "gemini-2.5-flash", "zhipu": "glm-4.5", "ollama": "llama3.2"}
MALFORMED = '{"choices": [{"delta": {"content": "x"'     # broken JSON, sent by the "malformed" fault
_ALNUM = string.ascii_letters + string.digits
_EOL = re.compile(r"\r\n|\r|\n")


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class StreamContext:
    """What an encoder needs to know about the request and the planned answer."""

    request_id: str
    model: str
    prompt_tokens: int
    seed: int = 0
    usage: bool = True              # the profile reports usage (where the format can)
    include_usage: bool = False     # openai: the request asked for stream_options.include_usage
    has_reasoning: bool = False     # reasoning chunks come before the answer
    capped: bool = False            # the answer was cut by the request's max tokens
    created: int = 0                # unix seconds
    clock: Callable[[], datetime] = field(default=_utcnow, repr=False)


def compact(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def gemini_json(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ": "))


def go_json(obj: object) -> str:
    """Go's encoding/json: compact, raw UTF-8, but < > & U+2028 U+2029 as \\uXXXX escapes."""
    text = compact(obj)
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                    ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(ch, esc)
    return text


def sse(data: str, event: str | None = None, eol: str = "\n") -> bytes:
    """One SSE event; multi-line data becomes several ``data:`` lines."""
    lines = [f"event: {event}"] if event else []
    lines += [f"data: {line}" for line in _EOL.split(data)]
    return (eol.join(lines) + eol + eol).encode("utf-8")


def _rand(rng: random.Random, n: int, alphabet: str = _ALNUM) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def fmt_seconds(s: float) -> str:
    return str(int(s)) if float(s).is_integer() else f"{s:g}"


class Encoder:
    """Base: counts what was sent; subclasses shape the bytes."""

    wire = ""
    content_type = "text/event-stream"
    eol = "\n"
    ping_every = 0                 # >0: a keep-alive comment before the first event and every N chunks
    malformed_event: str | None = None
    plain_text = False             # data is plain text: nothing can be "malformed JSON"

    def __init__(self, ctx: StreamContext) -> None:
        self.ctx = ctx
        self.rng = random.Random(zlib.crc32(f"{ctx.seed}|{ctx.request_id}|{self.wire}".encode()))
        self.answer_tokens = self.reasoning_tokens = 0
        self.finish_sent = False

    @property
    def output_tokens(self) -> int:
        return self.answer_tokens + self.reasoning_tokens

    def opening(self) -> list[bytes]:
        """Events sent as soon as the headers are out, before the first content chunk."""
        return []

    def content(self, text: str, tokens: int, *, reasoning: bool = False, last: bool = False) -> list[bytes]:
        """Events for one content chunk (the content-bearing event is the last element)."""
        if reasoning:
            self.reasoning_tokens += tokens
            return self._reasoning(text)
        self.answer_tokens += tokens
        return self._text(text, last)

    def finish(self, total_ns: int = 0, eval_ns: int = 0) -> list[bytes]:
        """Terminal events (finish reason, usage, end marker)."""
        return []

    def error_after(self) -> list[bytes]:
        """The format's error-after-200 shape."""
        return []

    def malformed(self) -> list[bytes]:
        """One broken-JSON event in this format's framing (the "malformed" fault)."""
        return [] if self.plain_text else [sse(MALFORMED, self.malformed_event, self.eol)]

    def ping(self, now: datetime) -> bytes:
        return b":\n\n"

    def _reasoning(self, text: str) -> list[bytes]:
        return []

    def _text(self, text: str, last: bool) -> list[bytes]:
        raise NotImplementedError


class OpenAIEncoder(Encoder):
    wire = "openai"
    content_type = "text/event-stream; charset=utf-8"

    def __init__(self, ctx: StreamContext) -> None:
        super().__init__(ctx)
        self.id = "chatcmpl-" + _rand(self.rng, 29)
        self.fingerprint = "fp_" + _rand(self.rng, 10, "0123456789abcdef")

    def _chunk(self, delta: dict | None, finish: str | None = None, usage: dict | None = None) -> bytes:
        obj: dict = {"id": self.id, "object": "chat.completion.chunk", "created": self.ctx.created,
                     "model": self.ctx.model, "service_tier": "default", "system_fingerprint": self.fingerprint,
                     "choices": [] if delta is None else
                     [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        if self.ctx.include_usage:
            obj["usage"] = usage
        obj["obfuscation"] = _rand(self.rng, self.rng.randint(3, 12))
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
        out = [self._chunk({}, "length" if self.ctx.capped else "stop")]
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
    malformed_event = "content_block_delta"

    def __init__(self, ctx: StreamContext) -> None:
        super().__init__(ctx)
        self.id = "msg_01" + _rand(self.rng, 22)
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
            sig = _rand(self.rng, 64, _ALNUM + "+/")
            out.append(self._event("content_block_delta", {"type": "content_block_delta", "index": index,
                                                           "delta": {"type": "signature_delta", "signature": sig}}))
        out.append(self._event("content_block_stop", {"type": "content_block_stop", "index": index}, pad=True))
        self.block = None
        return out

    def opening(self) -> list[bytes]:
        msg = {"id": self.id, "type": "message", "role": "assistant", "model": self.ctx.model, "content": [],
               "stop_reason": None, "stop_sequence": None}
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
                    "delta": {"stop_reason": "max_tokens" if self.ctx.capped else "end_turn", "stop_sequence": None}}
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
    eol = "\r\n"

    def __init__(self, ctx: StreamContext) -> None:
        super().__init__(ctx)
        self.response_id = _rand(self.rng, 23)

    def _chunk(self, part: dict, finish: str | None = None) -> bytes:
        cand: dict = {"content": {"parts": [part], "role": "model"}, "index": 0}
        if finish:
            cand["finishReason"] = finish
        obj: dict = {"candidates": [cand]}
        if self.ctx.usage:
            p, a, r = self.ctx.prompt_tokens, self.answer_tokens, self.reasoning_tokens
            um = {"promptTokenCount": p, "candidatesTokenCount": a, "totalTokenCount": p + a + r}
            if r:
                um["thoughtsTokenCount"] = r
            obj["usageMetadata"] = um
        obj["modelVersion"] = self.ctx.model
        obj["responseId"] = self.response_id
        return sse(gemini_json(obj), eol="\r\n")

    def _reasoning(self, text: str) -> list[bytes]:
        return [self._chunk({"text": text, "thought": True})]

    def _finish_reason(self) -> str:
        self.finish_sent = True
        return "MAX_TOKENS" if self.ctx.capped else "STOP"

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

    def __init__(self, ctx: StreamContext) -> None:
        super().__init__(ctx)
        stamp = datetime.fromtimestamp(ctx.created, timezone.utc).strftime("%Y%m%d%H%M%S")
        self.id = stamp + _rand(self.rng, 16, "0123456789abcdef")

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
        choice = {"finish_reason": "length" if self.ctx.capped else "stop",
                  "delta": {"role": "assistant", "content": ""}}
        return [self._chunk(choice, usage), sse("[DONE]")]

    def error_after(self) -> list[bytes]:
        return [sse(compact({"error": {"code": "1234", "message": f"Network error, error id: {self.id}, "
                                                                  "please contact customer service"}}))]
