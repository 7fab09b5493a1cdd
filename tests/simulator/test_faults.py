"""Fault injection over real HTTP: HTTP errors, errors after 200, truncation, malformed, stall, drip."""
from __future__ import annotations

import asyncio
import json
import logging
import time

import aiohttp
import pytest

from tokenrace.simulator import Fault, FaultKind, Profile

from .helpers import PROVIDER_WIRES, WIRES, decode, fetch, request_for, sse_events


def _faulty(sim, kind: FaultKind, **kw) -> str:
    sim.add_profile(Profile("bad", ttft_ms=5, itl_ms=1, answer_tokens=10, reasoning_tokens=2,
                            fault=Fault(kind, **kw)))
    return "bad"


async def _run(sim, session, wire, **kw):
    url, body = request_for(sim, "bad", wire, **kw)
    reply = await fetch(session, url, body)
    truth = sim.truth(reply.request_id)
    await asyncio.wait_for(truth.finished.wait(), 5)
    return reply, truth


@pytest.mark.parametrize("wire", WIRES)
async def test_http_429_in_provider_shape_with_its_retry_hint(sim, session, wire):
    _faulty(sim, "http_429", retry_after_s=0.25)
    reply, truth = await _run(sim, session, wire)
    assert reply.status == 429 and truth.status == 429 and truth.fault == "http_429" and truth.chunks == []
    body = json.loads(reply.raw)
    h = reply.headers
    if wire in ("openai", "llamacpp"):
        assert body["error"]["code"] == "rate_limit_exceeded" and set(body["error"]) == {"message", "type", "param",
                                                                                          "code"}
        assert h["retry-after"] == "0.25" and h["retry-after-ms"] == "250"
    elif wire == "anthropic":
        assert body == {"type": "error", "error": {"type": "rate_limit_error", "message": body["error"]["message"]},
                        "request_id": truth.request_id}
        assert h["retry-after"] == "0.25"
    elif wire == "gemini":
        assert reply.raw.startswith(b'{\n  "error": {\n    "code": 429')              # pretty-printed
        err = body["error"]
        assert err["status"] == "RESOURCE_EXHAUSTED" and "retry-after" not in h
        retry = [d for d in err["details"] if d["@type"].endswith("google.rpc.RetryInfo")]
        assert retry == [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.25s"}]
    elif wire == "zhipu":
        assert body == {"error": {"code": "1302", "message": "Rate limit reached for requests"}}
        assert "retry-after" not in h
    else:
        assert isinstance(body["error"], str)


@pytest.mark.parametrize("kind,status", [("http_500", 500), ("http_401", 401)])
@pytest.mark.parametrize("wire", ["openai", "anthropic", "gemini", "zhipu", "ollama", "chat_stream"])
async def test_http_500_and_401(sim, session, wire, kind, status):
    _faulty(sim, kind)
    reply, truth = await _run(sim, session, wire)
    assert reply.status == status and truth.outcome == "http_error" and "retry-after" not in reply.headers
    body = json.loads(reply.raw)
    expected = {"anthropic": {500: "api_error", 401: "authentication_error"},
                "gemini": {500: "INTERNAL", 401: "UNAUTHENTICATED"}}
    if wire == "anthropic":
        assert body["error"]["type"] == expected[wire][status]
    elif wire == "gemini":
        assert body["error"]["status"] == expected[wire][status] and body["error"]["code"] == status
    else:
        assert "error" in body


async def test_429_without_retry_hint(sim, session):
    _faulty(sim, "http_429", retry_after_s=None)
    reply, _ = await _run(sim, session, "openai")
    assert reply.status == 429 and "retry-after" not in reply.headers
    reply, _ = await _run(sim, session, "gemini")
    assert "RetryInfo" not in reply.raw.decode()


@pytest.mark.parametrize("wire", WIRES)
async def test_error_after_200(sim, session, wire):
    _faulty(sim, "error_after", after_tokens=3)
    reply, truth = await _run(sim, session, wire)
    assert reply.status == 200 and not reply.payload_error
    got = decode(wire, reply.raw)
    assert got.error is not None and truth.outcome == "error_after" and truth.output_tokens == 3
    assert got.text == truth.text and got.finish is None
    raw = reply.raw
    if wire == "openai":
        assert raw.endswith(b'"param":null,"code":null}}\n\ndata: [DONE]\n\n')
        assert got.error["type"] == "server_error"
    elif wire == "anthropic":
        assert raw.endswith(b'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", '
                            b'"message": "Overloaded"}}\n\n')
    elif wire == "gemini":
        assert raw.endswith(b'data: {"error": {"code": 503,"message": "The model is overloaded. Please try again '
                            b'later.","status": "UNAVAILABLE"}}\r\n\r\n')
    elif wire == "zhipu":
        assert b"[DONE]" not in raw and got.error["code"] == "1234"
    elif wire == "ollama":
        assert raw.endswith(b'{"error":"an error was encountered while running the model"}\n')


@pytest.mark.parametrize("wire", WIRES)
async def test_truncate_ends_without_terminal_event(sim, session, wire):
    _faulty(sim, "truncate", after_tokens=4)
    reply, truth = await _run(sim, session, wire)
    assert reply.status == 200 and reply.payload_error          # the body ended early
    assert truth.outcome == "truncated" and truth.output_tokens == 4
    got = decode(wire, reply.raw)                                 # still whole events up to the cut
    assert got.text == truth.text and not got.done and got.finish is None and got.error is None
    assert b"[DONE]" not in reply.raw


async def test_truncate_at_the_very_end_still_has_no_terminal_event(sim, session):
    _faulty(sim, "truncate", after_tokens=1000)
    reply, truth = await _run(sim, session, "gemini")
    got = decode("gemini", reply.raw)
    assert reply.payload_error and truth.output_tokens == 10 and got.finish is None
    assert b"finishReason" not in reply.raw


@pytest.mark.parametrize("wire", ["openai", "llamacpp", "anthropic", "gemini", "zhipu", "ollama", "chat_stream"])
async def test_malformed_event_then_normal_stream(sim, session, wire):
    _faulty(sim, "malformed", after_tokens=2)
    reply, truth = await _run(sim, session, wire)
    mal = b'{"choices": [{"delta": {"content": "x"'
    event = {"anthropic": b"event: content_block_delta\ndata: " + mal + b"\n\n",
             "gemini": b"data: " + mal + b"\r\n\r\n", "ollama": mal + b"\n"}.get(wire, b"data: " + mal + b"\n\n")
    assert reply.raw.count(mal) == 1 and reply.raw.count(event) == 1
    good = reply.raw.replace(event, b"")
    got = decode(wire, good)
    assert got.text == truth.text and truth.output_tokens == 10 and truth.outcome == "ok"
    assert got.done or got.finish is not None
    if wire in PROVIDER_WIRES:
        assert got.reasoning == truth.reasoning


async def test_stall_gap_is_visible_in_truth(sim, session):
    _faulty(sim, "stall", after_tokens=3, stall_s=0.3)
    reply, truth = await _run(sim, session, "openai")
    gaps = truth.itl_ns
    # 2 reasoning chunks + 3 answer chunks, then the stall before the 4th answer chunk
    assert gaps[4] >= 300_000_000 and max(g for i, g in enumerate(gaps) if i != 4) < 200_000_000
    assert decode("openai", reply.raw).text == truth.text and truth.outcome == "ok"


async def test_drip_splits_events_across_many_reads(sim, session):
    sim.add_profile(Profile("bad", ttft_ms=5, itl_ms=1, text="你好世界，流式测试。👋🏽", fault=Fault("drip", drip_ms=1)))
    reply, truth = await _run(sim, session, "chat_stream")
    events = sse_events(reply.raw)
    assert len(reply.reads) > 2 * len(events)
    assert decode("chat_stream", reply.raw).text == "你好世界，流式测试。👋🏽" == truth.text

    def decodable(b: bytes) -> bool:
        try:
            b.decode("utf-8")
            return True
        except UnicodeDecodeError:
            return False

    assert any(not decodable(piece) for _, piece in reply.reads)        # UTF-8 characters split too


async def test_fault_rate_half_hits_every_other_request(sim, session):
    _faulty(sim, "http_429", rate=0.5)
    statuses = []
    for _ in range(6):
        reply, truth = await _run(sim, session, "openai")
        statuses.append((reply.status, truth.fault))
    assert statuses == [(200, None), (429, "http_429")] * 3


async def test_client_disconnect_is_quiet_and_marks_truth_done(sim, session, caplog):
    caplog.set_level(logging.DEBUG)
    sim.add_profile(Profile("slow", ttft_ms=5, itl_ms=500, answer_tokens=50))
    url, body = request_for(sim, "slow", "openai")
    async with session.post(url, json=body) as resp:
        truth = sim.truth(resp.headers["x-sim-request-id"])
        while not truth.chunks:
            await resp.content.readany()
        resp.close()
    await asyncio.wait_for(truth.finished.wait(), 2)
    assert truth.done and truth.outcome == "client_gone" and truth.output_tokens < 50
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_stop_closes_open_streams_promptly(session, caplog):
    from tokenrace.simulator import Simulator

    caplog.set_level(logging.DEBUG)
    sim = Simulator([Profile("slow", ttft_ms=5, itl_ms=5000, answer_tokens=50)])
    await sim.start()
    url, body = request_for(sim, "slow", "anthropic")
    async with session.post(url, json=body) as resp:
        truth = sim.truth(resp.headers["x-sim-request-id"])
        while not truth.chunks:
            await resp.content.readany()
        t = time.perf_counter()
        await sim.stop()
        assert time.perf_counter() - t < 1.5
        with pytest.raises(aiohttp.ClientPayloadError):
            while await resp.content.readany():
                pass
    assert truth.done and truth.outcome == "stopped"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
