"""What every simulated wire format shares: the request context, JSON/SSE writers, the Encoder base.

Pure: no I/O, no sleeping. An :class:`Encoder` turns one simulated answer into the events of one
wire format; the server writes every ``bytes`` element it returns on its own.
"""
from __future__ import annotations

import json
import random
import re
import string
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

MALFORMED = '{"choices": [{"delta": {"content": "x"'     # broken JSON, sent by the "malformed" fault
ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
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
    include_usage: bool = False     # openai/azure: the request asked for stream_options.include_usage
    has_reasoning: bool = False     # reasoning chunks come before the answer
    reasoning_visible: bool = True  # openai_responses: a reasoning summary was asked for (else it thinks silently)
    capped: bool = False            # the answer was cut by the request's max tokens
    filtered: bool = False          # the content_filter fault ended the answer
    created: int = 0                # unix seconds
    echo: dict[str, Any] = field(default_factory=dict)   # request fields a format repeats back
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


def rand_str(rng: random.Random, n: int, alphabet: str = ALNUM) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def fmt_seconds(s: float) -> str:
    return str(int(s)) if float(s).is_integer() else f"{s:g}"


class Encoder:
    """Base: counts what was sent; subclasses shape the bytes."""

    wire = ""
    content_type = "text/event-stream"
    eol = "\n"
    default_model = "model"
    reasoning_shape = False        # the format can carry reasoning text (else the plan has none)
    reasoning_counts_in_max = False  # the request's max tokens covers reasoning too (Responses)
    finish_words = ("stop", "length", "content_filter")   # the format's word: normal end, max tokens, filtered
    closes = False                 # the stream ends by closing the connection (Gemini)
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

    def finish_word(self) -> str:
        """This format's finish reason for how the answer ended (filtered, capped, or complete)."""
        normal, capped, filtered = self.finish_words
        return filtered if self.ctx.filtered else capped if self.ctx.capped else normal

    def headers(self) -> dict[str, str]:
        """Response headers of the format beyond Content-Type."""
        return {"Cache-Control": "no-cache"}

    def opening(self) -> list[bytes]:
        """Events sent as soon as the headers are out, before the first content chunk."""
        return []

    def content(self, text: str, tokens: int, *, reasoning: bool = False, last: bool = False) -> list[bytes]:
        """Events for one content chunk (the content-bearing event is the last element); an empty
        list means nothing is sent for it (reasoning the format keeps hidden)."""
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
