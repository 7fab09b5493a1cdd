"""The bytes of AWS Bedrock ConverseStream: binary ``application/vnd.amazon.eventstream`` frames.

Each event is one frame (headers ``:event-type``, ``:content-type``, ``:message-type``, in that
order, as in ``fixtures/streams/bedrock_*.bin``) whose payload is the bare event object as compact
JSON, padded with a ``p`` key of filler letters like real captures. Faults after the 200 are
exception frames. Pure: no I/O.
"""
from __future__ import annotations

import uuid
from typing import Any

from ..eventstream import encode_message
from .base import MALFORMED, Encoder, StreamContext, compact

_PAD = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
CONTENT_TYPE = "application/vnd.amazon.eventstream"


def event_frame(event_type: str, payload: bytes) -> bytes:
    return encode_message({":event-type": event_type, ":content-type": "application/json",
                           ":message-type": "event"}, payload)


def exception_frame(exception_type: str, payload: dict[str, Any]) -> bytes:
    return encode_message({":exception-type": exception_type, ":content-type": "application/json",
                           ":message-type": "exception"}, compact(payload).encode("utf-8"))


class BedrockEncoder(Encoder):
    """messageStart, contentBlockDelta (reasoningContent text, then a signature and contentBlockStop; then
    text at the next block index), contentBlockStop, messageStop (stopReason), metadata (usage, metrics)."""

    wire = "bedrock"
    content_type = CONTENT_TYPE
    default_model = "anthropic.claude-sonnet-4-5-20250929-v1:0"
    reasoning_shape = True
    finish_words = ("end_turn", "max_tokens", "content_filtered")

    def __init__(self, ctx: StreamContext) -> None:
        super().__init__(ctx)
        self.block: tuple[int, str] | None = None      # (index, "reasoning" | "text") of the open block
        self.request_uuid = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def headers(self) -> dict[str, str]:
        return {"x-amzn-RequestId": self.request_uuid}

    def _event(self, event_type: str, payload: dict[str, Any]) -> bytes:
        padded = {**payload, "p": _PAD[:self.rng.randint(1, len(_PAD))]}
        return event_frame(event_type, compact(padded).encode("utf-8"))

    def _close(self) -> list[bytes]:
        if self.block is None or self.block[1] == "closed":
            return []
        index, kind = self.block
        out = []
        if kind == "reasoning":
            sig = "".join(self.rng.choice(_PAD + "+/") for _ in range(88))
            out.append(self._event("contentBlockDelta", {"contentBlockIndex": index,
                                                         "delta": {"reasoningContent": {"signature": sig}}}))
        self.block = (index, "closed")
        return out + [self._event("contentBlockStop", {"contentBlockIndex": index})]

    def _delta(self, kind: str, delta: dict[str, Any]) -> list[bytes]:
        out: list[bytes] = []
        if self.block is None or self.block[1] != kind:
            index = 0 if self.block is None else self.block[0] + 1
            out += self._close()
            self.block = (index, kind)
        return out + [self._event("contentBlockDelta", {"contentBlockIndex": self.block[0], "delta": delta})]

    def opening(self) -> list[bytes]:
        return [self._event("messageStart", {"role": "assistant"})]

    def _reasoning(self, text: str) -> list[bytes]:
        return self._delta("reasoning", {"reasoningContent": {"text": text}})

    def _text(self, text: str, last: bool) -> list[bytes]:
        return self._delta("text", {"text": text})

    def finish(self, total_ns: int = 0, eval_ns: int = 0) -> list[bytes]:
        p, n = self.ctx.prompt_tokens, self.output_tokens
        meta = {"usage": {"inputTokens": p, "outputTokens": n, "totalTokens": p + n},
                "metrics": {"latencyMs": total_ns // 1_000_000}}
        return self._close() + [self._event("messageStop", {"stopReason": self.finish_word()}),
                                self._event("metadata", meta)]

    def error_after(self) -> list[bytes]:
        return [exception_frame("throttlingException", {"message": "Too many tokens, please wait before trying again."})]

    def malformed(self) -> list[bytes]:
        """A well-framed event (both CRCs right) whose JSON payload is broken."""
        return [event_frame("contentBlockDelta", MALFORMED.encode("utf-8"))]
