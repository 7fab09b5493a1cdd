"""OpenAI Responses API: ``POST {base}/responses``, named events, no ``[DONE]``.

Text comes only from ``response.output_text.delta``; reasoning from the summary deltas (a new
``summary_index`` is a new paragraph) or, on open-weight servers, ``response.reasoning_text.delta``.
Exactly one terminal event ends the stream: ``response.completed`` (ok), ``response.incomplete``
(ok, cut short: the finish reason says why), ``response.failed`` or ``error`` (an error). Usage
comes only with the terminal response; its ``output_tokens`` include the reasoning tokens.
"""
from __future__ import annotations

from typing import Any, Iterable

from ..config.models import ProviderConfig
from ..request import ChatRequest
from ..sse import SSEEvent
from .base import Adapter, HTTPRequest, loads, short
from .parts import DONE, Finish, Oddity, Part, Reasoning, StreamError, Text, UsageReport

_RENAMED = {"max_tokens": "max_output_tokens"}
_UNSUPPORTED = ("stop",)        # the Responses API has no stop sequences


class ResponsesAdapter(Adapter):
    kind = "openai-responses"
    terminal_hint = "response.completed"

    def __init__(self, cfg: ProviderConfig) -> None:
        super().__init__(cfg)
        self.summary_index: tuple[Any, Any] | None = None   # (item, index) of the summary part being streamed

    def auth_headers(self) -> dict[str, str]:
        key = self.cfg.api_key
        return {"Authorization": f"Bearer {key.reveal()}"} if key else {}

    def build_request(self, req: ChatRequest, params: dict[str, Any]) -> HTTPRequest:
        body: dict[str, Any] = {"model": self.cfg.model,
                                "input": [{"role": m.get("role", "user"), "content": m.get("content", "")}
                                          for m in req.chat_messages()]}
        if (system := req.system()) is not None:
            body["instructions"] = system
        body["store"] = False          # a race keeps nothing on the provider's side unless asked to
        for k, v in params.items():
            if k not in _UNSUPPORTED:
                body[_RENAMED.get(k, k)] = v
        body["stream"] = True
        return HTTPRequest("POST", self.cfg.base_url + "/responses", self.base_headers(), body)

    def parse_event(self, ev: SSEEvent) -> Iterable[Part]:
        obj = loads(ev.data)
        if not isinstance(obj, dict):
            return [Oddity(f"skipped a malformed {ev.event} event: {short(ev.data, 80)!r}")]
        kind = obj.get("type") or ev.event
        if kind == "response.output_text.delta":
            delta = obj.get("delta")
            return [Text(delta)] if isinstance(delta, str) and delta else ()
        if kind == "response.reasoning_summary_text.delta":
            delta = obj.get("delta")
            if not isinstance(delta, str) or not delta:
                return ()
            where = (obj.get("item_id"), obj.get("summary_index"))
            new_part = self.summary_index is not None and where != self.summary_index
            self.summary_index = where
            return [Reasoning("\n\n" + delta if new_part else delta)]
        if kind == "response.reasoning_text.delta":
            delta = obj.get("delta")
            return [Reasoning(delta)] if isinstance(delta, str) and delta else ()
        if kind in ("response.completed", "response.incomplete"):
            resp = obj.get("response") or {}
            parts: list[Part] = []
            if (usage := _usage(resp.get("usage"))) is not None:
                parts.append(usage)
            reason = "completed"
            if kind == "response.incomplete":
                reason = str((resp.get("incomplete_details") or {}).get("reason") or "incomplete")
            self.completed = True
            parts += [Finish(reason), DONE]
            return parts
        if kind == "response.failed":
            resp = obj.get("response") or {}
            err = resp.get("error") or {}
            return [StreamError(_describe(err) or "the response failed")]
        if kind == "error" or ev.event == "error":
            nested = obj.get("error") if isinstance(obj.get("error"), dict) else {}
            return [StreamError(_describe(obj) or _describe(nested) or short(ev.data))]
        return ()


def _describe(err: Any) -> str:
    if not isinstance(err, dict):
        return ""
    msg, code = err.get("message"), err.get("code")
    if msg and code:
        return f"{code}: {msg}"
    return str(msg or code or "")


def _usage(u: Any) -> UsageReport | None:
    if not isinstance(u, dict):
        return None
    details = u.get("output_tokens_details")
    inp = u.get("input_tokens_details")
    return UsageReport(input_tokens=u.get("input_tokens"), output_tokens=u.get("output_tokens"),
                       reasoning_tokens=details.get("reasoning_tokens") if isinstance(details, dict) else None,
                       cached_input_tokens=inp.get("cached_tokens") if isinstance(inp, dict) else None)
