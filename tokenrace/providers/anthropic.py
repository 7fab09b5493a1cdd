"""Anthropic Messages: named events, thinking blocks, usage split over message_start/message_delta."""
from __future__ import annotations

from typing import Any, Iterable

from ..config.models import ProviderConfig
from ..request import ChatRequest
from ..sse import SSEEvent
from .base import Adapter, HTTPRequest, loads, short
from .parts import DONE, Finish, Oddity, Part, Reasoning, StreamError, Text, UsageReport

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 1024   # the API requires max_tokens


class AnthropicAdapter(Adapter):
    kind = "anthropic"
    terminal_hint = "message_stop"

    def __init__(self, cfg: ProviderConfig) -> None:
        super().__init__(cfg)
        self.input_tokens: int | None = None
        self.cached: int | None = None

    def auth_headers(self) -> dict[str, str]:
        h = {"anthropic-version": API_VERSION}
        if self.cfg.api_key:
            h["x-api-key"] = self.cfg.api_key.reveal()
        return h

    def build_request(self, req: ChatRequest, params: dict[str, Any]) -> HTTPRequest:
        params = dict(params)
        if "stop" in params:
            stop = params.pop("stop")
            params["stop_sequences"] = [stop] if isinstance(stop, str) else stop
        body: dict[str, Any] = {"model": self.cfg.model, "messages": req.chat_messages()}
        if (system := req.system()) is not None:
            body["system"] = system
        body["max_tokens"] = DEFAULT_MAX_TOKENS
        body.update(params)
        body["stream"] = True
        return HTTPRequest("POST", self.cfg.base_url + "/v1/messages", self.base_headers(), body)

    def parse_event(self, ev: SSEEvent) -> Iterable[Part]:
        name = ev.event
        if name == "ping":
            return ()
        obj = loads(ev.data)
        if not isinstance(obj, dict):
            return [Oddity(f"skipped a malformed {name} event: {short(ev.data, 80)!r}")]
        kind = obj.get("type", name)
        if kind == "content_block_delta":
            delta = obj.get("delta") or {}
            dtype = delta.get("type")
            if dtype == "text_delta" and delta.get("text"):
                return [Text(delta["text"])]
            if dtype == "thinking_delta" and delta.get("thinking"):
                return [Reasoning(delta["thinking"])]
            return ()
        if kind == "message_start":
            usage = (obj.get("message") or {}).get("usage") or {}
            self.input_tokens, self.cached = _input(usage)
            # its output_tokens is a starting value, not the answer's count
            return [UsageReport(input_tokens=self.input_tokens, cached_input_tokens=self.cached)] \
                if self.input_tokens is not None else ()
        if kind == "message_delta":
            parts: list[Part] = []
            reason = (obj.get("delta") or {}).get("stop_reason")
            if reason:
                parts.append(Finish(reason))
            usage = obj.get("usage") or {}
            if "output_tokens" in usage:
                inp, cached = _input(usage)
                parts.append(UsageReport(output_tokens=usage["output_tokens"], input_tokens=inp or self.input_tokens,
                                         cached_input_tokens=cached if inp else self.cached))
            return parts
        if kind == "message_stop":
            self.completed = True
            return [DONE]
        if kind == "error" or name == "error":
            return [StreamError(self.error_detail(obj) or short(ev.data))]
        return ()


def _input(usage: dict[str, Any]) -> tuple[int | None, int | None]:
    """(every input token, the cached ones): Anthropic counts cache reads and writes apart from input_tokens."""
    base = usage.get("input_tokens")
    if not isinstance(base, int):
        return None, None
    read, write = usage.get("cache_read_input_tokens"), usage.get("cache_creation_input_tokens")
    read = read if isinstance(read, int) else 0
    write = write if isinstance(write, int) else 0
    return base + read + write, read or None
