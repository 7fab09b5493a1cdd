"""Keys that are not in the config: api_key_command (run without a shell, refreshed once after a 401,
shared by concurrent streams, redacted), and Bedrock's SigV4 signature through botocore."""
from __future__ import annotations

import json
import sys

import pytest
import pytest_asyncio
from aiohttp import web

from tokenrace.config.models import Config, ProviderConfig, Timeouts
from tokenrace.events import Failed, Finished, Notice
from tokenrace.providers import keys
from tokenrace.providers.stream import stream_provider
from tokenrace.race import Race
from tokenrace.request import ChatRequest

from tests.hostile import leaks

SSE_OK = (b'data: {"choices":[{"index":0,"delta":{"content":"signed in"},"finish_reason":"stop"}]}\n\n'
          b"data: [DONE]\n\n")
# prints the next token from a file of tokens and counts its runs: a stand-in for `gcloud auth print-access-token`
TOKEN_CMD = """
import pathlib, sys
state = pathlib.Path(sys.argv[1])
runs = int((state / "runs").read_text()) if (state / "runs").exists() else 0
(state / "runs").write_text(str(runs + 1))
tokens = (state / "tokens").read_text().split()
print("  " + tokens[min(runs, len(tokens) - 1)] + "  ")
"""


class TokenGate:
    """Answers 401 (echoing the token it got) unless the Bearer token is ``valid``."""

    def __init__(self, valid: str) -> None:
        self.valid, self.seen, self.url = valid, [], ""
        self._runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        self.seen.append(token)
        await request.read()
        if token != self.valid:
            return web.json_response({"error": {"message": f"token {token} expired", "type": "auth"}}, status=401)
        return web.Response(body=SSE_OK, content_type="text/event-stream")

    async def start(self) -> "TokenGate":
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest_asyncio.fixture
async def gate():
    g = await TokenGate("ya29.fresh-token-0123456789").start()
    keys._cache.clear()
    yield g
    keys._cache.clear()
    await g.stop()


def command_provider(tmp_path, url: str, tokens: list[str], name: str = "vertex-ish") -> ProviderConfig:
    (tmp_path / "tokens").write_text("\n".join(tokens))
    script = tmp_path / "token.py"
    script.write_text(TOKEN_CMD)
    return ProviderConfig(name=name, kind="openai", model="m", base_url=url + "/v1", retries=0,
                          timeout=Timeouts(connect=5, read=10, total=30),
                          api_key_command=(sys.executable, str(script), str(tmp_path)))


async def test_a_401_takes_one_fresh_key_and_no_output_shows_either(gate, http_client, tmp_path):
    cfg = command_provider(tmp_path, gate.url, ["ya29.stale-token-9876543210", gate.valid])
    config = Config((cfg,))
    events: list = []
    await stream_provider(http_client, cfg, ChatRequest.from_prompt("hi"), events.append, redactor=config.redactor)
    assert isinstance(events[-1], Finished) and events[-1].status == "ok"
    assert gate.seen == ["ya29.stale-token-9876543210", gate.valid]          # stripped, then refreshed once
    assert any(isinstance(e, Notice) and "fresh key" in e.message for e in events)
    for token in gate.seen:
        assert leaks(repr(events), token) == []


async def test_a_key_that_stays_wrong_fails_after_one_refresh(gate, http_client, tmp_path):
    cfg = command_provider(tmp_path, gate.url, ["ya29.wrong-token-aaaaaaaaaa", "ya29.wrong-token-bbbbbbbbbb"])
    events: list = []
    await stream_provider(http_client, cfg, ChatRequest.from_prompt("hi"), events.append,
                          redactor=Config((cfg,)).redactor)
    fail = events[-1]
    assert isinstance(fail, Failed) and fail.http_status == 401 and len(gate.seen) == 2
    assert "wrong-token" not in fail.message and "***" in fail.message


async def test_concurrent_streams_share_one_run_of_the_command(gate, http_client, tmp_path):
    providers = [command_provider(tmp_path, gate.url, [gate.valid], name=f"p{i}") for i in range(5)]
    results = await Race(http_client, providers, ChatRequest.from_prompt("hi"),
                         redactor=Config(tuple(providers)).redactor).run()
    assert [r.status for r in results] == ["ok"] * 5
    assert (tmp_path / "runs").read_text() == "1"


async def test_a_failing_command_names_the_provider_and_its_stderr(http_client):
    cfg = ProviderConfig(name="gcp", kind="gemini", model="m", base_url="http://127.0.0.1:9", retries=0,
                         api_key_command=(sys.executable, "-c",
                                          "import sys; sys.stderr.write('You are not logged in.'); sys.exit(3)"))
    events: list = []
    await stream_provider(http_client, cfg, ChatRequest.from_prompt("hi"), events.append)
    fail = events[-1]
    assert isinstance(fail, Failed) and fail.kind == "config"
    assert fail.message.startswith("gcp: api_key_command") and "exit status 3" in fail.message
    assert "You are not logged in." in fail.message
    missing = ProviderConfig(name="gcp2", kind="gemini", model="m", base_url="http://127.0.0.1:9",
                             api_key_command=("no-such-command-here",))
    events = []
    await stream_provider(http_client, missing, ChatRequest.from_prompt("hi"), events.append)
    assert "cannot run" in events[-1].message and events[-1].message.startswith("gcp2: ")


async def test_bedrock_without_a_key_is_signed_with_sigv4(http_client, monkeypatch):
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    seen: list[dict] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append({"method": request.method, "url": f"{request.scheme}://{request.host}{request.raw_path}",
                     "headers": dict(request.headers),
                     "body": await request.read()})
        return web.Response(status=403, body=b'{"message":"signature checked by the test"}',
                            headers={"x-amzn-ErrorType": "AccessDeniedException:http://internal"},
                            content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    for name in ("AWS_PROFILE", "AWS_BEARER_TOKEN_BEDROCK", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE0000000000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    try:
        cfg = ProviderConfig(name="br", kind="bedrock", model="anthropic.claude-3-haiku-20240307-v1:0",
                             base_url=f"http://127.0.0.1:{runner.addresses[0][1]}", region="eu-west-3", retries=0)
        events: list = []
        await stream_provider(http_client, cfg, ChatRequest.from_prompt("hi"), events.append)
    finally:
        await runner.cleanup()
    fail = events[-1]
    assert isinstance(fail, Failed) and fail.message == "br: 403 AccessDeniedException: signature checked by the test"
    [req] = seen
    auth = req["headers"]["Authorization"]
    assert auth.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE0000000000/") and "/eu-west-3/bedrock/aws4_request" in auth
    assert req["url"].endswith("/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream")
    assert json.loads(req["body"])["messages"] == [{"role": "user", "content": [{"text": "hi"}]}]
    # the signature is right: botocore, given the same request and time, computes the same one
    signed = {k: v for k, v in req["headers"].items() if k.lower() in
              {"content-type", "host", "x-amz-date", "accept"}}
    again = AWSRequest(method="POST", url=req["url"], data=req["body"], headers=signed)
    again.context["timestamp"] = req["headers"]["X-Amz-Date"]
    SigV4Auth(Credentials("AKIDEXAMPLE0000000000", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"), "bedrock",
              "eu-west-3").add_auth(again)
    assert again.headers["Authorization"].split("Signature=")[1] == auth.split("Signature=")[1]


async def test_bedrock_without_botocore_or_credentials_says_what_to_do(http_client, monkeypatch):
    monkeypatch.setitem(sys.modules, "botocore.auth", None)         # as if the [aws] extra were not installed
    monkeypatch.delenv("AWS_BEARER_TOKEN_BEDROCK", raising=False)
    cfg = ProviderConfig(name="br", kind="bedrock", model="m", base_url="http://127.0.0.1:9", retries=0)
    events: list = []
    await stream_provider(http_client, cfg, ChatRequest.from_prompt("hi"), events.append)
    assert "pip install 'tokenrace[aws]'" in events[-1].message and events[-1].kind == "config"
