"""Ollama's native ``/api/chat``: NDJSON, one object per line, the last has ``done: true``."""
from __future__ import annotations

from typing import Any, Iterable

from ..request import ChatRequest
from .base import Adapter, HTTPRequest, loads, nest_params, short
from .parts import DONE, Finish, Oddity, Part, Reasoning, StreamError, Text, UsageReport

_OPTION_KEYS = {"max_tokens": "num_predict", "temperature": "temperature", "top_p": "top_p",
                "top_k": "top_k", "stop": "stop", "seed": "seed"}


class OllamaAdapter(Adapter):
    kind = "ollama"
    framing = "ndjson"
    terminal_hint = 'an object with "done": true'

    def auth_headers(self) -> dict[str, str]:
        # a bare Ollama needs no key; one behind a proxy may
        return {"Authorization": f"Bearer {self.cfg.api_key.reveal()}"} if self.cfg.api_key else {}

    def build_request(self, req: ChatRequest, params: dict[str, Any]) -> HTTPRequest:
        body: dict[str, Any] = {"model": self.cfg.model, "messages": [dict(m) for m in req.messages]}
        nest_params(body, params, _OPTION_KEYS, "options")
        body["stream"] = True
        return HTTPRequest("POST", self.cfg.base_url + "/api/chat", self.base_headers(), body,
                           accept="application/x-ndjson")

    def parse_line(self, line: str) -> Iterable[Part]:
        obj = loads(line)
        if not isinstance(obj, dict):
            return [Oddity(f"skipped a malformed line: {short(line, 80)!r}")]
        if "error" in obj:
            return [StreamError(str(obj["error"]))]
        parts: list[Part] = []
        msg = obj.get("message") or {}
        if msg.get("thinking"):
            parts.append(Reasoning(msg["thinking"]))
        if msg.get("content"):
            parts.append(Text(msg["content"]))
        if obj.get("done"):
            parts.append(UsageReport(input_tokens=obj.get("prompt_eval_count"), output_tokens=obj.get("eval_count")))
            parts.append(Finish(obj.get("done_reason") or "stop"))
            self.completed = True
            parts.append(DONE)
        return parts
