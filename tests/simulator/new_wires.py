"""Requests and mini decoders for the wires added with issue 10 (Responses, Azure, Vertex, Bedrock, Cohere,
ChatGLM, gin relay), used by the simulator tests only. Decoders are strict: unknown lines fail."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp

from tokenrace.eventstream import EventStreamDecoder, Message

from .helpers import Reply, decode as decode_old, sse_events

NEW_WIRES = ("openai_responses", "azure", "azure_v1", "vertex", "bedrock", "cohere", "chatglm", "gin_relay")
CONTENT_TYPES = {"openai_responses": "text/event-stream; charset=utf-8", "azure": "text/event-stream; charset=utf-8",
                 "azure_v1": "text/event-stream; charset=utf-8", "vertex": "text/event-stream",
                 "bedrock": "application/vnd.amazon.eventstream", "cohere": "text/event-stream",
                 "chatglm": "text/event-stream; charset=utf-8", "gin_relay": "text/event-stream;charset=utf-8"}
FINISH_WORDS = {"openai_responses": ("completed", "max_output_tokens", "content_filter"),
                "azure": ("stop", "length", "content_filter"), "azure_v1": ("stop", "length", "content_filter"),
                "vertex": ("STOP", "MAX_TOKENS", "SAFETY"), "bedrock": ("end_turn", "max_tokens", "content_filtered"),
                "cohere": ("COMPLETE", "MAX_TOKENS", "COMPLETE")}
REASONING = ("openai_responses", "vertex", "bedrock", "cohere")     # can carry reasoning text
BEDROCK_MODEL = "anthropic.claude-sonnet-4-5-20250929-v1:0"


@dataclass
class Req:
    method: str
    url: str
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def request_for(sim: Any, profile: str, wire: str, prompt: str = "Hello 👋 how fast are you?",
                max_tokens: int | None = None, summary: bool = True) -> Req:
    """A streaming request in ``wire``'s format, as its official client sends it."""
    msgs = [{"role": "user", "content": prompt}]
    if wire == "openai_responses":
        body: dict = {"model": "o4-mini", "input": [{"role": "user", "content": [{"type": "input_text",
                                                                                   "text": prompt}]}],
                      "stream": True, "store": False}
        if summary:
            body["reasoning"] = {"effort": "medium", "summary": "auto"}
        if max_tokens is not None:
            body["max_output_tokens"] = max_tokens
        return Req("POST", sim.base_url(profile, "openai-responses") + "/responses", body,
                   {"Authorization": "Bearer sk-sim"})
    if wire in ("azure", "azure_v1"):
        body = {"messages": msgs, "stream": True, "stream_options": {"include_usage": True}}
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        if wire == "azure":
            url = sim.base_url(profile, "azure") + "/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21"
        else:
            url, body["model"] = sim.base_url(profile, "azure") + "/openai/v1/chat/completions", "gpt4o-prod"
        return Req("POST", url, body, {"api-key": "sim-azure-key"})
    if wire == "vertex":
        body = {"contents": [{"role": "user", "parts": [{"text": prompt}]}]}
        if max_tokens is not None:
            body["generationConfig"] = {"maxOutputTokens": max_tokens}
        return Req("POST", sim.vertex_url(profile, "gemini-2.5-flash"), body, {"Authorization": "Bearer ya29.sim"})
    if wire == "bedrock":
        body = {"messages": [{"role": "user", "content": [{"text": prompt}]}], "system": [{"text": "Be brief."}]}
        if max_tokens is not None:
            body["inferenceConfig"] = {"maxTokens": max_tokens}
        return Req("POST", sim.bedrock_url(profile, BEDROCK_MODEL), body, {"Authorization": "Bearer bedrock-key"})
    if wire == "cohere":
        body = {"model": "command-a-03-2025", "messages": msgs, "stream": True}
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        return Req("POST", sim.base_url(profile, "cohere") + "/v2/chat", body, {"Authorization": "Bearer co-sim"})
    if wire == "chatglm":
        body = {"prompt": prompt, "history": [], "temperature": 0.7, "top_p": 0.9}
        if max_tokens is not None:
            body["max_new_tokens"] = max_tokens
        return Req("POST", sim.base_url(profile, "sse") + "/chatglm/chat", body)
    assert wire == "gin_relay"
    return Req("GET", sim.base_url(profile, "sse") + "/gin/chat?question=" + quote(prompt, safe=""))


async def fetch(session: aiohttp.ClientSession, req: Req, *, data: bytes | None = None) -> Reply:
    reads: list[tuple[int, bytes]] = []
    kwargs: dict = {"data": data} if data is not None else {} if req.body is None else {"json": req.body}
    async with session.request(req.method, req.url, headers=req.headers, **kwargs) as resp:
        try:
            async for piece in resp.content.iter_any():
                reads.append((time.perf_counter_ns(), piece))
            error = False
        except aiohttp.ClientPayloadError:
            error = True
        return Reply(resp.status, resp.headers, b"".join(p for _, p in reads), reads, error)


@dataclass
class Got:
    text: str = ""
    reasoning: str = ""
    finish: str | None = None
    usage: Any = None
    error: Any = None
    done: bool = False                      # the format's terminal marker was seen
    content_events: int = 0                 # events that carried answer or reasoning text
    names: list[str] = field(default_factory=list)          # event names / types in order
    objects: list[Any] = field(default_factory=list)        # parsed payloads in order
    frames: list[Message] = field(default_factory=list)     # bedrock only
    left_over: int = 0                      # bedrock: bytes of an unfinished frame at the end


def decode(wire: str, raw: bytes) -> Got:
    g = Got()
    if wire == "bedrock":
        dec = EventStreamDecoder()
        g.frames = dec.feed(raw)
        g.left_over = dec.close()
        for m in g.frames:
            obj = json.loads(m.payload)
            g.objects.append(obj)
            if m.message_type == "exception":
                g.names.append(f"!{m.exception_type}")
                g.error = obj
                continue
            assert m.message_type == "event" and m.content_type == "application/json"
            g.names.append(m.event_type or "")
            if m.event_type == "contentBlockDelta":
                d = obj["delta"]
                if "text" in d:
                    g.text += d["text"]
                    g.content_events += 1
                elif "text" in d.get("reasoningContent", {}):
                    g.reasoning += d["reasoningContent"]["text"]
                    g.content_events += 1
            elif m.event_type == "messageStop":
                g.finish = obj["stopReason"]
            elif m.event_type == "metadata":
                g.usage, g.done = obj["usage"], True
        return g
    if wire == "vertex":
        old = decode_old("gemini", raw)
        g.text, g.reasoning, g.finish, g.usage, g.done = old.text, old.reasoning, old.finish, old.usage, old.done
        g.error, g.objects = old.error, old.objects
        g.content_events = sum(1 for o in old.objects if "candidates" in o and any(
            p.get("text") for p in o["candidates"][0]["content"]["parts"]))
        return g
    for ev in sse_events(raw, "\r\n" if wire == "chatglm" else "\n"):
        name, data = ev["event"], ev["data"]
        assert data is not None and not ev["comments"]
        g.names.append(name or "")
        if wire == "chatglm":
            if name == "error":
                g.error = json.loads(data)
                continue
            sofar = json.loads(data)
            assert isinstance(sofar, str) and sofar.startswith(g.text), "cumulative: each event extends the last"
            g.text, g.content_events = sofar, g.content_events + 1
        elif wire == "gin_relay":
            if name == "error":
                g.error = data
            else:
                assert name == "chat"
                g.text += data
                g.content_events += 1
        elif data == "[DONE]":
            assert name is None
            g.done = g.done or wire in ("azure", "azure_v1")
        elif wire == "openai_responses":
            _responses(g, name, json.loads(data))
        elif wire == "cohere":
            _cohere(g, name, json.loads(data))
        else:
            _azure(g, json.loads(data))
    return g


def _responses(g: Got, name: str | None, obj: dict) -> None:
    assert obj["type"] == name, "event: must equal data.type"
    assert obj["sequence_number"] == len(g.objects), "sequence_number counts from 0 without gaps"
    g.objects.append(obj)
    if name == "response.output_text.delta":
        g.text += obj["delta"]
        g.content_events += 1
    elif name == "response.reasoning_summary_text.delta":
        g.reasoning += obj["delta"]
        g.content_events += 1
    elif name in ("response.completed", "response.incomplete"):
        resp = obj["response"]
        g.done, g.usage = True, resp["usage"]
        g.finish = resp["status"] if name == "response.completed" else resp["incomplete_details"]["reason"]
    elif name == "response.failed":
        g.error = obj["response"]["error"]
    elif name == "error":
        g.error = g.error or obj["error"]


def _cohere(g: Got, name: str | None, obj: dict) -> None:
    assert obj["type"] == name, "event: must equal data.type"
    g.objects.append(obj)
    if name == "content-delta":
        content = obj["delta"]["message"]["content"]
        g.text += content.get("text", "")
        g.reasoning += content.get("thinking", "")
        g.content_events += 1
    elif name == "message-end":
        delta = obj["delta"]
        g.usage, g.done = delta["usage"], True
        if delta["finish_reason"] == "ERROR":
            g.error = delta["error"]
        else:
            g.finish = delta["finish_reason"]


def _azure(g: Got, obj: dict) -> None:
    g.objects.append(obj)
    if "error" in obj:
        g.error = obj["error"]
        return
    for choice in obj["choices"]:
        content = choice.get("delta", {}).get("content")
        if content:
            g.text += content
            g.content_events += 1
        g.finish = choice["finish_reason"] or g.finish
    if obj.get("usage"):
        g.usage = obj["usage"]


def key_shape(obj: Any) -> Any:
    """The key order of ``obj`` all the way down (values dropped), to compare shapes with a fixture."""
    if isinstance(obj, dict):
        return [(k, key_shape(v)) for k, v in obj.items()]
    if isinstance(obj, list):
        return [key_shape(v) for v in obj]
    return type(obj).__name__ if obj is not None else None


def compact(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
