"""The bytes of self-hosted and home-made servers: llama-cpp-python, Ollama's native NDJSON, and the
origin documents' custom endpoints: ``/chat`` (cumulative plain text), ``/chat/stream``, ``/chat/events``,
a ChatGLM-style ``/chatglm/chat`` (cumulative JSON strings, sse-starlette framing) and a Go gin relay
(``GET /gin/chat?question=``, gin-contrib/sse framing)."""
from __future__ import annotations

import json
from datetime import datetime, timezone

from .base import HEX, MALFORMED, Encoder, StreamContext, compact, go_json, rand_str, sse


class LlamaCppEncoder(Encoder):
    """llama-cpp-python: Python ``json.dumps`` defaults (spaces, \\uXXXX), never usage, ``: ping`` comments."""

    wire = "llamacpp"
    content_type = "text/event-stream; charset=utf-8"
    default_model = "smollm2"
    reasoning_shape = True
    finish_words = ("stop", "length", "stop")
    ping_every = 8

    def __init__(self, ctx: StreamContext) -> None:
        super().__init__(ctx)
        h = rand_str(self.rng, 32, HEX)
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
        return [self._chunk({}, self.finish_word()), sse("[DONE]")]

    def error_after(self) -> list[bytes]:
        err = {"message": "llama_decode returned -1", "type": "internal_server_error", "param": None, "code": None}
        return [sse(json.dumps({"error": err})), sse("[DONE]")]

    def ping(self, now: datetime) -> bytes:
        return f": ping - {now}\n\n".encode()


class OllamaEncoder(Encoder):
    """NDJSON, Go-style escapes; usage and durations on the ``done`` object."""

    wire = "ollama"
    content_type = "application/x-ndjson"
    default_model = "llama3.2"
    reasoning_shape = True
    finish_words = ("stop", "length", "stop")

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
        extra: dict = {"done": True, "done_reason": self.finish_word()}
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


class ChatGLMEncoder(Encoder):
    """ChatGLM-style ``POST /chatglm/chat``: each event's data is the whole answer so far as a JSON string
    (``data: "你好"``), written by sse-starlette: CRLF line ends, starlette's ``; charset=utf-8``."""

    wire = "chatglm"
    content_type = "text/event-stream; charset=utf-8"
    eol = "\r\n"

    def __init__(self, ctx: StreamContext) -> None:
        super().__init__(ctx)
        self.sofar = ""

    def headers(self) -> dict[str, str]:
        return {"Cache-Control": "no-store", "Connection": "keep-alive", "X-Accel-Buffering": "no"}

    def _text(self, text: str, last: bool) -> list[bytes]:
        self.sofar += text
        return [sse(json.dumps(self.sofar, ensure_ascii=False), eol=self.eol)]

    def error_after(self) -> list[bytes]:
        return [sse(json.dumps({"error": "generation failed"}), event="error", eol=self.eol)]


def gin_event(event: str, data: str) -> bytes:
    """gin-contrib/sse ``Encode`` of a string: LF in data starts another ``data:`` line, CR becomes ``\\r``."""
    data = data.replace("\n", "\ndata: ").replace("\r", "\\r")
    return f"event: {event}\ndata: {data}\n\n".encode("utf-8")


class GinRelayEncoder(Encoder):
    """A Go gin relay, ``GET /gin/chat?question=...``: ``c.SSEvent("chat", delta)`` per chunk, then the
    handler returns (a clean end of the chunked body, no ``[DONE]``)."""

    wire = "gin_relay"
    content_type = "text/event-stream;charset=utf-8"
    plain_text = True

    def _text(self, text: str, last: bool) -> list[bytes]:
        return [gin_event("chat", text)]

    def error_after(self) -> list[bytes]:
        return [gin_event("error", "upstream error: stream closed unexpectedly")]
