"""Google Gemini ``streamGenerateContent?alt=sse``: CRLF events, no [DONE], cumulative usage."""
from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

from ..request import ChatRequest
from ..sse import SSEEvent
from .base import Adapter, HTTPRequest, loads, nest_params, short
from .parts import DONE, Finish, Oddity, Part, Reasoning, StreamError, Text, UsageReport

_GEN_KEYS = {"max_tokens": "maxOutputTokens", "temperature": "temperature", "top_p": "topP",
             "top_k": "topK", "stop": "stopSequences", "seed": "seed"}


class GeminiAdapter(Adapter):
    kind = "gemini"
    terminal_hint = "a chunk with finishReason"

    def auth_headers(self) -> dict[str, str]:
        if not self.cfg.api_key:
            return {}
        if self.cfg.vertex:         # Vertex AI takes an OAuth access token (gcloud auth print-access-token)
            return {"Authorization": f"Bearer {self.cfg.api_key.reveal()}"}
        return {"x-goog-api-key": self.cfg.api_key.reveal()}

    def build_request(self, req: ChatRequest, params: dict[str, Any]) -> HTTPRequest:
        contents = [{"role": "model" if m.get("role") == "assistant" else "user",
                     "parts": [{"text": m.get("content") or ""}]} for m in req.chat_messages()]
        body: dict[str, Any] = {"contents": contents}
        if (system := req.system()) is not None:
            body["systemInstruction"] = {"parts": [{"text": system}]}
        if isinstance(params.get("stop"), str):
            params = dict(params, stop=[params["stop"]])
        nest_params(body, params, _GEN_KEYS, "generationConfig")
        if (v := self.cfg.vertex) is not None:
            url = (f"{self.cfg.base_url}/v1/projects/{v.project}/locations/{v.location}/publishers/google/models/"
                   f"{self.cfg.model}:streamGenerateContent?alt=sse")
        else:
            url = f"{self.cfg.base_url}/v1beta/models/{self.cfg.model}:streamGenerateContent?alt=sse"
        return HTTPRequest("POST", url, self.base_headers(), body)

    def parse_event(self, ev: SSEEvent) -> Iterable[Part]:
        obj = loads(ev.data)
        if not isinstance(obj, dict):
            return [Oddity(f"skipped a malformed chunk: {short(ev.data, 80)!r}")]
        if "error" in obj:
            return [StreamError(self.error_detail(obj) or short(ev.data))]
        parts: list[Part] = []
        cands = obj.get("candidates") or []
        cand = cands[0] if cands and isinstance(cands[0], dict) else {}
        for p in (cand.get("content") or {}).get("parts") or ():
            text = p.get("text") if isinstance(p, dict) else None
            if text:
                parts.append(Reasoning(text) if p.get("thought") else Text(text))
        um = obj.get("usageMetadata")
        if isinstance(um, dict):
            parts.append(UsageReport(input_tokens=um.get("promptTokenCount"),
                                     output_tokens=um.get("candidatesTokenCount"),
                                     reasoning_tokens=um.get("thoughtsTokenCount"),
                                     reasoning_included=False,
                                     cached_input_tokens=um.get("cachedContentTokenCount")))
        if cand.get("finishReason"):
            parts.append(Finish(cand["finishReason"]))
            self.completed = True   # the connection closes next; there is no [DONE]
            parts.append(DONE)
        return parts

    def error_detail(self, data: Any) -> str | None:
        err = data.get("error") if isinstance(data, dict) else None
        if isinstance(err, dict):
            label = err.get("status") or err.get("code")
            return f"{label}: {err.get('message', '')}" if label else err.get("message")
        return super().error_detail(data)

    def http_error(self, status: int, body: str, headers: Mapping[str, str]) -> tuple[str, float | None]:
        msg, retry = super().http_error(status, body, headers)
        if retry is None:   # RetryInfo in the body: "retryDelay": "12s"
            m = re.search(r'"retryDelay"\s*:\s*"([\d.]+)s"', body)
            retry = float(m.group(1)) if m else None
        return msg, retry
