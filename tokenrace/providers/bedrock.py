"""AWS Bedrock ConverseStream: ``POST {base}/model/{modelId}/converse-stream``, binary event-stream frames.

Frames are decoded by :mod:`tokenrace.eventstream`; each event frame's ``:event-type`` names the
payload: ``contentBlockDelta`` (``delta.text`` answer, ``delta.reasoningContent.text`` reasoning),
``messageStop`` (finish reason), ``metadata`` (usage, last). Complete = ``messageStop``; a close
before it is truncated. An exception frame (``:message-type: exception``) after the 200 is an error.

Auth: an ``api_key`` (a Bedrock API key; else ``$AWS_BEARER_TOKEN_BEDROCK``) is sent as a Bearer
token; without one the request is signed with SigV4 (service ``bedrock``) by botocore, from the
standard AWS environment variables and profile files: ``pip install 'tokenrace[aws]'``.
"""
from __future__ import annotations

import os
from typing import Any, Iterable, Mapping
from urllib.parse import quote

from ..eventstream import Message
from ..request import ChatRequest
from .base import Adapter, HTTPRequest, loads, obj_of, short
from .parts import DONE, Finish, Oddity, Part, Reasoning, StreamError, Text, UsageReport

_INFERENCE = {"max_tokens": "maxTokens", "temperature": "temperature", "top_p": "topP", "stop": "stopSequences"}
TOKEN_ENV = "AWS_BEARER_TOKEN_BEDROCK"


class BedrockAdapter(Adapter):
    kind = "bedrock"
    framing = "eventstream"
    terminal_hint = "messageStop"

    def region(self) -> str:
        return self.cfg.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"

    def token(self) -> str | None:
        if self.cfg.api_key:
            return self.cfg.api_key.reveal()
        return os.environ.get(TOKEN_ENV) or None

    def auth_headers(self) -> dict[str, str]:
        token = self.token()
        return {"Authorization": f"Bearer {token}"} if token else {}

    def build_request(self, req: ChatRequest, params: dict[str, Any]) -> HTTPRequest:
        messages = [{"role": m.get("role", "user"), "content": [{"text": m.get("content") or ""}]}
                    for m in req.chat_messages()]
        body: dict[str, Any] = {"messages": messages}
        if (system := req.system()) is not None:
            body["system"] = [{"text": system}]
        inference: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for k, v in params.items():
            if k in _INFERENCE:
                inference[_INFERENCE[k]] = [v] if k == "stop" and isinstance(v, str) else v
            elif k in ("inferenceConfig", "additionalModelRequestFields") and isinstance(v, dict):
                (inference if k == "inferenceConfig" else extra).update(v)
            else:
                extra[k] = v          # model-specific options (top_k, thinking) go through untouched
        if inference:
            body["inferenceConfig"] = inference
        if extra:
            body["additionalModelRequestFields"] = extra
        url = f"{self.cfg.base_url}/model/{quote(self.cfg.model, safe='')}/converse-stream"
        return HTTPRequest("POST", url, self.base_headers(), body, accept="application/vnd.amazon.eventstream",
                           encoded=True)

    def sign(self, method: str, url: str, headers: dict[str, str], body: bytes | None) -> dict[str, str]:
        """SigV4 (service ``bedrock``) when there is no Bearer token; the exact body bytes are signed."""
        if self.token():
            return headers
        from .aws_sign import sigv4_headers
        return sigv4_headers(method, url, headers, body, self.region())

    def parse_message(self, msg: Message) -> Iterable[Part]:
        mtype = msg.message_type or "event"
        if mtype == "exception":
            data = loads(msg.payload.decode("utf-8", "replace"))
            text = data.get("message") if isinstance(data, dict) else None
            return [StreamError(f"{msg.exception_type or 'exception'}: {text or short(msg.payload.decode('utf-8', 'replace'))}")]
        if mtype == "error":
            return [StreamError(f"{msg.error_code or 'error'}: {msg.error_message or ''}".rstrip(": "))]
        obj = loads(msg.payload.decode("utf-8", "replace"))
        if not isinstance(obj, dict):
            return [Oddity(f"skipped a malformed {msg.event_type} frame")]
        etype = msg.event_type
        if etype == "contentBlockDelta":
            delta = obj_of(obj.get("delta"))
            if isinstance(text := delta.get("text"), str) and text:
                return [Text(text)]
            rc = delta.get("reasoningContent")
            if isinstance(rc, dict) and isinstance(rtext := rc.get("text"), str) and rtext:
                return [Reasoning(rtext)]
            return ()
        if etype == "messageStop":
            self.completed = True
            return [Finish(str(obj.get("stopReason") or "end_turn"))]
        if etype == "metadata":
            usage = obj_of(obj.get("usage"))
            # inputTokens leave out the prompt-cache reads and writes, billed at their own rates
            read, write = _count(usage.get("cacheReadInputTokens")), _count(usage.get("cacheWriteInputTokens"))
            inp = usage.get("inputTokens")
            parts: list[Part] = [UsageReport(input_tokens=inp + read + write if isinstance(inp, int) else None,
                                             output_tokens=usage.get("outputTokens"),
                                             cached_input_tokens=read or None)]
            return parts + [DONE]
        return ()

    def http_error(self, status: int, body: str, headers: Mapping[str, str]) -> tuple[str, float | None]:
        msg, retry = super().http_error(status, body, headers)
        etype = headers.get("x-amzn-ErrorType") or headers.get("x-amzn-errortype") or ""
        etype = etype.split(":", 1)[0].rsplit("#", 1)[-1]
        if etype:
            data = loads(body) if body else None
            detail = data.get("message") or data.get("Message") if isinstance(data, dict) else None
            msg = f"{status} {etype}: {detail or short(body) or 'no error text'}"
        return msg, retry



def _count(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0
