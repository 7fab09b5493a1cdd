"""Figures of one stream, from its timestamped events (definitions: README "Metrics").

Pure: no I/O, no clock reads except what the events carry (``live`` takes ``now_ns``).
The one :class:`StreamAccumulator` folds events as they come; live figures and the final
:class:`StreamResult` both come from it, so nothing is computed twice.
"""
from __future__ import annotations

import math
import re
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Protocol, Sequence

from .events import (Failed, Finished, Headers, Notice, ReasoningDelta, Started, StreamEvent,
                     TextDelta, Usage)

NS_PER_MS = 1_000_000


class PriceLike(Protocol):
    """A price (``config.models.Price``): metrics imports nothing from config."""

    def cost(self, input_tokens: int, output_tokens: int, cached_input_tokens: int = 0) -> float: ...


def estimate_tokens(text: str) -> float:
    """A tokenizer-free estimate: ~4 ASCII characters a token, one per CJK character or emoji.

    Additive over pieces (the sum over deltas equals the estimate of the whole), so live
    counts and final counts agree. Used only when the provider reports no usage.
    """
    if text.isascii():
        return len(text) / 4
    # counted with C-level passes, not a Python loop per character (each class is a multiple of
    # 0.25, so the float sum is exact and equals the per-character sum)
    total = len(text)
    ascii_n = len(text.encode("ascii", "ignore"))
    rest = _WIDE.sub("", text)
    wide = total - len(rest)
    silent = len(rest) - len(_SILENT.sub("", rest))
    return ascii_n * 0.25 + wide * 1.0 + (total - ascii_n - wide - silent) * 0.5


# one token each: CJK, Hangul, CJK compatibility, emoji; none: variation selectors, skin tones, joiners
# (they ride on the emoji before them). Compiled at import (a few ms), never in the middle of a stream.
_WIDE = re.compile("[\u2E80-\u9FFF\uAC00-\uD7AF\uF900-\uFAFF\U0001F000-\U0001FAFF]")
_SILENT = re.compile("[\uFE00-\uFE0F\U0001F3FB-\U0001F3FF\u200D]")


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default); q in [0, 100]."""
    if not sorted_values:
        return None
    if len(sorted_values) == 1:
        return float(sorted_values[0])
    pos = (len(sorted_values) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def distribution(values: Iterable[float], qs: Sequence[int] = (50, 90, 99)) -> dict[str, float | None]:
    """p50/p90/p99/max/mean of a list of figures (None where empty)."""
    v = sorted(values)
    out: dict[str, float | None] = {f"p{q}": _r(percentile(v, q)) for q in qs}
    out["max"] = _r(v[-1]) if v else None
    out["mean"] = _r(sum(v) / len(v)) if v else None
    return out


def summarize(values: Iterable[float]) -> dict[str, float | int | None]:
    """Aggregates for benchmarks: count, mean, min, p50, p90, p95, p99, max, stdev."""
    v = sorted(x for x in values if x is not None)
    out: dict[str, float | int | None] = {"count": len(v)}
    out["mean"] = _r(sum(v) / len(v)) if v else None
    out["min"] = _r(v[0]) if v else None
    for q in (50, 90, 95, 99):
        out[f"p{q}"] = _r(percentile(v, q))
    out["max"] = _r(v[-1]) if v else None
    out["stdev"] = _r(statistics.stdev(v)) if len(v) > 1 else (0.0 if v else None)
    return out


def _r(x: float | None, nd: int = 3) -> float | None:
    return None if x is None else round(float(x), nd)


def _ms(a: int | None, b: int | None) -> float | None:
    return None if a is None or b is None else _r((b - a) / NS_PER_MS)


@dataclass
class StreamResult:
    """The figures of one stream; ``to_dict`` is the ``tokenrace run --json`` result object."""

    provider: str
    model: str
    status: str                       # ok | error | truncated | cancelled
    text: str
    reasoning: str
    error: str | None
    error_kind: str | None
    http_status: int | None
    finish_reason: str | None
    ttfb_ms: float | None
    ttft_ms: float | None
    ttft_any_ms: float | None
    e2e_ms: float | None              # None when no request was sent or the stream has no end
    queue_ms: float | None
    connect_ms: float | None
    reused: bool | None
    attempts: int
    output_tokens: int | None
    input_tokens: int | None
    reasoning_tokens: int | None
    token_source: str                 # usage | estimate
    tokens_per_s: float | None
    tpot_ms: float | None
    itl_ms: dict[str, float | None]
    chunks: int
    tokens_per_chunk: float | None
    notices: list[str] = field(default_factory=list)
    cached_input_tokens: int | None = None
    cost_usd: float | None = None         # None without a price, or with no token count at all
    cost_estimated: bool | None = None    # True when the cost rests on estimated token counts

    def to_dict(self) -> dict[str, Any]:
        # as asdict() gives it (fresh list and dict), without its recursive deep copy of every value
        d = {name: getattr(self, name) for name in _RESULT_FIELDS}
        d["itl_ms"], d["notices"] = dict(self.itl_ms), list(self.notices)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "StreamResult":
        names = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in names})


_RESULT_FIELDS = tuple(StreamResult.__dataclass_fields__)


@dataclass
class LiveFigures:
    """What a UI shows while the stream runs (the ``metrics`` SSE event)."""

    provider: str
    status: str                       # waiting | streaming | ok | error | truncated | cancelled
    elapsed_ms: float
    ttft_ms: float | None
    tokens: int
    tokens_per_s: float | None
    token_source: str = "estimate"    # usage | estimate: an estimate is shown with a "~"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class StreamAccumulator:
    """Folds one stream's events; O(1) per event, so it can run in the read loop."""

    # perf_counter_ns moments and reported counts, None until their event arrives
    t_queued: int | None
    t_sent: int | None
    t_send_start: int | None
    t_headers: int | None
    t_first: int | None
    t_first_any: int | None
    t_last: int | None
    t_end: int | None
    input_tokens: int | None
    output_tokens: int | None
    reasoning_tokens: int | None

    def __init__(self, provider: str, model: str = "", *, price: PriceLike | None = None,
                 prompt_tokens_estimate: float | None = None) -> None:
        self.provider, self.model = provider, model
        self.price = price                                # USD per million tokens, for cost_usd
        self.prompt_estimate = prompt_tokens_estimate     # when the provider reports no input count
        self.text_parts: list[str] = []
        self.reasoning_parts: list[str] = []
        self.t_queued = self.t_sent = self.t_send_start = self.t_headers = None
        self.t_first = self.t_first_any = self.t_last = self.t_end = None
        self.connect_ns: int | None = None
        self.reused: bool | None = None
        self.attempts = 0
        self.http_status: int | None = None
        self.chunk_times: list[int] = []   # distinct arrival times of output-carrying chunks
        # token estimates, counted when asked for (most providers report usage: then never)
        self._est_text = self._est_reasoning = 0.0
        self._est_n_text = self._est_n_reasoning = 0
        self.input_tokens = self.output_tokens = self.reasoning_tokens = None
        self.cached_input_tokens: int | None = None
        self.reasoning_included = True
        self.status: str = "waiting"
        self.finish_reason: str | None = None
        self.error: str | None = None
        self.error_kind: str | None = None
        self.notices: list[str] = []
        self.t_first_event: int | None = None

    def add(self, ev: StreamEvent) -> None:
        if self.t_first_event is None:
            self.t_first_event = ev.t_ns
        cls = type(ev)                   # the read loop's path: one type test per kind, deltas first
        if cls is TextDelta or cls is ReasoningDelta:
            text = ev.text               # type: ignore[union-attr]
            if not text:
                return
            t = ev.t_ns
            if cls is TextDelta:
                self.text_parts.append(text)
                if self.t_first is None:
                    self.t_first = t
            else:
                self.reasoning_parts.append(text)
            if self.t_first_any is None:
                self.t_first_any = t
                self.status = "streaming"
            ct = self.chunk_times
            if not ct or ct[-1] != t:
                ct.append(t)
            self.t_last = t
        elif isinstance(ev, Usage):
            for name in ("input_tokens", "output_tokens", "reasoning_tokens", "cached_input_tokens"):
                v = getattr(ev, name)
                if v is not None:
                    setattr(self, name, v)
            self.reasoning_included = ev.reasoning_included
        elif isinstance(ev, Started):
            self.model = ev.model or self.model
            self.t_sent, self.t_queued, self.t_send_start = ev.t_ns, ev.t_queued_ns, ev.t_send_start_ns
            self.connect_ns, self.reused, self.attempts = ev.connect_ns, ev.reused, ev.attempt
        elif isinstance(ev, Headers):
            self.t_headers, self.http_status = ev.t_ns, ev.status
        elif isinstance(ev, Notice):
            self.notices.append(ev.message)
        elif isinstance(ev, Finished):
            self.t_end, self.status, self.finish_reason = ev.t_ns, ev.status, ev.reason
            if ev.status == "truncated":
                self.error = f"{self.provider}: the stream ended before its terminal event (truncated); text so far kept"
                self.error_kind = "truncated"
            elif ev.status == "cancelled":
                self.error, self.error_kind = f"{self.provider}: cancelled", "cancelled"
        elif isinstance(ev, Failed):
            self.t_end, self.status = ev.t_ns, "error"
            self.attempts = max(self.attempts, ev.attempt)
            self.error, self.error_kind = ev.message, ev.kind
            if ev.http_status is not None:
                self.http_status = ev.http_status

    @property
    def est_reasoning(self) -> float:
        """Estimated tokens of the reasoning text that was streamed."""
        parts = self.reasoning_parts
        if self._est_n_reasoning < len(parts):       # additive: count only what came since
            self._est_reasoning += estimate_tokens("".join(parts[self._est_n_reasoning:]))
            self._est_n_reasoning = len(parts)
        return self._est_reasoning

    @property
    def est_tokens(self) -> float:
        """Estimated tokens of everything streamed (answer and reasoning)."""
        parts = self.text_parts
        if self._est_n_text < len(parts):
            self._est_text += estimate_tokens("".join(parts[self._est_n_text:]))
            self._est_n_text = len(parts)
        return self._est_text + self.est_reasoning

    # -- figures ---------------------------------------------------------------------------
    @property
    def text(self) -> str:
        return "".join(self.text_parts)

    @property
    def reasoning(self) -> str:
        return "".join(self.reasoning_parts)

    def tokens(self) -> tuple[int, str]:
        """(generated tokens, source): the provider's usage, else the estimate."""
        if self.output_tokens is not None:
            n = self.output_tokens
            if not self.reasoning_included and self.reasoning_tokens:
                n += self.reasoning_tokens
            return n, "usage"
        return round(self.est_tokens), "estimate"

    def reasoning_hidden(self) -> bool:
        """The provider counts far more reasoning tokens than the reasoning text it streamed: the model
        thought out of sight (OpenAI's reasoning models) or showed only a summary, before the answer."""
        return bool(self.reasoning_tokens) and self.output_tokens is not None and \
            (self.reasoning_tokens or 0) > 1.5 * self.est_reasoning + 8

    def _rate(self, tokens: int) -> float | None:
        start = self.t_first_any
        if self.reasoning_hidden():
            # those tokens were generated before anything streamed: counting them in the window would
            # inflate the speed; it is the answer's, from its first token
            tokens -= self.reasoning_tokens or 0
            start = self.t_first
        if tokens < 2 or start is None or self.t_last is None or self.t_last <= start:
            return None
        return (tokens - 1) / ((self.t_last - start) / 1e9)

    def cost(self) -> tuple[float | None, bool | None]:
        """(USD, rests on an estimate?) for the tokens generated and read; (None, None) without a price
        or with nothing to count (no output and no usage)."""
        if self.price is None or (self.t_first_any is None and self.output_tokens is None):
            return None, None
        generated, source = self.tokens()     # reasoning tokens are billed as output
        estimated = source == "estimate"
        inp: float | None = self.input_tokens
        if inp is None:
            inp, estimated = self.prompt_estimate, True
        if inp is None:
            return None, None
        usd = self.price.cost(round(inp), generated, self.cached_input_tokens or 0)
        return round(usd, 8), estimated

    def itl_gaps_ms(self) -> list[float]:
        """Gaps between consecutive output-carrying chunks, in ms (the ITL samples)."""
        ct = self.chunk_times
        return [(b - a) / NS_PER_MS for a, b in zip(ct, ct[1:])]

    def live(self, now_ns: int) -> LiveFigures:
        start = self.t_sent or self.t_first_event or now_ns
        end = self.t_end or now_ns
        generated, source = self.tokens()
        # shown as the final result will count them (Gemini's output excludes thoughts), so a
        # count never drops at the end; the rate counts every generated token
        shown = self.output_tokens if self.output_tokens is not None else generated
        return LiveFigures(self.provider, self.status, _r((end - start) / NS_PER_MS) or 0.0,
                           _ms(self.t_sent, self.t_first), shown, _r(self._rate(generated), 2), source)

    def result(self) -> StreamResult:
        gen_tokens, source = self.tokens()
        cost, cost_estimated = self.cost()
        has_output = self.t_first_any is not None
        output_tokens = (self.output_tokens if source == "usage" else gen_tokens) if (has_output or source == "usage") else None
        rate = self._rate(gen_tokens)
        tpot = None
        if rate:
            tpot = _r(1000 / rate)
        gaps = self.itl_gaps_ms()
        queue = None
        if self.t_queued is not None and self.t_send_start:
            queue = _r(max(0, self.t_send_start - self.t_queued - (self.connect_ns or 0)) / NS_PER_MS)
        e2e = _ms(self.t_sent, self.t_end)      # None when nothing was sent, or nothing ended
        status = self.status if self.status in ("ok", "error", "truncated", "cancelled") else "error"
        error = self.error
        if status == "error" and error is None:
            error = f"{self.provider}: the stream ended without a result"
        return StreamResult(
            provider=self.provider, model=self.model, status=status,
            text=self.text, reasoning=self.reasoning, error=error, error_kind=self.error_kind,
            http_status=self.http_status, finish_reason=self.finish_reason,
            ttfb_ms=_ms(self.t_sent, self.t_headers), ttft_ms=_ms(self.t_sent, self.t_first),
            ttft_any_ms=_ms(self.t_sent, self.t_first_any), e2e_ms=e2e,
            queue_ms=queue, connect_ms=_r((self.connect_ns or 0) / NS_PER_MS) if self.t_sent else None,
            reused=self.reused, attempts=self.attempts,
            output_tokens=output_tokens, input_tokens=self.input_tokens,
            reasoning_tokens=self.reasoning_tokens, token_source=source,
            tokens_per_s=_r(rate, 2), tpot_ms=tpot, itl_ms=distribution(gaps),
            chunks=len(self.chunk_times),
            tokens_per_chunk=_r(gen_tokens / len(self.chunk_times), 2) if self.chunk_times and gen_tokens else None,
            notices=list(self.notices),
            cached_input_tokens=self.cached_input_tokens, cost_usd=cost, cost_estimated=cost_estimated,
        )


def compute(events: Iterable[StreamEvent], provider: str | None = None) -> StreamResult:
    """The figures of one stream from its complete event list."""
    events = list(events)
    acc = StreamAccumulator(provider or (events[0].provider if events else "?"))
    for ev in events:
        acc.add(ev)
    return acc.result()
