"""``kind: sse``: home-made endpoints (delta or cumulative text, any JSON path, named events)."""
from __future__ import annotations

import json
import os
from urllib.parse import quote
from typing import Any, Iterable

from ..config.models import ProviderConfig, SSEEndpoint
from ..request import ChatRequest
from ..sse import SSEEvent
from .base import Adapter, HTTPRequest, dig, loads, short
from .parts import DONE, Oddity, Part, StreamError, Text

_PLACEHOLDERS = {"{prompt}", "{messages}", "{history}", "{system}", "{max_tokens}", "{temperature}", "{top_p}"}
_MISSING = object()


def fill_template(template: Any, values: dict[str, Any]) -> Any:
    """Replace placeholders in a JSON template; a value that is only a missing placeholder is dropped."""
    if isinstance(template, str):
        if template in _PLACEHOLDERS:
            return values.get(template[1:-1], _MISSING)
        if "{prompt}" in template:
            return template.replace("{prompt}", str(values.get("prompt", "")))
        return template
    if isinstance(template, dict):
        out = {}
        for k, v in template.items():
            filled = fill_template(v, values)
            if filled is not _MISSING:
                out[k] = filled
        return out
    if isinstance(template, list):
        return [x for x in (fill_template(v, values) for v in template) if x is not _MISSING]
    return template


class CustomSSEAdapter(Adapter):
    kind = "sse"

    def __init__(self, cfg: ProviderConfig) -> None:
        super().__init__(cfg)
        self.ep: SSEEndpoint = cfg.endpoint or SSEEndpoint()
        self.so_far = ""     # cumulative mode: the whole answer received so far
        self.terminal_hint = f"data: {self.ep.done}" if self.ep.done else "the end of the stream"
        # with no done sentinel the stream simply closes when complete
        self.completed = self.ep.done is None

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.cfg.api_key.reveal()}"} if self.cfg.api_key else {}

    def build_request(self, req: ChatRequest, params: dict[str, Any]) -> HTTPRequest:
        values: dict[str, Any] = {"prompt": req.prompt, "messages": [dict(m) for m in req.messages],
                                  "history": history_pairs(req)}
        if (system := req.system()) is not None:
            values["system"] = system
        values.update({k: v for k, v in params.items() if k in ("max_tokens", "temperature", "top_p")})
        body = fill_template(self.ep.body, values)
        if isinstance(body, dict):
            # the provider's own params go into the body; run-level generic ones only via placeholders
            body.update(self.cfg.params)
        # {prompt} in the path (a GET endpoint's query): URL-encoded
        path = self.ep.path.replace("{prompt}", quote(req.prompt, safe="")) if "{prompt}" in self.ep.path else \
            self.ep.path
        return HTTPRequest(self.ep.method.upper(), self.cfg.base_url + path, self.base_headers(),
                           body if self.ep.method.upper() != "GET" else None)

    def parse_event(self, ev: SSEEvent) -> Iterable[Part]:
        ep = self.ep
        if ep.done is not None and ev.data == ep.done:
            self.completed = True
            return [DONE]
        if ev.event == "error":
            return [StreamError(short(ev.data))]
        if ep.event and ev.event != ep.event:
            return ()
        if ep.text_path is None:
            text = ev.data
        elif ep.text_path == "$":             # the data is itself a JSON string: the text
            value = loads(ev.data)
            if not isinstance(value, str):
                return [Oddity(f"skipped an event that is not a JSON string: {short(ev.data, 80)!r}")]
            text = value
        else:
            obj = loads(ev.data)
            if obj is None:
                return [Oddity(f"skipped an event that is not JSON: {short(ev.data, 80)!r}")]
            if ep.error_path and isinstance(obj, dict) and obj.get(ep.error_path):
                err = obj[ep.error_path]
                return [StreamError(err if isinstance(err, str) else short(json.dumps(err, ensure_ascii=False)))]
            found = dig(obj, ep.text_path)
            if found is None:
                return ()
            text = "".join(map(str, found)) if isinstance(found, list) else str(found)
        if ep.mode == "cumulative":
            return self._cumulative(text)
        return [Text(text)] if text else ()

    def _cumulative(self, text: str) -> list[Part]:
        """Turn "the whole answer so far" into the new piece."""
        prev, self.so_far = self.so_far, text
        if text.startswith(prev):
            delta = text[len(prev):]
            return [Text(delta)] if delta else []
        # The endpoint rewrote earlier text; deltas cannot take it back, so say so and go on.
        n = len(os.path.commonprefix([prev, text]))
        return [Oddity(f"the cumulative text changed after character {n}; the answer shown may differ"),
                Text(text[max(n, len(prev)):])]


def history_pairs(req: ChatRequest) -> list[list[str]]:
    """The conversation before the prompt as ChatGLM-style ``[[question, answer], ...]`` pairs."""
    turns = req.chat_messages()[:-1]
    return [[str(q.get("content", "")), str(a.get("content", ""))]
            for q, a in zip(turns[::2], turns[1::2]) if q.get("role") == "user" and a.get("role") == "assistant"]
