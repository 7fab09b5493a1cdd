"""Every recorded provider stream in shared/fixtures, served over loopback HTTP, gives its expected result."""
from __future__ import annotations

import json

import pytest

from tokenrace.config.models import ProviderConfig, Secret, SSEEndpoint
from tokenrace.metrics import compute
from tokenrace.providers.stream import stream_provider
from tokenrace.request import ChatRequest

from ..conftest import FIXTURES, Reply

EXPECTED = json.loads((FIXTURES / "expected.json").read_text())


def provider_for(name: str, spec: dict, base_url: str) -> ProviderConfig:
    exp = spec["expect"]
    endpoint = None
    if spec["kind"] == "sse":
        endpoint = SSEEndpoint(path="/chat", text_path=exp.get("text_path"), mode=exp.get("mode", "delta"),
                               done=exp.get("done"), event=exp.get("event"))
    key = Secret("bedrock-api-key-for-tests") if spec["kind"] == "bedrock" else None   # no SigV4 here
    return ProviderConfig(name="p-" + name.split(".")[0], kind=spec["kind"], model="m", base_url=base_url,
                          endpoint=endpoint, retries=0, api_key=key)


async def run_fixture(replay, http_client, name: str, piece: int, seed: int | None = None):
    spec = EXPECTED[name]
    replay.reply = Reply((FIXTURES / name).read_bytes(), spec["content_type"], piece=piece, seed=seed)
    cfg = provider_for(name, spec, replay.url)
    events = []
    await stream_provider(http_client, cfg, ChatRequest.from_prompt("hi"), events.append)
    return spec["expect"], compute(events)


@pytest.mark.parametrize("piece, seed", [(0, None), (1, None), (7, None), (0, 1), (0, 2)],
                         ids=["whole", "1-byte-writes", "7-byte-writes", "random-splits-1", "random-splits-2"])
@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_fixture_stream(replay, http_client, name, piece, seed):
    exp, res = await run_fixture(replay, http_client, name, piece, seed)
    assert res.status == exp["status"], res.error
    assert res.text == exp["text"]
    if "reasoning" in exp:
        assert res.reasoning == exp["reasoning"]
    for key in ("finish_reason", "input_tokens", "output_tokens", "reasoning_tokens", "token_source"):
        if key in exp:
            assert getattr(res, key) == exp[key], key
    if "error_contains" in exp:
        assert exp["error_contains"] in res.error
        assert res.error.startswith(f"p-{name.split('.')[0]}: ")
    if exp["status"] == "ok":
        assert res.error is None
        assert res.ttft_ms is not None and res.ttft_ms >= 0


async def test_reasoning_first_token_is_not_ttft(replay, http_client):
    """deepseek: reasoning arrives first; with byte-paced writes ttft_any comes no later than ttft."""
    _, res = await run_fixture(replay, http_client, "deepseek_reasoning.sse", 1)
    assert res.ttft_any_ms <= res.ttft_ms
    assert res.reasoning_tokens == 107


async def test_truncated_keeps_text_and_says_so(replay, http_client):
    _, res = await run_fixture(replay, http_client, "openai_truncated.sse", 0)
    assert res.status == "truncated"
    assert "truncated" in res.error
    assert res.text.endswith("ajudar")


async def test_generic_params_reach_each_wire_format(replay, http_client):
    """max_tokens/temperature/stop land where each API expects them; unknown keys pass through."""
    from tokenrace.config.models import ProviderConfig as PC
    params = {"max_tokens": 7, "temperature": 0.5, "stop": "END", "seed": 3, "keep_alive": "5m"}
    replay.reply = Reply(b"", "text/event-stream")
    bodies = {}
    for kind in ("openai", "anthropic", "gemini", "ollama"):
        cfg = PC(name=kind, kind=kind, model="m", base_url=replay.url, retries=0)
        await stream_provider(http_client, cfg, ChatRequest.from_prompt("hi", params), lambda e: None)
        bodies[kind] = json.loads(replay.requests[-1]["body"])
    assert bodies["openai"]["max_tokens"] == 7 and bodies["openai"]["stream_options"] == {"include_usage": True}
    assert bodies["anthropic"]["max_tokens"] == 7 and bodies["anthropic"]["stop_sequences"] == ["END"]
    assert bodies["gemini"]["generationConfig"] == {"maxOutputTokens": 7, "temperature": 0.5,
                                                    "stopSequences": ["END"], "seed": 3}
    assert bodies["gemini"]["keep_alive"] == "5m"
    assert bodies["ollama"]["options"] == {"num_predict": 7, "temperature": 0.5, "stop": "END", "seed": 3}
    assert bodies["ollama"]["keep_alive"] == "5m" and bodies["ollama"]["stream"] is True
