"""Zhipu accepts the raw key or a JWT made from it; both must reach the wire correctly."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json

from tokenrace.config.models import ProviderConfig, Secret
from tokenrace.providers.stream import stream_provider
from tokenrace.providers.zhipu import make_jwt
from tokenrace.request import ChatRequest

from ..conftest import FIXTURES, Reply

KEY = "abc123.s3cr3t-part"


def _b64d(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def verify(token: str, secret: str) -> tuple[dict, dict]:
    head, payload, sig = token.split(".")
    expect = hmac.new(secret.encode(), f"{head}.{payload}".encode(), hashlib.sha256).digest()
    assert hmac.compare_digest(_b64d(sig), expect), "bad signature"
    return json.loads(_b64d(head)), json.loads(_b64d(payload))


def test_jwt_shape_and_signature():
    header, payload = verify(make_jwt(KEY, ttl_s=60, now_ms=1_700_000_000_000), "s3cr3t-part")
    assert header == {"alg": "HS256", "sign_type": "SIGN"}
    assert payload == {"api_key": "abc123", "exp": 1_700_000_060_000, "timestamp": 1_700_000_000_000}


async def test_both_auth_modes_on_the_wire(replay, http_client):
    replay.reply = Reply((FIXTURES / "zhipu_glm45.sse").read_bytes(), "text/event-stream;charset=UTF-8")
    for auth in ("key", "jwt"):
        cfg = ProviderConfig(name=f"glm-{auth}", kind="zhipu", model="glm-4.5", base_url=replay.url,
                             api_key=Secret(KEY), auth=auth, retries=0)
        events = []
        await stream_provider(http_client, cfg, ChatRequest.from_prompt("hi"), events.append)
        sent = replay.requests[-1]
        assert sent["path"] == "/api/paas/v4/chat/completions"
        bearer = sent["headers"]["Authorization"].removeprefix("Bearer ")
        if auth == "key":
            assert bearer == KEY
        else:
            _, payload = verify(bearer, "s3cr3t-part")
            assert payload["api_key"] == "abc123"
        assert type(events[-1]).__name__ == "Finished"
