"""Faults, auth checks and bad requests on the wires added with issue 10, each in the provider's own shape."""
from __future__ import annotations

import asyncio
import json

import pytest

from tokenrace.eventstream import EventStreamDecoder
from tokenrace.simulator import Fault, FaultKind, Profile

from ..conftest import FIXTURES
from .helpers import decode as decode_old, fetch as fetch_old, request_for as request_old
from .new_wires import FINISH_WORDS, NEW_WIRES, Req, decode, fetch, request_for


def _faulty(sim, kind: FaultKind, **kw) -> None:
    sim.add_profile(Profile("bad", ttft_ms=5, itl_ms=1, answer_tokens=10, reasoning_tokens=2,
                            fault=Fault(kind, **kw)))


async def _run(sim, session, wire, profile="bad", **kw):
    reply = await fetch(session, request_for(sim, profile, wire, **kw))
    truth = sim.truth(reply.request_id)
    await asyncio.wait_for(truth.finished.wait(), 5)
    return reply, truth


@pytest.mark.parametrize("wire", NEW_WIRES)
async def test_http_429_in_provider_shape_with_its_retry_hint(sim, session, wire):
    _faulty(sim, "http_429", retry_after_s=0.25)
    reply, truth = await _run(sim, session, wire)
    assert reply.status == 429 and truth.outcome == "http_error" and truth.chunks == []
    body, h = json.loads(reply.raw), reply.headers
    if wire == "openai_responses":
        assert set(body["error"]) == {"message", "type", "param", "code"} and body["error"]["code"] == "rate_limit_exceeded"
        assert (h["retry-after"], h["retry-after-ms"]) == ("0.25", "250")
    elif wire in ("azure", "azure_v1"):
        assert body == {"error": {"code": "429", "message": body["error"]["message"]}}      # the code is a string
        assert "Please retry after 1 seconds" in body["error"]["message"]
        assert (h["retry-after"], h["retry-after-ms"]) == ("1", "250")
    elif wire == "vertex":
        assert reply.raw.startswith(b'{\n  "error": {\n    "code": 429')
        assert body["error"]["status"] == "RESOURCE_EXHAUSTED" and "details" not in body["error"]
        assert "retry-after" not in h
    elif wire == "bedrock":
        assert body == {"message": "Too many requests, please wait before trying again."}
        assert h["x-amzn-ErrorType"].split(":")[0] == "ThrottlingException" and h["x-amzn-RequestId"]
        assert "retry-after" not in h and h["Content-Type"] == "application/json"
    elif wire == "cohere":
        assert set(body) == {"id", "message"} and "Trial key" in body["message"] and "retry-after" not in h
    elif wire == "chatglm":
        assert body == {"detail": "rate limit exceeded"} and h["retry-after"] == "1"
    else:
        assert body == {"error": "rate limit exceeded"} and h["retry-after"] == "0.25"


@pytest.mark.parametrize("kind", ["http_500", "http_401"])
@pytest.mark.parametrize("wire", NEW_WIRES)
async def test_http_500_and_401(sim, session, wire, kind):
    _faulty(sim, kind)
    reply, truth = await _run(sim, session, wire)
    want = {"http_500": 500, "http_401": 403 if wire == "bedrock" else 401}[kind]
    assert reply.status == want == truth.status and "retry-after" not in reply.headers
    body = json.loads(reply.raw)
    if wire in ("azure", "azure_v1"):
        assert body["error"]["code"] == ("401" if want == 401 else "InternalServerError")
    elif wire == "vertex":
        assert body["error"]["status"] == ("UNAUTHENTICATED" if want == 401 else "INTERNAL")
    elif wire == "bedrock":
        etype = reply.headers["x-amzn-ErrorType"].split(":")[0]
        assert etype == ("AccessDeniedException" if want == 403 else "InternalServerException") and body["message"]
    elif wire == "cohere":
        assert set(body) == {"id", "message"}
    elif wire == "openai_responses":
        assert body["error"]["type"] == ("invalid_request_error" if want == 401 else "server_error")


@pytest.mark.parametrize("wire", NEW_WIRES)
async def test_error_after_200(sim, session, wire):
    _faulty(sim, "error_after", after_tokens=3)
    reply, truth = await _run(sim, session, wire)
    assert reply.status == 200 and not reply.payload_error and truth.outcome == "error_after"
    got = decode(wire, reply.raw)
    assert got.error is not None and got.text == truth.text and truth.output_tokens == 3
    assert got.finish is None                       # no normal end reason (Cohere's message-end says ERROR)
    if wire == "openai_responses":
        assert got.names[-2:] == ["error", "response.failed"]
        assert got.objects[-2]["error"]["code"] == "server_error" and got.objects[-1]["response"]["usage"] is None
        assert got.objects[-1]["response"]["status"] == "failed"
    elif wire in ("azure", "azure_v1"):
        assert reply.raw.endswith(b'"param":null,"code":null}}\n\ndata: [DONE]\n\n')
    elif wire == "vertex":
        assert got.error["status"] == "UNAVAILABLE" and reply.raw.endswith(b"\r\n\r\n")
    elif wire == "bedrock":
        last = got.frames[-1]
        rec = EventStreamDecoder().feed((FIXTURES / "bedrock_throttling.bin").read_bytes())[-1]
        assert list(last.headers) == list(rec.headers) and last.headers == rec.headers
        assert got.names[-1] == "!throttlingException" and "messageStop" not in got.names
    elif wire == "cohere":
        assert got.objects[-1]["delta"]["finish_reason"] == "ERROR" and reply.raw.endswith(b"data: [DONE]\n\n")
    else:
        assert got.names[-1] == "error"


@pytest.mark.parametrize("wire", NEW_WIRES)
async def test_truncate_ends_without_terminal_event(sim, session, wire):
    _faulty(sim, "truncate", after_tokens=4)
    reply, truth = await _run(sim, session, wire)
    assert reply.status == 200 and reply.payload_error and truth.outcome == "truncated" and truth.output_tokens == 4
    got = decode(wire, reply.raw)                   # whole events up to the cut
    assert got.text == truth.text and not got.done and got.finish is None and got.error is None
    assert b"[DONE]" not in reply.raw


@pytest.mark.parametrize("wire", [w for w in NEW_WIRES if w != "gin_relay"])
async def test_malformed_event_then_normal_stream(sim, session, wire):
    _faulty(sim, "malformed", after_tokens=2)
    reply, truth = await _run(sim, session, wire)
    mal = b'{"choices": [{"delta": {"content": "x"'
    assert reply.raw.count(mal) == 1 and truth.outcome == "ok"
    if wire == "bedrock":
        frames = EventStreamDecoder().feed(reply.raw)         # the frame itself is sound: both CRCs right
        bad = [m for m in frames if m.payload == mal]
        assert len(bad) == 1 and bad[0].event_type == "contentBlockDelta"
        good = reply.raw.replace(b"".join(_frame_bytes(reply.raw, bad[0])), b"")
    else:
        eol = "\r\n" if wire in ("vertex", "chatglm") else "\n"
        name = {"openai_responses": "response.output_text.delta", "cohere": "content-delta"}.get(wire)
        event = (f"event: {name}{eol}" if name else "").encode() + b"data: " + mal + (eol * 2).encode()
        assert reply.raw.count(event) == 1
        good = reply.raw.replace(event, b"")
    got = decode(wire, good)
    assert got.text == truth.text and truth.output_tokens == 10 and (got.done or wire == "chatglm")


def _frame_bytes(raw: bytes, target) -> list[bytes]:
    """The exact bytes of one decoded frame inside ``raw``."""
    dec, pos = EventStreamDecoder(), 0
    for i in range(len(raw)):
        for m in dec.feed(raw[i:i + 1]):
            if m is target or m == target:
                return [raw[pos:i + 1]]
            pos = i + 1
    raise AssertionError("frame not found")


CONTENT_FILTER = {"openai": "content_filter", "anthropic": "refusal", "gemini": "SAFETY", "zhipu": "sensitive",
                  "ollama": "stop", "llamacpp": "stop"}


@pytest.mark.parametrize("wire", NEW_WIRES)
async def test_content_filter_ends_properly_with_the_formats_word(sim, session, wire):
    _faulty(sim, "content_filter", after_tokens=4)
    reply, truth = await _run(sim, session, wire)
    got = decode(wire, reply.raw)
    assert truth.outcome == "ok" and truth.finish_reason == "content_filter" and truth.fault == "content_filter"
    assert truth.output_tokens == 4 and got.text == truth.text and got.error is None and not reply.payload_error
    if wire in FINISH_WORDS:
        assert got.finish == FINISH_WORDS[wire][2] and got.done
    if wire in ("azure", "azure_v1"):
        finish = [o for o in got.objects if o["choices"] and o["choices"][0]["finish_reason"]][0]
        assert finish["choices"][0]["content_filter_results"]["violence"] == {"filtered": True, "severity": "high"}
        assert reply.raw.endswith(b"data: [DONE]\n\n")
    if wire == "openai_responses":
        final = got.objects[-1]["response"]
        assert final["status"] == "incomplete" and final["incomplete_details"] == {"reason": "content_filter"}


@pytest.mark.parametrize("wire", sorted(CONTENT_FILTER))
async def test_content_filter_on_the_first_wires(sim, session, wire):
    _faulty(sim, "content_filter", after_tokens=4)
    url, body = request_old(sim, "bad", wire)
    reply = await fetch_old(session, url, body)
    truth = sim.truth(reply.request_id)
    await asyncio.wait_for(truth.finished.wait(), 5)
    got = decode_old(wire, reply.raw)
    assert got.finish == CONTENT_FILTER[wire] and got.text == truth.text and truth.output_tokens == 4
    assert truth.finish_reason == "content_filter"


async def test_drip_splits_bedrock_frames_at_any_byte(sim, session):
    sim.add_profile(Profile("bad", ttft_ms=5, itl_ms=1, text="你好世界，流式测试。👋🏽", fault=Fault("drip", drip_ms=1)))
    reply, truth = await _run(sim, session, "bedrock")
    got = decode("bedrock", reply.raw)
    assert len(reply.reads) > 3 * len(got.frames) and got.text == truth.text == "你好世界，流式测试。👋🏽"
    assert got.done and got.left_over == 0


async def test_stall_gap_on_the_responses_wire(sim, session):
    _faulty(sim, "stall", after_tokens=3, stall_s=0.3)
    reply, truth = await _run(sim, session, "openai_responses")
    gaps = truth.itl_ns               # 2 reasoning chunks + 3 answer chunks, then the stall
    assert gaps[4] >= 300_000_000 and max(g for i, g in enumerate(gaps) if i != 4) < 200_000_000
    assert decode("openai_responses", reply.raw).text == truth.text


# --------------------------------------------------------------------------- checks before the stream

async def test_azure_needs_a_key_or_an_entra_token(sim, session):
    req = request_for(sim, "fast", "azure")
    for headers, status in (({}, 401), ({"Authorization": "Bearer "}, 401), ({"api-key": "k"}, 200),
                            ({"Authorization": "Bearer eyJ0eXAi.sim"}, 200)):
        reply = await fetch(session, Req(req.method, req.url, req.body, headers))
        assert reply.status == status, headers
        if status == 401:
            assert json.loads(reply.raw)["error"]["code"] == "401"
            assert sim.truth(reply.request_id).outcome == "unauthorized"


async def test_azure_deployments_path_needs_an_api_version(sim, session):
    req = request_for(sim, "fast", "azure")
    reply = await fetch(session, Req("POST", req.url.split("?")[0], req.body, req.headers))
    assert reply.status == 404 and json.loads(reply.raw) == {"error": {"code": "404", "message": "Resource not found"}}
    v1 = request_for(sim, "fast", "azure_v1")
    assert "api-version" not in v1.url and (await fetch(session, v1)).status == 200


async def test_vertex_needs_a_bearer_token_and_roles(sim, session):
    req = request_for(sim, "fast", "vertex")
    reply = await fetch(session, Req("POST", req.url, req.body, {"x-goog-api-key": "AIza-sim"}))
    err = json.loads(reply.raw)["error"]
    assert reply.status == 401 and err["status"] == "UNAUTHENTICATED"
    assert err["details"][0]["reason"] == "CREDENTIALS_MISSING"
    reply = await fetch(session, Req("POST", req.url, {"contents": [{"parts": [{"text": "hi"}]}]}, req.headers))
    assert reply.status == 400 and "valid role" in json.loads(reply.raw)["error"]["message"]
    reply = await fetch(session, Req("POST", req.url.replace("?alt=sse", ""), req.body, req.headers))
    assert reply.status == 400


@pytest.mark.parametrize("wire", [w for w in NEW_WIRES if w != "gin_relay"])
async def test_malformed_request_json_gives_400_in_provider_shape(sim, session, wire):
    reply = await fetch(session, request_for(sim, "fast", wire), data=b'{"messages": [')
    assert reply.status == 400 and sim.truth(reply.request_id).outcome == "bad_request"
    body = json.loads(reply.raw)
    if wire == "bedrock":
        assert set(body) == {"message"} and reply.headers["x-amzn-ErrorType"].startswith("ValidationException:")
    elif wire == "vertex":
        assert body["error"]["status"] == "INVALID_ARGUMENT"
    elif wire == "cohere":
        assert set(body) == {"id", "message"}
    elif wire == "chatglm":
        assert set(body) == {"detail"}
    else:
        assert set(body["error"]) == {"message", "type", "param", "code"}


async def test_gin_relay_is_get_with_a_question(sim, session):
    req = request_for(sim, "fast", "gin_relay")
    reply = await fetch(session, Req("POST", req.url, {}))
    assert reply.status == 405
    reply = await fetch(session, Req("GET", req.url.split("?")[0]))
    assert reply.status == 400 and json.loads(reply.raw) == {"error": "question is required"}


def test_base_urls_of_the_new_kinds():
    from tokenrace.simulator import Simulator

    sim = Simulator()
    sim.url = "http://127.0.0.1:9"
    assert sim.base_url("p", "openai-responses") == "http://127.0.0.1:9/p/v1"
    for kind in ("azure", "vertex", "bedrock", "cohere"):
        assert sim.base_url("p", kind) == "http://127.0.0.1:9/p"
    assert sim.vertex_url("p", "gemini-2.5-pro", "proj", "global") == (
        "http://127.0.0.1:9/p/v1/projects/proj/locations/global/publishers/google/models/gemini-2.5-pro"
        ":streamGenerateContent?alt=sse")
    assert sim.bedrock_url("p", "us.anthropic.claude-v1:0") == \
        "http://127.0.0.1:9/p/model/us.anthropic.claude-v1%3A0/converse-stream"
