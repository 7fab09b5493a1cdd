"""Cohere v2 Chat: ``POST {base}/v2/chat``, named events, ``message-end`` ends the stream.

Text in ``content-delta`` (``delta.message.content.text``, or ``.thinking`` for reasoning);
``message-end`` carries the finish reason (``ERROR`` with ``delta.error`` is an error) and usage, of
which ``tokens`` is what the model processed (``billed_units`` leaves out the default preamble). A
``data: [DONE]`` may follow ``message-end``: it is never parsed.
"""
from __future__ import annotations

from typing import Any, Iterable

from ..request import ChatRequest
from ..sse import SSEEvent
from .base import Adapter, HTTPRequest, loads, obj_of, short
from .parts import DONE, Finish, Oddity, Part, Reasoning, StreamError, Text, UsageReport

_RENAMED = {"top_p": "p", "stop": "stop_sequences"}


class CohereAdapter(Adapter):
    kind = "cohere"
    terminal_hint = "message-end"

    def auth_headers(self) -> dict[str, str]:
        key = self.cfg.api_key
        return {"Authorization": f"Bearer {key.reveal()}"} if key else {}

    def build_request(self, req: ChatRequest, params: dict[str, Any]) -> HTTPRequest:
        body: dict[str, Any] = {"model": self.cfg.model, "messages": [dict(m) for m in req.messages]}
        for k, v in params.items():
            if k == "stop" and isinstance(v, str):
                v = [v]
            body[_RENAMED.get(k, k)] = v
        body["stream"] = True
        return HTTPRequest("POST", self.cfg.base_url + "/v2/chat", self.base_headers(), body)

    def parse_event(self, ev: SSEEvent) -> Iterable[Part]:
        if ev.data == "[DONE]":
            return ()
        obj = loads(ev.data)
        if not isinstance(obj, dict):
            return [Oddity(f"skipped a malformed {ev.event} event: {short(ev.data, 80)!r}")]
        kind = obj.get("type") or ev.event
        delta = obj_of(obj.get("delta"))
        if kind == "content-delta":
            content = ((delta.get("message") or {}).get("content")) or {}
            if isinstance(content, dict):
                if isinstance(text := content.get("text"), str) and text:
                    return [Text(text)]
                if isinstance(thinking := content.get("thinking"), str) and thinking:
                    return [Reasoning(thinking)]
            return ()
        if kind == "message-end":
            reason = str(delta.get("finish_reason") or "")
            if reason == "ERROR":
                return [StreamError(str(delta.get("error") or "the model reported an error"))]
            parts: list[Part] = []
            usage = obj_of(delta.get("usage"))
            counts = usage.get("tokens") or usage.get("billed_units")
            if isinstance(counts, dict):
                cached = usage.get("cached_tokens")
                parts.append(UsageReport(input_tokens=counts.get("input_tokens"),
                                         output_tokens=counts.get("output_tokens"),
                                         cached_input_tokens=cached if isinstance(cached, int) else None))
            if reason:
                parts.append(Finish(reason))
            self.completed = True
            parts.append(DONE)
            return parts
        return ()

    def error_detail(self, data: Any) -> str | None:
        message = data.get("message") if isinstance(data, dict) else None
        if isinstance(message, str):
            return message
        return super().error_detail(data)
