"""The adapter protocol and what every adapter shares: error text, retry hints, JSON helpers.

An adapter is made per stream (it may keep state, e.g. Anthropic's content blocks or a
cumulative endpoint's text so far). It knows the wire format only: building the request
and turning each decoded wire event into *parts*. ``stream.py`` owns the I/O and timing.

Parts are the typed named tuples of ``parts.py`` (Text, Reasoning, UsageReport, Finish, DONE,
StreamError, Oddity), cheap on the hot path.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, ClassVar, Iterable, Literal, Mapping

import orjson

from ..config.models import ProviderConfig
from ..eventstream import Message
from ..request import ChatRequest
from ..sse import SSEEvent
from .parts import DONE, Finish, Oddity, Part, Reasoning, StreamError, Text, UsageReport

GENERIC_PARAMS = ("max_tokens", "temperature", "top_p", "stop")


@dataclass
class HTTPRequest:
    method: str
    url: str
    headers: dict[str, str]
    json: Any = None
    accept: str = "text/event-stream"
    encoded: bool = False          # the URL is already percent-encoded: send it byte for byte (a signed path)


def loads(data: str) -> Any | None:
    """Parse JSON; None when it is not JSON (the caller reports a notice).

    orjson first (the hot path: every chunk's payload), the standard library for what orjson refuses
    and ``json`` accepts (NaN, Infinity, lone surrogates), so a payload parses as it always did. One
    difference stays: an integer beyond 64 bits comes back as a float.
    """
    try:
        return _fast_loads(data)
    except ValueError:
        pass
    try:
        return json.loads(data)
    except ValueError:
        return None


_fast_loads = orjson.loads


def obj_of(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one (providers' JSON is not to be trusted)."""
    return value if isinstance(value, dict) else {}


def dig(obj: Any, path: str) -> Any:
    """Follow a dotted path such as ``choices.0.delta.content`` (numbers index lists).

    ``*`` takes every element of a list (or value of a mapping) and the rest of the path in each:
    ``content.*.text`` gives the list of every part's text (parts without one are left out).
    """
    keys = path.split(".")
    for i, key in enumerate(keys):
        if key == "*":
            items = obj if isinstance(obj, list) else list(obj.values()) if isinstance(obj, dict) else []
            rest = ".".join(keys[i + 1:])
            found = [dig(x, rest) if rest else x for x in items]
            return [x for x in found if x is not None]
        if isinstance(obj, list):
            try:
                obj = obj[int(key)]
            except (ValueError, IndexError):
                return None
        elif isinstance(obj, dict):
            obj = obj.get(key)
        else:
            return None
        if obj is None:
            return None
    return obj


def short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds; HTTP dates are ignored)."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    s = headers.get("retry-after")
    if s:
        try:
            v = float(s)
            return v if math.isfinite(v) and v >= 0 else None
        except ValueError:
            return None
    return None


def merge_params(cfg: ProviderConfig, defaults: Mapping[str, Any], req: ChatRequest) -> dict[str, Any]:
    """defaults.params < provider.params < the run's own params; a ``None`` stays, meaning "leave it out"
    (the adapters never send it, and :func:`drop_nulls` takes a body default away with it)."""
    out = dict(defaults)
    out.update(cfg.params)
    out.update(req.params)
    return out


def drop_nulls(params: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """(the params to send, the names set to null: body keys to remove, e.g. ``stream_options: null``)."""
    return {k: v for k, v in params.items() if v is not None}, {k for k, v in params.items() if v is None}


def nest_params(body: dict[str, Any], params: Mapping[str, Any], names: Mapping[str, str], key: str) -> None:
    """Put generic params under ``body[key]`` with their wire names (Gemini ``generationConfig``,
    Ollama ``options``); a ``key`` mapping in params merges in as written; the rest goes top-level."""
    nested: dict[str, Any] = {}
    for k, v in params.items():
        if k in names:
            nested[names[k]] = v
        elif k == key and isinstance(v, dict):
            nested.update(v)
        else:
            body[k] = v
    if nested:
        body[key] = nested


class Adapter:
    """Base class. Subclasses set ``kind`` and ``framing`` and implement the four hooks."""

    kind: ClassVar[str] = ""
    framing: ClassVar[Literal["sse", "ndjson", "eventstream"]] = "sse"
    terminal_hint: str = "its terminal event"   # for "truncated" messages

    def __init__(self, cfg: ProviderConfig) -> None:
        self.cfg = cfg
        self.completed = False          # the provider's own terminal event was seen
        self.finish_reason: str | None = None

    # -- request ---------------------------------------------------------------------------
    def build_request(self, req: ChatRequest, params: dict[str, Any]) -> HTTPRequest:
        raise NotImplementedError

    def auth_headers(self) -> dict[str, str]:
        return {}

    def base_headers(self) -> dict[str, str]:
        h = {"Content-Type": "application/json"}
        h.update(self.auth_headers())
        h.update(self.cfg.headers)
        return h

    # -- response --------------------------------------------------------------------------
    def parse_event(self, ev: SSEEvent) -> Iterable[Part]:
        raise NotImplementedError

    def parse_line(self, line: str) -> Iterable[Part]:
        raise NotImplementedError

    def parse_message(self, msg: Message) -> Iterable[Part]:
        """One AWS event-stream frame (framing ``eventstream``)."""
        raise NotImplementedError

    def sign(self, method: str, url: str, headers: dict[str, str], body: bytes | None) -> dict[str, str]:
        """The headers to send, given the exact body bytes (request signing, e.g. SigV4); as they are by default."""
        return headers

    def http_error(self, status: int, body: str, headers: Mapping[str, str]) -> tuple[str, float | None]:
        """(message without the provider name, retry-after seconds) for a non-2xx answer."""
        retry = parse_retry_after(headers)
        data = loads(body) if body else None
        detail = self.error_detail(data) if data is not None else None
        if not detail:
            detail = short(body) if body.strip() else _REASONS.get(status, "no error text")
        return f"{status} {detail}", retry

    def error_detail(self, data: Any) -> str | None:
        """The provider's own error text from a JSON error body (or an error event)."""
        err = data.get("error") if isinstance(data, dict) else None
        if isinstance(err, str):
            return err
        if isinstance(err, dict):
            label = err.get("type") or err.get("status") or err.get("code")
            msg = err.get("message") or ""
            return f"{label}: {msg}" if label and msg else str(msg or label or "")
        return None


_REASONS = {400: "bad request", 401: "unauthorized (check the API key)", 403: "forbidden",
            404: "not found (check base_url and model)", 408: "request timeout",
            429: "rate limited", 500: "internal server error", 502: "bad gateway",
            503: "service unavailable", 504: "gateway timeout", 529: "overloaded"}


class OpenAIChunks(Adapter):
    """Parsing shared by OpenAI Chat Completions and everything that copies it (Zhipu too)."""

    def openai_parts(self, ev: SSEEvent) -> list[Part]:
        data = ev.data
        if data == "[DONE]":
            self.completed = True
            return [DONE]
        obj = loads(data)
        if not isinstance(obj, dict):
            return [Oddity(f"skipped a malformed chunk: {short(data, 80)!r}")]
        if "error" in obj and not obj.get("choices"):
            return [StreamError(self.error_detail(obj) or short(data))]
        parts: list[Part] = []
        for choice in obj.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            r = delta.get("reasoning")
            if r is None:
                r = delta.get("reasoning_content")
            if r:
                parts.append(Reasoning(r))
            c = delta.get("content")
            if c:
                parts.append(Text(c))
            fr = choice.get("finish_reason")
            if fr:
                parts.append(Finish(fr))
        usage = obj.get("usage")
        if isinstance(usage, dict):
            details = usage.get("completion_tokens_details") or {}
            prompt = usage.get("prompt_tokens_details") or {}
            parts.append(UsageReport(
                input_tokens=usage.get("prompt_tokens"), output_tokens=usage.get("completion_tokens"),
                reasoning_tokens=details.get("reasoning_tokens") if isinstance(details, dict) else None,
                cached_input_tokens=prompt.get("cached_tokens") if isinstance(prompt, dict) else None))
        return parts
