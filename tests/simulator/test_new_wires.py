"""The wires added with issue 10 over real HTTP on loopback: the bytes, compared with the recorded streams
(event order, keys and key order, JSON spacing), the text against the profile's answer, usage, finish
reasons, and the ground truth's chunk times."""
from __future__ import annotations

import asyncio
import json
from itertools import groupby

import pytest

from tokenrace.eventstream import EventStreamDecoder
from tokenrace.simulator import Profile, answer_tokens, reasoning_tokens

from ..conftest import FIXTURES
from .helpers import sse_events
from .new_wires import (CONTENT_TYPES, FINISH_WORDS, NEW_WIRES, REASONING, compact, decode, fetch, key_shape,
                        request_for)

PROMPT = "Hello 👋 how fast are you?"


async def _get(sim, session, wire, profile="think", **kw):
    reply = await fetch(session, request_for(sim, profile, wire, **kw))
    truth = sim.truth(reply.request_id)
    await asyncio.wait_for(truth.finished.wait(), 5)
    return reply, truth


def _collapse(names):
    """Event names with runs of deltas folded into one (the number of deltas is the answer's business)."""
    return [n for n, _ in groupby(names)]


def _fixture_events(name, eol="\n"):
    return [(e["event"], e["data"]) for e in sse_events((FIXTURES / name).read_bytes(), eol)]


def _leaves_dropped(obj):
    shape = key_shape(obj)

    def strip(s):
        if isinstance(s, list):
            return [(x[0], strip(x[1])) if isinstance(x, tuple) else strip(x) for x in s]
        return None
    return strip(shape)


@pytest.mark.parametrize("wire", NEW_WIRES)
async def test_each_new_wire_streams_the_profiles_answer(sim, session, wire):
    reply, truth = await _get(sim, session, wire)
    assert reply.status == 200 and truth.status == 200 and truth.outcome == "ok"
    assert reply.headers["Content-Type"] == CONTENT_TYPES[wire]
    got = decode(wire, reply.raw)
    profile = sim.profiles["think"]
    answer = "".join(answer_tokens(profile, PROMPT))
    assert got.error is None and got.text == truth.text == answer and truth.output_tokens == 12
    assert truth.finish_reason == "stop"
    if wire in FINISH_WORDS:
        assert got.finish == FINISH_WORDS[wire][0] and got.done
    if wire in REASONING:
        assert got.reasoning == truth.reasoning == "".join(reasoning_tokens(profile, PROMPT))
        assert truth.reasoning_tokens == 6 and truth.ttft_any_ns < truth.ttft_ns
    else:
        assert got.reasoning == truth.reasoning == "" and truth.ttft_any_ns == truth.ttft_ns
    # a ground-truth time for every content-bearing event, in order, after the request arrived
    assert len(truth.chunks) == got.content_events == (18 if wire in REASONING else 12)
    times = [c.t_ns for c in truth.chunks]
    assert times == sorted(times) and times[0] > truth.t_received_ns and truth.t_end_ns >= times[-1]
    assert "".join(c.text for c in truth.chunks) == answer


@pytest.mark.parametrize("wire", NEW_WIRES)
async def test_usage_counts_what_was_sent(sim, session, wire):
    reply, truth = await _get(sim, session, wire)
    u, p = decode(wire, reply.raw).usage, len(PROMPT.split()) + 8
    n = truth.output_tokens + truth.reasoning_tokens
    if wire == "openai_responses":
        assert (u["input_tokens"], u["output_tokens"], u["total_tokens"]) == (p, n, p + n)
        assert u["output_tokens_details"] == {"reasoning_tokens": 6}
    elif wire in ("azure", "azure_v1"):
        assert (u["prompt_tokens"], u["completion_tokens"], u["total_tokens"]) == (p, 12, p + 12)
    elif wire == "vertex":
        assert (u["promptTokenCount"], u["candidatesTokenCount"], u["thoughtsTokenCount"]) == (p, 12, 6)
        assert u["trafficType"] == "ON_DEMAND" and u["candidatesTokensDetails"] == [{"modality": "TEXT",
                                                                                      "tokenCount": 12}]
    elif wire == "bedrock":
        assert u == {"inputTokens": p, "outputTokens": n, "totalTokens": p + n}
    elif wire == "cohere":
        assert u["billed_units"] == {"input_tokens": p, "output_tokens": n}
        assert u["tokens"]["output_tokens"] == n and u["tokens"]["input_tokens"] > p     # the system preamble
    else:
        assert u is None                                          # home-made endpoints report none


@pytest.mark.parametrize("wire", ["openai_responses", "azure", "vertex", "bedrock", "cohere", "chatglm"])
async def test_max_tokens_ends_properly_with_the_formats_reason(sim, session, wire):
    reply, truth = await _get(sim, session, wire, profile="fast", max_tokens=5)
    got = decode(wire, reply.raw)
    assert truth.output_tokens == 5 and truth.finish_reason == "length" and truth.outcome == "ok"
    assert got.text == truth.text == "".join(answer_tokens(sim.profiles["fast"], PROMPT)[:5]) and got.error is None
    if wire in FINISH_WORDS:
        assert got.finish == FINISH_WORDS[wire][1] and got.done


# --------------------------------------------------------------------------- OpenAI Responses

async def test_responses_bytes_match_the_recorded_shapes(sim, session):
    for profile, fixture in (("fast", "openai_responses_text.sse"), ("think", "openai_responses_reasoning.sse")):
        reply, _ = await _get(sim, session, "openai_responses", profile=profile)
        events = sse_events(reply.raw)
        rec = _fixture_events(fixture)
        assert _collapse([e["event"] for e in events]) == _collapse([n for n, _ in rec])
        def kind(name, obj):
            return name, obj.get("item", {}).get("type")     # output_item.* come for reasoning and message items

        by_kind = {kind(n, json.loads(d)): json.loads(d) for n, d in rec}
        for e in events:
            obj = json.loads(e["data"])
            assert e["data"] == compact(obj) and "\\u" not in e["data"]          # compact, raw UTF-8
            assert _leaves_dropped(obj) == _leaves_dropped(by_kind[kind(e["event"], obj)]), e["event"]
        assert reply.raw.endswith(b"}\n\n") and b"[DONE]" not in reply.raw


async def test_responses_max_output_tokens_is_incomplete_like_the_recording(sim, session):
    reply, truth = await _get(sim, session, "openai_responses", profile="fast", max_tokens=4)
    rec = _fixture_events("openai_responses_incomplete.sse")
    events = [(e["event"], json.loads(e["data"])) for e in sse_events(reply.raw)]
    assert _collapse([n for n, _ in events]) == _collapse([n for n, _ in rec])
    final = events[-1][1]["response"]
    assert final["status"] == "incomplete" and final["incomplete_details"] == {"reason": "max_output_tokens"}
    assert final["max_output_tokens"] == 4 and final["output"][0]["status"] == "incomplete"
    assert final["output"][0]["content"][0]["text"] == truth.text
    assert events[-2][1]["item"]["status"] == "incomplete"       # output_item.done first, as recorded


async def test_responses_reasoning_counts_against_max_output_tokens(sim, session):
    """A reasoning model can spend the whole budget thinking: empty text, still a proper (incomplete) end."""
    reply, truth = await _get(sim, session, "openai_responses", profile="think", max_tokens=4)
    got = decode("openai_responses", reply.raw)
    assert truth.reasoning_tokens == 4 and truth.output_tokens == 0 and got.text == ""
    assert got.finish == "max_output_tokens" and got.usage["output_tokens"] == 4
    assert "response.output_text.delta" not in got.names and truth.finish_reason == "length"
    reply, truth = await _get(sim, session, "openai_responses", profile="think", max_tokens=9)
    assert (truth.reasoning_tokens, truth.output_tokens) == (6, 3)


async def test_responses_without_summary_thinks_in_silence(sim, session):
    reply, truth = await _get(sim, session, "openai_responses", summary=False)
    got = decode("openai_responses", reply.raw)
    assert not [n for n in got.names if "reasoning_summary" in n] and got.reasoning == ""
    assert got.text == truth.text and got.usage["output_tokens_details"]["reasoning_tokens"] == 6
    assert truth.reasoning == "" and truth.reasoning_tokens == 6 and len(truth.chunks) == 12
    assert truth.ttft_any_ns == truth.ttft_ns
    # the silence lasts as long as the thinking would have: 6 reasoning steps of 2 ms after a 10 ms TTFT
    assert truth.ttft_ns >= 20_000_000
    final = got.objects[-1]["response"]
    assert final["output"][0] == {"id": final["output"][0]["id"], "type": "reasoning", "summary": []}
    assert final["output"][1]["type"] == "message" and final["reasoning"] == {"effort": None, "summary": None}


# --------------------------------------------------------------------------- Azure OpenAI

@pytest.mark.parametrize("wire", ["azure", "azure_v1"])
async def test_azure_bytes_match_the_recorded_shapes(sim, session, wire):
    reply, truth = await _get(sim, session, wire, profile="fast")
    datas = [e["data"] for e in sse_events(reply.raw)]
    assert datas[-1] == "[DONE]"
    objs = [json.loads(d) for d in datas[:-1]]
    assert all(d == compact(o) for d, o in zip(datas, objs))
    rec = [json.loads(d) for _, d in _fixture_events("azure_openai_content_filter.sse")[:-1]]
    # first: not a token and not the end: choices [] with prompt_filter_results and empty id/model/object
    assert key_shape(objs[0]) == key_shape(rec[0]) and objs[0]["id"] == objs[0]["object"] == ""
    assert _leaves_dropped(objs[1]) == _leaves_dropped(rec[1])                 # role chunk
    for text_chunk in objs[2:-2]:
        assert _leaves_dropped(text_chunk) == _leaves_dropped(rec[2])
    assert _leaves_dropped(objs[-2]) == _leaves_dropped(rec[-2])               # finish chunk
    assert _leaves_dropped(objs[-1]) == _leaves_dropped(rec[-1])               # usage chunk
    assert [list(o) for o in objs[1:]] == [sorted(o) for o in objs[1:]]        # Azure sorts the top keys
    assert objs[1]["model"] == "gpt-4o-2024-11-20"                            # the deployment's model
    assert all(o["usage"] is None for o in objs[1:-1])


async def test_azure_bursts_many_tokens_per_chunk(sim, session):
    sim.add_profile(Profile("burst", ttft_ms=5, itl_ms=2, tokens_per_chunk=4, answer_tokens=10))
    reply, truth = await _get(sim, session, "azure", profile="burst")
    assert [c.tokens for c in truth.chunks] == [4, 4, 2] and decode("azure", reply.raw).content_events == 3


# --------------------------------------------------------------------------- Vertex AI

async def test_vertex_bytes_are_geminis_plus_vertex_keys(sim, session):
    reply, truth = await _get(sim, session, "vertex")
    assert reply.headers.get("Connection", "").lower() == "close"              # ends by closing, like Gemini
    assert b"\n" not in reply.raw.replace(b"\r\n", b"") and b"[DONE]" not in reply.raw
    events = sse_events(reply.raw, "\r\n")
    rec = json.loads(_fixture_events("gemini_alt_sse.sse", "\r\n")[0][1])
    for e in events:
        obj = json.loads(e["data"])
        assert e["data"] == json.dumps(obj, ensure_ascii=False, separators=(",", ": "))
        assert list(obj) == ["candidates", "usageMetadata", "modelVersion", "createTime", "responseId"]
        assert list(obj["candidates"][0])[:2] == list(rec["candidates"][0])[:2]
        assert obj["createTime"].endswith("Z") and obj["modelVersion"] == "gemini-2.5-flash"
    parts = [json.loads(e["data"])["candidates"][0]["content"]["parts"][0] for e in events]
    assert [p.get("thought", False) for p in parts] == [True] * 6 + [False] * 12


# --------------------------------------------------------------------------- Bedrock

@pytest.mark.parametrize("profile,fixture", [("fast", "bedrock_converse_stream.bin"),
                                             ("think", "bedrock_converse_reasoning.bin")])
async def test_bedrock_frames_match_the_recorded_shapes(sim, session, profile, fixture):
    reply, truth = await _get(sim, session, "bedrock", profile=profile)
    got = decode("bedrock", reply.raw)
    assert got.left_over == 0 and reply.headers["x-amzn-RequestId"]
    rec = EventStreamDecoder().feed((FIXTURES / fixture).read_bytes())
    assert _collapse(got.names) == _collapse([m.event_type for m in rec])
    rec_shapes = {}
    for m in rec:
        body = json.loads(m.payload)
        delta = body.get("delta", {})
        kind = (m.event_type, tuple(delta), tuple(delta.get("reasoningContent", {})))
        rec_shapes.setdefault(kind, (list(m.headers), _leaves_dropped(body)))
    for m, obj in zip(got.frames, got.objects):
        assert m.payload == compact(obj).encode() and obj["p"]                 # compact JSON, padded
        delta = obj.get("delta", {})
        kind = (m.event_type, tuple(delta), tuple(delta.get("reasoningContent", {})))
        assert (list(m.headers), _leaves_dropped(obj)) == rec_shapes[kind], kind
    assert got.objects[-1]["metrics"]["latencyMs"] >= 0
    blocks = [o["contentBlockIndex"] for n, o in zip(got.names, got.objects) if n == "contentBlockStop"]
    assert blocks == ([0, 1] if profile == "think" else [0])


async def test_bedrock_frames_arrive_when_the_truth_says(sim, session):
    """Each content frame reaches the client close to its recorded send time (decoded read by read)."""
    sim.add_profile(Profile("paced", ttft_ms=30, itl_ms=15, answer_tokens=8))
    reply, truth = await _get(sim, session, "bedrock", profile="paced")
    dec, arrivals = EventStreamDecoder(), []
    for t, piece in reply.reads:
        arrivals += [t for m in dec.feed(piece) if m.event_type == "contentBlockDelta"]
    assert len(arrivals) == len(truth.chunks) == 8
    for t, chunk in zip(arrivals, truth.chunks):
        assert abs(t - chunk.t_ns) < 50_000_000
    assert 30_000_000 <= truth.ttft_ns < 130_000_000


async def test_bedrock_model_id_may_be_percent_encoded_or_not(sim, session):
    arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-7-sonnet-20250219-v1:0"
    for url in (sim.bedrock_url("fast", arn), sim.base_url("fast", "bedrock") + "/model/amazon.nova-lite-v1:0"
                                                                                 "/converse-stream"):
        from .new_wires import Req
        reply = await fetch(session, Req("POST", url, {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}))
        assert reply.status == 200 and decode("bedrock", reply.raw).done
    assert "%2F" in sim.bedrock_url("fast", arn) and "%3A" in sim.bedrock_url("fast", arn)


# --------------------------------------------------------------------------- Cohere

async def test_cohere_bytes_match_the_recorded_shapes(sim, session):
    reply, _ = await _get(sim, session, "cohere", profile="fast")
    events = sse_events(reply.raw)
    rec = _fixture_events("cohere_v2_chat.sse")
    assert _collapse([e["event"] for e in events]) == _collapse([n for n, _ in rec])
    assert reply.raw.endswith(b"\n\ndata: [DONE]\n\n")
    by_type = {n: json.loads(d) for n, d in rec[:-1]}
    for e in events[:-1]:
        obj = json.loads(e["data"])
        assert e["data"] == compact(obj) and _leaves_dropped(obj) == _leaves_dropped(by_type[e["event"]])


async def test_cohere_thinking_block_comes_first(sim, session):
    reply, truth = await _get(sim, session, "cohere")
    objs = decode("cohere", reply.raw).objects
    starts = [(o["index"], o["delta"]["message"]["content"]) for o in objs if o["type"] == "content-start"]
    assert starts == [(0, {"type": "thinking", "thinking": ""}), (1, {"type": "text", "text": ""})]
    assert [o["index"] for o in objs if o["type"] == "content-end"] == [0, 1]


# --------------------------------------------------------------------------- origin documents' endpoints

async def test_chatglm_cumulative_json_strings_in_sse_starlette_framing(sim, session):
    sim.add_profile(Profile("glm", ttft_ms=5, itl_ms=1, text="你好👋!很高兴 见到你"))
    reply, _ = await _get(sim, session, "chatglm", profile="glm")
    assert reply.headers["Cache-Control"] == "no-store" and reply.headers["X-Accel-Buffering"] == "no"
    assert reply.raw.startswith('data: "你"\r\n\r\ndata: "你好"\r\n\r\ndata: "你好👋"\r\n\r\n'.encode())
    assert reply.raw.endswith('data: "你好👋!很高兴 见到你"\r\n\r\n'.encode())
    assert decode("chatglm", reply.raw).text == "你好👋!很高兴 见到你"


async def test_gin_relay_reads_the_question_from_the_query(sim, session):
    sim.add_profile(Profile("gin", ttft_ms=5, itl_ms=1, text="在远古时代\n的一个 大陆"))
    reply, truth = await _get(sim, session, "gin_relay", profile="gin", prompt="讲个故事 & more?")
    assert truth.prompt == "讲个故事 & more?"
    rec = (FIXTURES / "custom_named_events.sse").read_bytes()
    assert reply.raw.startswith("event: chat\ndata: 在\n\n".encode()) and rec.startswith(b"event: chat\ndata: ")
    assert b"event: chat\ndata: \ndata: \n\nevent: chat" in reply.raw   # gin: a newline starts another data line
    assert decode("gin_relay", reply.raw).text == "在远古时代\n的一个 大陆" and b"[DONE]" not in reply.raw
