"""The simulator's ground truth: what it really sent for each request, and when."""
from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass
class ChunkTruth:
    t_ns: int           # perf_counter_ns() right after the chunk's bytes were written
    text: str           # answer text in this chunk ("" if none)
    reasoning: str      # reasoning text in this chunk
    tokens: int         # tokens in this chunk (answer + reasoning)


@dataclass
class RequestTruth:
    """What the simulator really did for one request."""

    request_id: str                 # also the response header x-sim-request-id
    profile: str
    wire: str                       # a key of encoders.ENCODERS (openai, azure, bedrock, chatglm, ...)
    t_received_ns: int              # request (headers + body) fully received, before any sleep
    status: int = 0
    chunks: list[ChunkTruth] = field(default_factory=list)
    t_end_ns: int | None = None
    text: str = ""
    reasoning: str = ""
    output_tokens: int = 0          # answer tokens sent
    reasoning_tokens: int = 0       # reasoning tokens spent (sent, or hidden where the format keeps them silent)
    fault: str | None = None        # the fault kind applied to this request, if any
    done: bool = False              # the response is complete (or the client went away)
    prompt: str = ""
    history: list[tuple[str, str]] = field(default_factory=list)   # (role, text) of every message received
    max_tokens: int | None = None
    finish_reason: str | None = None    # "stop" | "length" | "content_filter" when the stream ended properly
    outcome: str = "pending"        # ok|http_error|bad_request|unauthorized|error_after|truncated|client_gone|stopped
    t_headers_ns: int | None = None
    finished: asyncio.Event = field(default_factory=asyncio.Event, repr=False, compare=False)

    @property
    def ttft_ns(self) -> int | None:
        """First chunk with answer text, from t_received."""
        return next((c.t_ns - self.t_received_ns for c in self.chunks if c.text), None)

    @property
    def ttft_any_ns(self) -> int | None:
        """First chunk with any content (reasoning included), from t_received."""
        return next((c.t_ns - self.t_received_ns for c in self.chunks if c.tokens), None)

    @property
    def itl_ns(self) -> list[int]:
        """Gaps between consecutive content chunks."""
        ts = [c.t_ns for c in self.chunks if c.tokens]
        return [b - a for a, b in zip(ts, ts[1:])]

    def _finish(self) -> None:
        if not self.done:
            self.t_end_ns = time.perf_counter_ns()
            self.done = True
            self.finished.set()

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("finished", "chunks")}
        d["chunks"] = [asdict(c) for c in self.chunks]
        d.update(ttft_ns=self.ttft_ns, ttft_any_ns=self.ttft_any_ns, itl_ns=self.itl_ns)
        return d
