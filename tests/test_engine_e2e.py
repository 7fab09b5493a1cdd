"""The engine end to end over loopback HTTP against the simulator: figures vs ground truth, faults, retries."""
from __future__ import annotations

import asyncio

import pytest
import pytest_asyncio

from tokenrace.config.models import ProviderConfig, SSEEndpoint, Timeouts
from tokenrace.events import Finished, Notice, Started, TextDelta
from tokenrace.metrics import compute
from tokenrace.providers.stream import stream_provider
from tokenrace.race import Race
from tokenrace.request import ChatRequest
from tokenrace.simulator import Fault, Profile, Simulator
from tokenrace.simulator.profiles import answer_tokens

KINDS = ("openai", "anthropic", "gemini", "zhipu", "ollama", "sse")
FAST = dict(ttft_ms=40, itl_ms=4, answer_tokens=24)
MS = 1e6
# loopback on a loaded 2-core machine: measured vs truth may differ by scheduling, never by much
TOL_MS = 40


@pytest_asyncio.fixture
async def fsim():
    s = Simulator([Profile("fast", **FAST), Profile("think", reasoning_tokens=6, **FAST)])
    await s.start()
    yield s
    await s.stop()


def provider(sim: Simulator, profile: str, kind: str, name: str | None = None, **kw) -> ProviderConfig:
    endpoint = None
    if kind == "sse":
        endpoint = SSEEndpoint(path="/chat/stream", text_path="content", done="[DONE]")
    kw.setdefault("retries", 0)
    return ProviderConfig(name=name or f"{profile}-{kind}", kind=kind, model="sim-model",
                          base_url=sim.base_url(profile, kind), endpoint=endpoint, **kw)


async def one(client, cfg, prompt="Tell me about streams", **params):
    events = []
    await stream_provider(client, cfg, ChatRequest.from_prompt(prompt, params), events.append)
    return events, compute(events)


@pytest.mark.parametrize("kind", KINDS)
async def test_text_and_timing_match_truth(fsim, http_client, kind):
    events, r = await one(http_client, provider(fsim, "fast", kind))
    assert r.status == "ok", r.error
    truth = fsim.truth(next(e for e in events if hasattr(e, "request_id")).request_id)
    assert r.text == truth.text == "".join(answer_tokens(fsim.profiles["fast"], "Tell me about streams"))
    assert truth.ttft_ns is not None
    # measured TTFT counts from t_sent, the truth from t_received: loopback makes them close
    assert abs(r.ttft_ms - truth.ttft_ns / MS) < TOL_MS
    assert r.ttft_ms >= FAST["ttft_ms"] - 1
    if kind != "sse":
        assert r.token_source == "usage" and r.output_tokens == truth.output_tokens
    # each measured gap is the truth's gap, give or take scheduling
    sent_gaps = sorted(g / MS for g in truth.itl_ns)
    assert r.itl_ms["p50"] == pytest.approx(sent_gaps[len(sent_gaps) // 2], abs=TOL_MS)


@pytest.mark.parametrize("kind", ("openai", "anthropic", "gemini", "zhipu", "ollama"))
async def test_reasoning_is_apart_and_first(fsim, http_client, kind):
    events, r = await one(http_client, provider(fsim, "think", kind))
    assert r.status == "ok", r.error
    assert r.reasoning and r.text
    assert r.ttft_any_ms <= r.ttft_ms


async def test_max_tokens_caps_the_answer(fsim, http_client):
    _, r = await one(http_client, provider(fsim, "fast", "openai"), max_tokens=5)
    assert r.output_tokens == 5 and r.finish_reason == "length"


@pytest.mark.parametrize("kind", ("openai", "anthropic", "gemini", "zhipu", "ollama"))
async def test_http_401_names_provider_and_status(fsim, http_client, kind):
    fsim.add_profile(Profile("deny", fault=Fault("http_401"), **FAST))
    events, r = await one(http_client, provider(fsim, "deny", kind, retries=2))
    assert r.status == "error" and r.error_kind == "http" and r.http_status == 401
    assert r.error.startswith(f"deny-{kind}: 401 ")
    assert sum(isinstance(e, Started) for e in events) == 1     # 401 is never retried


async def test_429_is_retried_honouring_retry_after(fsim, http_client):
    fsim.add_profile(Profile("limited", fault=Fault("http_429", rate=0.5, retry_after_s=0.2), **FAST))
    cfg = provider(fsim, "limited", "anthropic", retries=2)
    _, first = await one(http_client, cfg)          # request 0 of the profile is not hit
    assert first.attempts == 1
    events, r = await one(http_client, cfg)         # request 1 is hit (429), its retry (request 2) is not
    assert r.status == "ok" and r.attempts == 2
    notice = next(e for e in events if isinstance(e, Notice))
    assert "429 rate_limit_error" in notice.message and "retry after 0.2 s" in notice.message
    starts = [e for e in events if isinstance(e, Started)]
    assert (starts[1].t_ns - starts[0].t_ns) / 1e9 >= 0.2        # it waited as told


async def test_429_without_retries_reports_retry_hint(fsim, http_client):
    fsim.add_profile(Profile("limited2", fault=Fault("http_429", retry_after_s=12), **FAST))
    _, r = await one(http_client, provider(fsim, "limited2", "openai", retries=0))
    assert r.status == "error" and "429" in r.error and "retry after 12 s" in r.error


@pytest.mark.parametrize("kind", ("openai", "anthropic", "gemini", "zhipu", "ollama"))
async def test_error_after_200_keeps_text(fsim, http_client, kind):
    fsim.add_profile(Profile("flaky", fault=Fault("error_after", after_tokens=5), **FAST))
    _, r = await one(http_client, provider(fsim, "flaky", kind))
    assert r.status == "error" and r.error_kind == "stream"
    assert r.text and r.error.startswith(f"flaky-{kind}: error after the stream started")


@pytest.mark.parametrize("kind", ("openai", "anthropic", "gemini", "zhipu", "ollama", "sse"))
async def test_truncation_is_never_success(fsim, http_client, kind):
    fsim.add_profile(Profile("cut", fault=Fault("truncate", after_tokens=5), **FAST))
    _, r = await one(http_client, provider(fsim, "cut", kind))
    assert r.status == "truncated" and r.text


async def test_malformed_chunk_is_skipped_with_a_notice(fsim, http_client):
    fsim.add_profile(Profile("garbled", fault=Fault("malformed", after_tokens=3), **FAST))
    _, r = await one(http_client, provider(fsim, "garbled", "openai"))
    assert r.status == "ok" and any("malformed" in n for n in r.notices)


async def test_drip_splits_events_but_not_the_text(fsim, http_client):
    fsim.add_profile(Profile("drip", fault=Fault("drip", drip_ms=0.2), ttft_ms=10, itl_ms=2, answer_tokens=12))
    events, r = await one(http_client, provider(fsim, "drip", "gemini"))
    truth = fsim.truth(next(e for e in events if hasattr(e, "request_id")).request_id)
    assert r.status == "ok" and r.text == truth.text


async def test_idle_read_timeout_mid_stream(fsim, http_client):
    fsim.add_profile(Profile("stall", fault=Fault("stall", after_tokens=3, stall_s=3), **FAST))
    cfg = provider(fsim, "stall", "openai", timeout=Timeouts(connect=5, read=0.3, total=30))
    _, r = await one(http_client, cfg)
    assert r.status == "error" and r.error_kind == "timeout" and "read timeout" in r.error and r.text


async def test_total_timeout(fsim, http_client):
    fsim.add_profile(Profile("slow", ttft_ms=2000, itl_ms=5, answer_tokens=5))
    cfg = provider(fsim, "slow", "openai", timeout=Timeouts(connect=5, read=30, total=0.3))
    _, r = await one(http_client, cfg)
    assert r.status == "error" and r.error_kind == "timeout" and "total timeout" in r.error


async def test_connect_error_is_clear(http_client):
    cfg = ProviderConfig(name="nowhere", kind="openai", model="m", base_url="http://127.0.0.1:9/v1", retries=0)
    _, r = await one(http_client, cfg)
    assert r.status == "error" and r.error_kind == "connect" and r.error.startswith("nowhere: cannot connect")


async def test_connections_are_pooled_and_reuse_recorded(fsim, http_client):
    cfg = provider(fsim, "fast", "openai")
    first, r1 = await one(http_client, cfg)
    second, r2 = await one(http_client, cfg)
    assert r1.reused is False and r1.connect_ms > 0
    assert r2.reused is True and r2.connect_ms == 0


async def test_one_failing_provider_never_stops_the_others(fsim, http_client):
    fsim.add_profile(Profile("deny", fault=Fault("http_500"), **FAST))
    missing = ProviderConfig(name="nokey", kind="openai", model="m", base_url=fsim.base_url("fast", "openai"),
                             unavailable="missing environment variable OPENAI_API_KEY (used by provider 'nokey')")
    providers = [provider(fsim, "fast", k) for k in ("openai", "anthropic")] + \
                [provider(fsim, "deny", "gemini"), missing]
    results = {r.provider: r for r in await Race(http_client, providers, ChatRequest.from_prompt("hi")).run()}
    assert results["fast-openai"].status == results["fast-anthropic"].status == "ok"
    assert results["deny-gemini"].status == "error" and "500" in results["deny-gemini"].error
    assert results["nokey"].status == "error" and "OPENAI_API_KEY" in results["nokey"].error


async def test_cancel_keeps_text_and_closes_the_connection(fsim, http_client):
    fsim.add_profile(Profile("long", ttft_ms=10, itl_ms=20, answer_tokens=500))
    seen_text = asyncio.Event()
    race = Race(http_client, [provider(fsim, "long", "openai")], ChatRequest.from_prompt("hi"),
                on_event=lambda e: seen_text.set() if isinstance(e, TextDelta) else None)
    task = asyncio.create_task(race.run())
    await asyncio.wait_for(seen_text.wait(), 10)
    race.cancel()
    [r] = await asyncio.wait_for(task, 10)
    assert r.status == "cancelled" and r.text
    assert isinstance(race.log["long-openai"][-1], Finished)
    # the simulator saw the client go away long before its 500 tokens were sent
    truth = fsim.truths[-1]
    await asyncio.wait_for(_until(lambda: truth.done), 10)
    assert len(truth.chunks) < 500


async def _until(cond):
    while not cond():
        await asyncio.sleep(0.01)
