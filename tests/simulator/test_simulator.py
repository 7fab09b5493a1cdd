"""The simulator over real HTTP on loopback: bytes of each wire format, text, truth."""
from __future__ import annotations

import asyncio
import json
import re

import pytest

from tokenrace.simulator import Profile

from .helpers import (CONTENT_TYPES, FINISH_WORDS, PROVIDER_WIRES, WIRES, decode, fetch, request_for,
                      sse_events)

CJK = re.compile(r"[\u4e00-\u9fff]")
EMOJI = re.compile(r"[\U0001F300-\U0001FAFF\u2600-\u27BF]")


async def _get(sim, session, wire, profile="think", **kw):
    url, body = request_for(sim, profile, wire, **kw)
    reply = await fetch(session, url, body)
    truth = sim.truth(reply.request_id)
    await asyncio.wait_for(truth.finished.wait(), 5)
    return reply, truth


@pytest.mark.parametrize("wire", WIRES)
async def test_each_wire_streams_the_truth(sim, session, wire):
    reply, truth = await _get(sim, session, wire)
    assert reply.status == 200 and truth.status == 200
    assert reply.headers["Content-Type"] == CONTENT_TYPES[wire]
    assert "Content-Encoding" not in reply.headers
    got = decode(wire, reply.raw)
    assert got.error is None
    assert got.text == truth.text and len(truth.text) > 0
    assert truth.output_tokens == 12 and truth.outcome == "ok" and truth.finish_reason == "stop"
    if wire in PROVIDER_WIRES:
        assert got.reasoning == truth.reasoning and truth.reasoning_tokens == 6
        assert got.finish == FINISH_WORDS[wire][0]
        assert truth.ttft_any_ns < truth.ttft_ns          # reasoning comes first
    else:
        assert truth.reasoning == "" and truth.ttft_any_ns == truth.ttft_ns
    if wire in ("chat", "chat_events", "gemini"):
        assert b"[DONE]" not in reply.raw                 # these end by closing
    if wire in ("openai", "llamacpp", "zhipu", "chat_stream"):
        assert reply.raw.endswith(b"data: [DONE]\n\n")
    assert len([c for c in truth.chunks if c.tokens]) == 18 if wire in PROVIDER_WIRES else 12


async def test_openai_bytes(sim, session):
    reply, truth = await _get(sim, session, "openai")
    events = sse_events(reply.raw)
    datas = [e["data"] for e in events]
    assert all(e["event"] is None and not e["comments"] for e in events)
    objs = [json.loads(d) for d in datas[:-1]]
    for d, obj in zip(datas, objs):
        assert d == json.dumps(obj, ensure_ascii=False, separators=(",", ":"))   # compact, raw UTF-8
        assert obj["object"] == "chat.completion.chunk" and "usage" in obj
    assert "\\u" not in reply.raw.decode() and CJK.search(reply.raw.decode()) or EMOJI.search(reply.raw.decode())
    assert objs[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    assert objs[1]["choices"][0]["delta"] == {"content": None, "reasoning_content": truth.chunks[0].reasoning}
    assert objs[7]["choices"][0]["delta"] == {"content": truth.chunks[6].text, "reasoning_content": None}
    finish, usage = objs[-2], objs[-1]
    assert finish["choices"][0]["delta"] == {} and finish["choices"][0]["finish_reason"] == "stop"
    assert finish["usage"] is None
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == 18
    assert usage["usage"]["completion_tokens_details"]["reasoning_tokens"] == 6
    assert usage["usage"]["total_tokens"] == usage["usage"]["prompt_tokens"] + 18
    assert datas[-1] == "[DONE]"


async def test_openai_without_include_usage_has_no_usage(sim, session):
    reply, _ = await _get(sim, session, "openai", include_usage=False)
    objs = [json.loads(e["data"]) for e in sse_events(reply.raw)[:-1]]
    assert all("usage" not in o and o["choices"] for o in objs)


async def test_llamacpp_python_bytes(sim, session):
    sim.add_profile(Profile("llama", ttft_ms=5, itl_ms=1, answer_tokens=20, text="Je suis en français 你好 👋🏽 !"))
    reply, truth = await _get(sim, session, "llamacpp", profile="llama")
    events = sse_events(reply.raw)
    assert events[0]["comments"] and events[0]["comments"][0].startswith(": ping - ")
    assert sum(1 for e in events if e["comments"]) >= 2                       # before and among events
    datas = [e["data"] for e in events if e["data"] is not None]
    for d in datas[:-1]:
        assert d == json.dumps(json.loads(d))                                 # Python defaults: spaces, \uXXXX
    assert "\\u00e7" in reply.raw.decode() and reply.raw.isascii()
    assert all("usage" not in json.loads(d) for d in datas[:-1])
    assert json.loads(datas[0])["choices"][0]["delta"] == {"role": "assistant"}
    assert decode("llamacpp", reply.raw).text == "Je suis en français 你好 👋🏽 !" == truth.text


async def test_anthropic_bytes(sim, session):
    sim.add_profile(Profile("claude", ttft_ms=5, itl_ms=1, answer_tokens=30, reasoning_tokens=4))
    reply, truth = await _get(sim, session, "anthropic", profile="claude")
    events = sse_events(reply.raw)
    names = [e["event"] for e in events]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-2:] == ["message_delta", "message_stop"] and b"[DONE]" not in reply.raw
    objs = [json.loads(e["data"]) for e in events]
    assert events[2]["data"] == '{"type": "ping"}'
    assert objs[0]["message"]["usage"]["output_tokens"] == 1 and objs[0]["message"]["usage"]["input_tokens"] > 0
    assert objs[1]["content_block"] == {"type": "thinking", "thinking": "", "signature": ""}
    kinds = [(o["index"], o["delta"]["type"]) for o in objs if o["type"] == "content_block_delta"]
    assert kinds[:4] == [(0, "thinking_delta")] * 4 and kinds[4] == (0, "signature_delta")
    assert set(kinds[5:]) == {(1, "text_delta")}
    starts = [o for o in objs if o["type"] == "content_block_start"]
    assert [(s["index"], s["content_block"]["type"]) for s in starts] == [(0, "thinking"), (1, "text")]
    assert [o["index"] for o in objs if o["type"] == "content_block_stop"] == [0, 1]
    assert objs[-2]["usage"]["output_tokens"] == 34 and objs[-2]["delta"]["stop_reason"] == "end_turn"
    assert re.search(rb'" +}\n', reply.raw) or re.search(rb"[}\d] +}\n", reply.raw), "padding before }"
    assert decode("anthropic", reply.raw).text == truth.text


async def test_gemini_bytes(sim, session):
    sim.add_profile(Profile("gem", ttft_ms=5, itl_ms=1, answer_tokens=14, reasoning_tokens=6, tokens_per_chunk=5))
    reply, truth = await _get(sim, session, "gemini", profile="gem")
    assert reply.headers["Content-Type"] == "text/event-stream"              # no charset
    assert reply.headers.get("Connection", "").lower() == "close"
    assert b"\n" not in reply.raw.replace(b"\r\n", b"") and reply.raw.endswith(b"\r\n\r\n")
    objs = [json.loads(e["data"]) for e in sse_events(reply.raw, "\r\n")]
    for e, o in zip(sse_events(reply.raw, "\r\n"), objs):
        assert e["data"] == json.dumps(o, ensure_ascii=False, separators=(",", ": "))
    assert [o["candidates"][0]["content"]["parts"][0].get("thought", False) for o in objs] == [True] * 2 + [False] * 3
    assert [len(c.reasoning) > 0 for c in truth.chunks] == [True, True, False, False, False]   # 5+1, 5+5+4
    usage = [o["usageMetadata"] for o in objs]
    assert [u["candidatesTokenCount"] for u in usage] == [0, 0, 5, 10, 14]
    assert [u["thoughtsTokenCount"] for u in usage] == [5, 6, 6, 6, 6]
    assert all(u["totalTokenCount"] == u["promptTokenCount"] + u["candidatesTokenCount"] + u["thoughtsTokenCount"]
               for u in usage)
    assert ["finishReason" in o["candidates"][0] for o in objs] == [False] * 4 + [True]
    assert objs[0]["modelVersion"] == "gemini-2.5-flash"


async def test_zhipu_bytes(sim, session):
    reply, truth = await _get(sim, session, "zhipu")
    objs = [json.loads(e["data"]) for e in sse_events(reply.raw)[:-1]]
    assert all("object" not in o for o in objs)
    assert all(o["choices"][0]["delta"]["role"] == "assistant" for o in objs)
    assert objs[0]["choices"][0]["delta"] == {"role": "assistant", "reasoning_content": truth.chunks[0].reasoning}
    assert objs[6]["choices"][0]["delta"] == {"role": "assistant", "content": truth.chunks[6].text,
                                              "reasoning_content": ""}
    assert [("usage" in o) for o in objs] == [False] * (len(objs) - 1) + [True]
    assert objs[-1]["choices"][0]["finish_reason"] == "stop" and objs[-1]["usage"]["completion_tokens"] == 18
    assert reply.raw.endswith(b"data: [DONE]\n\n")


async def test_ollama_bytes_go_escapes(sim, session):
    sim.add_profile(Profile("oll", ttft_ms=5, itl_ms=1, text="The sky <b>is</b> blue & 你好 👋🏽", reasoning_tokens=3))
    reply, truth = await _get(sim, session, "ollama", profile="oll")
    raw = reply.raw.decode()
    assert "<" not in raw and ">" not in raw and "&" not in raw
    assert all(esc in raw for esc in ("\\u003c", "\\u003e", "\\u0026", "你", "👋🏽"))          # Go escapes, raw UTF-8
    lines = raw.split("\n")
    assert lines[-1] == "" and all(json.loads(x) for x in lines[:-1])
    objs = [json.loads(x) for x in lines[:-1]]
    assert [o["done"] for o in objs] == [False] * (len(objs) - 1) + [True]
    assert objs[0]["message"]["thinking"] and objs[0]["message"]["content"] == ""
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z", objs[0]["created_at"])
    done = objs[-1]
    assert done["done_reason"] == "stop" and done["eval_count"] == truth.output_tokens + 3
    assert done["prompt_eval_count"] > 0 and done["eval_duration"] > 0 and done["total_duration"] > done["eval_duration"]
    assert decode("ollama", reply.raw).text == "The sky <b>is</b> blue & 你好 👋🏽"


async def test_custom_endpoints_bytes(sim, session):
    sim.add_profile(Profile("cust", ttft_ms=5, itl_ms=1, text="你好👋!很高兴 见到你"))
    reply, _ = await _get(sim, session, "chat", profile="cust")
    datas = [e["data"] for e in sse_events(reply.raw)]
    assert datas == ["你", "你好", "你好👋", "你好👋!", "你好👋!很", "你好👋!很高", "你好👋!很高兴",
                     "你好👋!很高兴 见", "你好👋!很高兴 见到", "你好👋!很高兴 见到你"]
    reply, _ = await _get(sim, session, "chat_stream", profile="cust")
    assert reply.raw.startswith(b'data: {"id":"msg_001","content":"\xe4\xbd\xa0"}\n\n')
    reply, _ = await _get(sim, session, "chat_events", profile="cust")
    assert reply.raw.startswith("event: chat\ndata: 你\n\n".encode())
    assert decode("chat_events", reply.raw).text == "你好👋!很高兴 见到你"


async def test_text_is_deterministic_and_mixed(session):
    from tokenrace.simulator import Simulator

    async with Simulator() as sim:
        texts = []
        for prompt in ("Why is the sky blue?", "Why is the sky blue?", "Something else"):
            reply, truth = await _get(sim, session, "openai", profile="sim-openai", prompt=prompt)
            texts.append(decode("openai", reply.raw).text)
            assert truth.output_tokens == 80
    assert texts[0] == texts[1] != texts[2]
    assert CJK.search(texts[0]) and EMOJI.search(texts[0]) and re.search(r"[A-Za-z]{3,} [a-z]+", texts[0])


@pytest.mark.parametrize("wire", PROVIDER_WIRES + ("chat", "chat_stream"))
async def test_max_tokens_caps_with_length_reason(sim, session, wire):
    reply, truth = await _get(sim, session, wire, profile="fast", max_tokens=5)
    got = decode(wire, reply.raw)
    assert truth.output_tokens == 5 and truth.finish_reason == "length" and got.text == truth.text
    if wire in PROVIDER_WIRES:
        assert got.finish == FINISH_WORDS[wire][1]


@pytest.mark.parametrize("wire", WIRES)
async def test_malformed_request_json_gives_400_in_provider_shape(sim, session, wire):
    url, _ = request_for(sim, "fast", wire)
    reply = await fetch(session, url, data=b'{"messages": [')
    assert reply.status == 400 and sim.truth(reply.request_id).outcome == "bad_request"
    body = json.loads(reply.raw)
    if wire in ("openai", "llamacpp"):
        assert set(body["error"]) == {"message", "type", "param", "code"}
    elif wire == "anthropic":
        assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    elif wire == "gemini":
        assert body["error"]["status"] == "INVALID_ARGUMENT" and reply.raw.startswith(b'{\n  "error"')
    elif wire == "zhipu":
        assert isinstance(body["error"]["code"], str)
    else:
        assert isinstance(body["error"], str)


async def test_gemini_requires_alt_sse(sim, session):
    url, body = request_for(sim, "fast", "gemini")
    reply = await fetch(session, url.replace("?alt=sse", ""), body)
    assert reply.status == 400


async def test_timing_truth_matches_client_and_profile(sim, session):
    sim.add_profile(Profile("timed", ttft_ms=40, itl_ms=10, answer_tokens=10))
    url, body = request_for(sim, "timed", "openai")
    reply = await fetch(session, url, body)
    truth = sim.truth(reply.request_id)
    await truth.finished.wait()
    # the client's first read that carries answer text vs the truth's first chunk
    first_text = next(t for t, b in reply.reads if b'"content":"' in b and b'"content":""' not in b)
    assert abs(first_text - truth.chunks[0].t_ns) < 50_000_000
    assert 40_000_000 <= truth.ttft_ns <= 140_000_000
    assert all(gap >= 0 for gap in truth.itl_ns) and len(truth.itl_ns) == 9
    # absolute deadlines: the last chunk is not late by the sum of sleep overshoots
    last = truth.chunks[-1].t_ns - truth.t_received_ns
    assert 130_000_000 <= last <= 230_000_000
    assert truth.t_end_ns >= truth.chunks[-1].t_ns


async def test_control_api(sim, session):
    await _get(sim, session, "openai", profile="fast")
    reply, truth = await _get(sim, session, "ollama", profile="think")
    async with session.get(f"{sim.url}/_sim/profiles") as r:
        profiles = await r.json()
    assert [p["name"] for p in profiles] == ["fast", "think"]
    assert profiles[0]["base_urls"]["openai"] == sim.base_url("fast", "openai") == f"{sim.url}/fast/v1"
    async with session.get(f"{sim.url}/_sim/requests", params={"profile": "think"}) as r:
        listed = await r.json()
    assert [t["request_id"] for t in listed] == [truth.request_id]
    async with session.get(f"{sim.url}/_sim/requests/{truth.request_id}") as r:
        one = await r.json()
    assert one["text"] == truth.text and one["ttft_ns"] == truth.ttft_ns and len(one["chunks"]) == 18
    assert one == json.loads(json.dumps(truth.to_dict()))
    async with session.get(f"{sim.url}/_sim/requests/nope") as r:
        assert r.status == 404
    assert [t.request_id for t in sim.truths][-1] == truth.request_id


async def test_unknown_profile_and_path_say_what_exists(sim, session):
    async with session.post(f"{sim.url}/nobody/v1/chat/completions", json={}) as r:
        body = await r.json()
        assert r.status == 404 and body["profiles"] == ["fast", "think"] and body["paths"]
    async with session.post(f"{sim.url}/fast/v2/other", json={}) as r:
        assert r.status == 404 and "paths" in await r.json()
    async with session.get(f"{sim.url}/fast/v1/chat/completions") as r:
        assert r.status == 405


def test_base_urls():
    from tokenrace.simulator import Simulator

    sim = Simulator()
    sim.url = "http://127.0.0.1:9"
    assert sim.base_url("p", "openai") == "http://127.0.0.1:9/p/v1"
    assert sim.base_url("p", "llamacpp") == "http://127.0.0.1:9/p/llamacpp/v1"
    for kind in ("anthropic", "gemini", "zhipu", "ollama", "sse"):
        assert sim.base_url("p", kind) == "http://127.0.0.1:9/p"
    with pytest.raises(ValueError):
        sim.base_url("p", "nope")
