"""Zhipu GLM (open.bigmodel.cn, api.z.ai): OpenAI-shaped stream, its own auth (raw key or JWT)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from ..request import ChatRequest
from .openai import OpenAIAdapter

JWT_TTL_S = 1800
_JWT_CACHE: dict[str, tuple[str, float]] = {}   # api key -> (token, expiry monotonic)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt(api_key: str, ttl_s: int = JWT_TTL_S, now_ms: int | None = None) -> str:
    """The token Zhipu accepts in place of the raw ``id.secret`` key (HS256, times in ms)."""
    try:
        key_id, secret = api_key.split(".", 1)
    except ValueError:
        raise ValueError("a Zhipu API key has the form id.secret") from None
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    header = {"alg": "HS256", "sign_type": "SIGN"}
    payload = {"api_key": key_id, "exp": now_ms + ttl_s * 1000, "timestamp": now_ms}
    signing_input = _b64(json.dumps(header, separators=(",", ":")).encode()) + "." + \
        _b64(json.dumps(payload, separators=(",", ":")).encode())
    sig = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + _b64(sig)


def cached_jwt(api_key: str) -> str:
    token, expires = _JWT_CACHE.get(api_key, ("", 0.0))
    if time.monotonic() < expires - 60:      # renew a minute before it runs out
        return token
    token = make_jwt(api_key)
    _JWT_CACHE[api_key] = (token, time.monotonic() + JWT_TTL_S)
    return token


class ZhipuAdapter(OpenAIAdapter):
    kind = "zhipu"
    path = "/api/paas/v4/chat/completions"

    def auth_headers(self) -> dict[str, str]:
        key = self.cfg.api_key
        if not key:
            return {}
        token = cached_jwt(key.reveal()) if self.cfg.auth == "jwt" else key.reveal()
        return {"Authorization": f"Bearer {token}"}

    def body(self, req: ChatRequest, params: dict[str, Any]) -> dict[str, Any]:
        body = super().body(req, params)
        body.pop("stream_options", None)   # usage always comes on the finish chunk
        return body
