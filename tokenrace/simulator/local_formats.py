"""The bytes of self-hosted and home-made servers: llama-cpp-python, Ollama's native NDJSON, and the
origin documents' custom ``/chat`` (cumulative), ``/chat/stream`` and ``/chat/events`` endpoints."""
from __future__ import annotations

import json
from datetime import datetime, timezone

from .formats import MALFORMED, Encoder, StreamContext, _rand, compact, go_json, sse


class LlamaCppEncoder(Encoder):
    """llama-cpp-python: Python ``json.dumps`` defaults (spaces, \\uXXXX), never usage, ``: ping`` comments."""

    wire = "llamacpp"
    content_type = "text/event-stream; charset=utf-8"
    ping_every = 8

    def __init__(self, ctx: StreamContext) -> None:
        super().__init__(ctx)
        h = _rand(self.rng, 32, "0123456789abcdef")
        self.id = f"chatcmpl-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def _chunk(self, delta: dict, finish: str | None = None) -> bytes:
        return sse(json.dumps({"id": self.id, "model": self.ctx.model, "created": self.ctx.created,
                               "object": "chat.completion.chunk",
                               "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}))

    def opening(self) -> list[bytes]:
        return [self._chunk({"role": "assistant"})]

    def _reasoning(self, text: str) -> list[bytes]:
        return [self._chunk({"reasoning_content": text})]

    def _text(self, text: str, last: bool) -> list[bytes]:
        return [self._chunk({"content": text})]

    def finish(self, total_ns: int = 0, eval_ns: int = 0) -> list[bytes]:
        return [self._chunk({}, "length" if self.ctx.capped else "stop"), sse("[DONE]")]

    def error_after(self) -> list[bytes]:
        err = {"message": "llama_decode returned -1", "type": "internal_server_error", "param": None, "code": None}
        return [sse(json.dumps({"error": err})), sse("[DONE]")]

    def ping(self, now: datetime) -> bytes:
        return f": ping - {now}\n\n".encode()


class OllamaEncoder(Encoder):
    """NDJSON, Go-style escapes; usage and durations on the ``done`` object."""

    wire = "ollama"
    content_type = "application/x-ndjson"

    def _created_at(self) -> str:
        now = self.ctx.clock().astimezone(timezone.utc)
        frac = f"{now.microsecond:06d}".rstrip("0")
        return now.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if frac else "") + "Z"

    def _line(self, message: dict, **extra: object) -> bytes:
        obj = {"model": self.ctx.model, "created_at": self._created_at(), "message": message, "done": False, **extra}
        return (go_json(obj) + "\n").encode("utf-8")

    def _reasoning(self, text: str) -> list[bytes]:
        return [self._line({"role": "assistant", "content": "", "thinking": text})]

    def _text(self, text: str, last: bool) -> list[bytes]:
        return [self._line({"role": "assistant", "content": text})]

    def finish(self, total_ns: int = 0, eval_ns: int = 0) -> list[bytes]:
        extra: dict = {"done": True, "done_reason": "length" if self.ctx.capped else "stop"}
        if self.ctx.usage:
            load = 1_334_875
            extra.update(total_duration=total_ns, load_duration=load, prompt_eval_count=self.ctx.prompt_tokens,
                         prompt_eval_duration=max(total_ns - eval_ns - load, 0),
                         eval_count=self.output_tokens, eval_duration=eval_ns)
        return [self._line({"role": "assistant", "content": ""}, **extra)]

    def error_after(self) -> list[bytes]:
        return [(go_json({"error": "an error was encountered while running the model"}) + "\n").encode()]

    def malformed(self) -> list[bytes]:
        return [(MALFORMED + "\n").encode()]


class ChatCumulativeEncoder(Encoder):
    """``POST /chat``: every event's data is the whole answer so far, as plain text; ends by closing."""

    wire = "chat"
    plain_text = True

    def __init__(self, ctx: StreamContext) -> None:
        super().__init__(ctx)
        self.sofar = ""

    def _text(self, text: str, last: bool) -> list[bytes]:
        self.sofar += text
        return [sse(self.sofar)]

    def error_after(self) -> list[bytes]:
        return [sse(json.dumps({"error": "generation failed"}), event="error")]


class ChatStreamEncoder(Encoder):
    """``POST /chat/stream``: ``{"id":"msg_001","content":delta}`` events, then ``[DONE]``."""

    wire = "chat_stream"

    def _text(self, text: str, last: bool) -> list[bytes]:
        return [sse(compact({"id": "msg_001", "content": text}))]

    def finish(self, total_ns: int = 0, eval_ns: int = 0) -> list[bytes]:
        return [sse("[DONE]")]

    def error_after(self) -> list[bytes]:
        return [sse(compact({"error": "generation failed"}))]


class ChatEventsEncoder(Encoder):
    """``POST /chat/events``: ``event: chat`` with plain-text deltas; ends by closing."""

    wire = "chat_events"
    plain_text = True

    def _text(self, text: str, last: bool) -> list[bytes]:
        return [sse(text, event="chat")]

    def error_after(self) -> list[bytes]:
        return [sse(json.dumps({"error": "generation failed"}), event="error")]
