"""OpenAI Chat Completions, and every server that copies it (vLLM, llama.cpp, Ollama /v1, DeepSeek)."""
from __future__ import annotations

from typing import Any, Iterable

from ..request import ChatRequest
from ..sse import SSEEvent
from .base import HTTPRequest, OpenAIChunks
from .parts import Part


class OpenAIAdapter(OpenAIChunks):
    kind = "openai"
    terminal_hint = "data: [DONE]"
    path = "/chat/completions"

    def auth_headers(self) -> dict[str, str]:
        key = self.cfg.api_key
        return {"Authorization": f"Bearer {key.reveal()}"} if key else {}

    def body(self, req: ChatRequest, params: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.cfg.model, "messages": [dict(m) for m in req.messages]}
        body.update(params)
        body["stream"] = True
        # usage arrives in a last extra chunk only when asked for
        opts = dict(body.get("stream_options") or {})
        opts.setdefault("include_usage", True)
        body["stream_options"] = opts
        return body

    def build_request(self, req: ChatRequest, params: dict[str, Any]) -> HTTPRequest:
        return HTTPRequest("POST", self.cfg.base_url + self.path, self.base_headers(), self.body(req, params))

    def parse_event(self, ev: SSEEvent) -> Iterable[Part]:
        return self.openai_parts(ev)
