"""Every new kind raced against the simulator over loopback: text and TTFT against the simulator's
truth, and its errors (401, 429 with a retry hint, an error after the 200, truncation) as clear,
per-provider messages. Also the home-made endpoints of the origin documents (ChatGLM's cumulative JSON
strings, a GET relay with the prompt in the query)."""
from __future__ import annotations

import pytest
import pytest_asyncio

from tokenrace.config.models import ProviderConfig, Secret, SSEEndpoint, Timeouts, VertexTarget
from tokenrace.events import Notice, Started
from tokenrace.metrics import compute
from tokenrace.providers.stream import stream_provider
from tokenrace.request import ChatRequest
from tokenrace.simulator import Fault, Profile, Simulator
from tokenrace.simulator.profiles import answer_tokens

FAST = dict(ttft_ms=40, itl_ms=4, answer_tokens=24)
MS = 1e6
TOL_MS = 40          # loopback on a loaded 2-core machine: measured vs truth differ by scheduling only
PROMPT = "Tell me about streams & things?"
KEY = Secret("sim-key-0123456789abcdef")
# name -> (kind, extra config); every variant the new kinds offer
VARIANTS = {
    "responses": ("openai-responses", {}),
    "azure-v1": ("azure", {}),
    "azure-deployment": ("azure", {"deployment": "prod-4o", "api_version": "2024-10-21"}),
    "vertex": ("gemini", {"vertex": VertexTarget("sim-project", "us-central1")}),
    "bedrock": ("bedrock", {"model": "anthropic.claude-sonnet-4-5-20250929-v1:0"}),
    "cohere": ("cohere", {}),
    "chatglm": ("sse", {"endpoint": SSEEndpoint(path="/chatglm/chat", body={"prompt": "{prompt}", "history": []},
                                                 text_path="$", mode="cumulative", done=None)}),
    "gin": ("sse", {"endpoint": SSEEndpoint(path="/gin/chat?question={prompt}", method="GET", text_path=None,
                                             event="chat", done=None)}),
}


@pytest_asyncio.fixture
async def fsim():
    s = Simulator([Profile("fast", **FAST), Profile("think", reasoning_tokens=6, **FAST)])
    await s.start()
    yield s
    await s.stop()


def provider(sim: Simulator, profile: str, variant: str, **kw) -> ProviderConfig:
    kind, extra = VARIANTS[variant]
    extra = dict(extra)
    wire = "vertex" if "vertex" in extra else kind
    kw.setdefault("retries", 0)
    kw.setdefault("timeout", Timeouts(connect=5, read=10, total=30))
    return ProviderConfig(name=f"{profile}-{variant}", kind=kind, model=extra.pop("model", "sim-model"),
                          base_url=sim.base_url(profile, wire), api_key=KEY, **extra, **kw)


async def one(client, cfg, prompt=PROMPT, **params):
    events: list = []
    await stream_provider(client, cfg, ChatRequest.from_prompt(prompt, params), events.append)
    return events, compute(events)


def truth_of(sim, events):
    return sim.truth(next(e for e in events if getattr(e, "request_id", "")).request_id)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
async def test_text_and_ttft_match_the_truth(fsim, http_client, variant):
    events, r = await one(http_client, provider(fsim, "fast", variant))
    assert r.status == "ok", r.error
    truth = truth_of(fsim, events)
    assert r.text == truth.text == "".join(answer_tokens(fsim.profiles["fast"], PROMPT))
    assert truth.prompt == PROMPT                       # the prompt arrived whole (query-encoded for GET)
    assert abs(r.ttft_ms - truth.ttft_ns / MS) < TOL_MS and r.ttft_ms >= FAST["ttft_ms"] - 1
    if variant not in ("chatglm", "gin"):
        assert r.token_source == "usage" and r.output_tokens == truth.output_tokens
    assert not r.notices


@pytest.mark.parametrize("variant", ["responses", "vertex", "bedrock", "cohere"])
async def test_reasoning_comes_apart_and_first(fsim, http_client, variant):
    # the Responses API streams a reasoning summary only when asked for one
    params = {"reasoning": {"summary": "auto"}} if variant == "responses" else {}
    _, r = await one(http_client, provider(fsim, "think", variant), **params)
    assert r.status == "ok", r.error
    assert r.reasoning and r.text and r.ttft_any_ms <= r.ttft_ms


@pytest.mark.parametrize("variant", sorted(VARIANTS))
async def test_an_auth_failure_names_the_provider_and_status(fsim, http_client, variant):
    fsim.add_profile(Profile("deny", fault=Fault("http_401"), **FAST))
    events, r = await one(http_client, provider(fsim, "deny", variant, retries=2))
    assert r.status == "error" and r.error_kind == "http" and r.http_status in (401, 403)   # Bedrock says 403
    assert r.error.startswith(f"deny-{variant}: {r.http_status} ")
    assert sum(isinstance(e, Started) for e in events) == 1     # never retried


@pytest.mark.parametrize("variant", sorted(VARIANTS))
async def test_429_is_retried_and_then_succeeds(fsim, http_client, variant):
    fsim.add_profile(Profile("limited", fault=Fault("http_429", rate=0.5, retry_after_s=0.2), **FAST))
    cfg = provider(fsim, "limited", variant, retries=2)
    await one(http_client, cfg)                     # request 0 of the profile is not hit
    events, r = await one(http_client, cfg)         # request 1 is (429); its retry is not
    assert r.status == "ok" and r.attempts == 2, r.error
    notice = next(e for e in events if isinstance(e, Notice))
    assert "429" in notice.message and "retrying" in notice.message


@pytest.mark.parametrize("variant", sorted(VARIANTS))
async def test_an_error_after_the_200_keeps_the_text(fsim, http_client, variant):
    fsim.add_profile(Profile("flaky", fault=Fault("error_after", after_tokens=5), **FAST))
    _, r = await one(http_client, provider(fsim, "flaky", variant))
    assert r.status == "error" and r.error_kind == "stream", r.error
    assert r.text and r.error.startswith(f"flaky-{variant}: error after the stream started")


@pytest.mark.parametrize("variant", sorted(v for v in VARIANTS if v not in ("chatglm", "gin")))
async def test_truncation_is_never_success(fsim, http_client, variant):
    fsim.add_profile(Profile("cut", fault=Fault("truncate", after_tokens=5), **FAST))
    _, r = await one(http_client, provider(fsim, "cut", variant))
    assert r.status == "truncated" and r.text


@pytest.mark.parametrize("variant", ["azure-v1", "azure-deployment", "responses"])
async def test_a_content_filter_is_a_clear_outcome(fsim, http_client, variant):
    fsim.add_profile(Profile("filtered", fault=Fault("content_filter", after_tokens=5), **FAST))
    _, r = await one(http_client, provider(fsim, "filtered", variant))
    assert r.status == "ok" and r.finish_reason == "content_filter" and r.text
    if variant.startswith("azure"):
        assert any("content filter" in n for n in r.notices)


async def test_max_tokens_becomes_each_apis_own_limit(fsim, http_client):
    for variant in ("responses", "bedrock", "cohere", "vertex"):
        events, r = await one(http_client, provider(fsim, "fast", variant), max_tokens=5)
        assert truth_of(fsim, events).max_tokens == 5, variant
        assert r.output_tokens == 5 and r.status == "ok", variant
