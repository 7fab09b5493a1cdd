"""Azure OpenAI: the Chat Completions stream behind a resource URL, an ``api-key`` header, content filters.

With a ``deployment``: ``{base}/openai/deployments/{deployment}/chat/completions?api-version=…``;
without one, the v1 API ``{base}/openai/v1/chat/completions`` with the deployment name as ``model``.
The stream is OpenAI's plus filter annotations: a first chunk with ``choices: []`` and
``prompt_filter_results`` (not a token, not the end), ``content_filter_results`` on choices, and an
answer cut by the filter ending with ``finish_reason: "content_filter"`` — a proper end (ok), with a
notice naming the filter that tripped.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import quote

from ..request import ChatRequest
from ..sse import SSEEvent
from .base import HTTPRequest
from .openai import OpenAIAdapter
from .parts import Finish, Oddity, Part

DEFAULT_API_VERSION = "2024-10-21"


class AzureAdapter(OpenAIAdapter):
    kind = "azure"

    def auth_headers(self) -> dict[str, str]:
        key = self.cfg.api_key
        return {"api-key": key.reveal()} if key else {}

    def build_request(self, req: ChatRequest, params: dict[str, Any]) -> HTTPRequest:
        body = self.body(req, params)
        if self.cfg.deployment:
            version = quote(self.cfg.api_version or DEFAULT_API_VERSION, safe="")
            url = (f"{self.cfg.base_url}/openai/deployments/{quote(self.cfg.deployment, safe='')}"
                   f"/chat/completions?api-version={version}")
            body.pop("model", None)       # the deployment chooses the model
        else:
            url = f"{self.cfg.base_url}/openai/v1/chat/completions"
        return HTTPRequest("POST", url, self.base_headers(), body)

    def parse_event(self, ev: SSEEvent) -> list[Part]:
        parts = self.openai_parts(ev)
        for p in parts:
            if isinstance(p, Finish) and p.reason == "content_filter":
                return parts + [Oddity(f"the answer was stopped by Azure's content filter{_tripped(ev.data)}")]
        return parts


def _tripped(data: str) -> str:
    """`` (protected_material_text)``: the filter categories that tripped, from the chunk's annotations."""
    from .base import loads
    obj = loads(data)
    names: list[str] = []
    for choice in (obj.get("choices") or []) if isinstance(obj, dict) else []:
        results = choice.get("content_filter_results") if isinstance(choice, dict) else None
        if isinstance(results, dict):
            names += [k for k, v in results.items() if isinstance(v, dict) and v.get("filtered")]
    return f" ({', '.join(names)})" if names else ""
