"""Request builders and tiny decoders for each wire format, used by the simulator tests only."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

WIRES = ("openai", "llamacpp", "anthropic", "gemini", "zhipu", "ollama", "chat", "chat_stream", "chat_events")
PROVIDER_WIRES = ("openai", "llamacpp", "anthropic", "gemini", "zhipu", "ollama")
CONTENT_TYPES = {"openai": "text/event-stream; charset=utf-8", "llamacpp": "text/event-stream; charset=utf-8",
                 "anthropic": "text/event-stream; charset=utf-8", "gemini": "text/event-stream",
                 "zhipu": "text/event-stream;charset=UTF-8", "ollama": "application/x-ndjson",
                 "chat": "text/event-stream", "chat_stream": "text/event-stream", "chat_events": "text/event-stream"}
FINISH_WORDS = {"openai": ("stop", "length"), "llamacpp": ("stop", "length"), "anthropic": ("end_turn", "max_tokens"),
                "gemini": ("STOP", "MAX_TOKENS"), "zhipu": ("stop", "length"), "ollama": ("stop", "length")}


def request_for(sim: Any, profile: str, wire: str, prompt: str = "Hello 👋 how fast are you?",
                max_tokens: int | None = None, include_usage: bool = True) -> tuple[str, dict]:
    """(url, json body) of a streaming request in ``wire``'s format."""
    msgs = [{"role": "user", "content": prompt}]
    if wire == "openai":
        body: dict = {"model": "gpt-4o-mini", "messages": msgs, "stream": True}
        if include_usage:
            body["stream_options"] = {"include_usage": True}
        if max_tokens is not None:
            body["max_completion_tokens"] = max_tokens
        return sim.base_url(profile, "openai") + "/chat/completions", body
    if wire == "llamacpp":
        body = {"model": "smollm2", "messages": msgs, "stream": True}
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        return sim.base_url(profile, "llamacpp") + "/chat/completions", body
    if wire == "anthropic":
        body = {"model": "claude-sonnet-4-20250514", "max_tokens": 1024 if max_tokens is None else max_tokens,
                "messages": [{"role": "user", "content": [{"type": "text", "text": prompt}]}], "stream": True}
        return sim.base_url(profile, "anthropic") + "/v1/messages", body
    if wire == "gemini":
        body = {"contents": [{"role": "user", "parts": [{"text": prompt}]}]}
        if max_tokens is not None:
            body["generationConfig"] = {"maxOutputTokens": max_tokens}
        url = sim.base_url(profile, "gemini") + "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        return url, body
    if wire == "zhipu":
        body = {"model": "glm-4.5", "messages": msgs, "stream": True}
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        return sim.base_url(profile, "zhipu") + "/api/paas/v4/chat/completions", body
    if wire == "ollama":
        body = {"model": "llama3.2", "messages": msgs, "stream": True}
        if max_tokens is not None:
            body["options"] = {"num_predict": max_tokens}
        return sim.base_url(profile, "ollama") + "/api/chat", body
    path = {"chat": "/chat", "chat_stream": "/chat/stream", "chat_events": "/chat/events"}[wire]
    body = {"prompt": prompt, "history": [], "temperature": 0.7, "top_p": 0.9} if wire == "chat" else \
        {"prompt": prompt, "stream": True}
    if max_tokens is not None:
        body["max_new_tokens"] = max_tokens
    return sim.base_url(profile, "sse") + path, body


@dataclass
class Reply:
    status: int
    headers: Any
    raw: bytes
    reads: list[tuple[int, bytes]]          # (perf_counter_ns at arrival, bytes) per read
    payload_error: bool = False             # the body ended early (truncated transfer)

    @property
    def request_id(self) -> str:
        return self.headers["x-sim-request-id"]


async def fetch(session: aiohttp.ClientSession, url: str, body: Any = None, *, data: bytes | None = None) -> Reply:
    reads: list[tuple[int, bytes]] = []
    kwargs: dict = {"data": data} if data is not None else {"json": body}
    async with session.post(url, **kwargs) as resp:
        try:
            async for piece in resp.content.iter_any():
                reads.append((time.perf_counter_ns(), piece))
            error = False
        except aiohttp.ClientPayloadError:
            error = True
        return Reply(resp.status, resp.headers, b"".join(p for _, p in reads), reads, error)


def sse_events(raw: bytes, eol: str = "\n") -> list[dict]:
    """Strictly parse SSE written with ``eol`` line endings: every line must be known."""
    text = raw.decode("utf-8")
    blocks = text.split(eol * 2)
    assert blocks[-1] == "", f"stream does not end at an event boundary: {blocks[-1]!r}"
    events = []
    for block in blocks[:-1]:
        ev: dict = {"event": None, "data": None, "comments": []}
        data: list[str] = []
        for line in block.split(eol):
            assert "\r" not in line and "\n" not in line, f"stray line ending in {line!r}"
            if line.startswith(":"):
                ev["comments"].append(line)
            elif line.startswith("event: "):
                ev["event"] = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
            else:
                raise AssertionError(f"unexpected SSE line {line!r}")
        ev["data"] = "\n".join(data) if data else None
        events.append(ev)
    return events


@dataclass
class Decoded:
    text: str = ""
    reasoning: str = ""
    finish: str | None = None
    usage: dict | None = None
    error: Any = None
    done: bool = False                       # the format's terminal marker was seen
    objects: list = field(default_factory=list)


def decode(wire: str, raw: bytes) -> Decoded:
    """Mini adapters: enough to check what each format carries."""
    d = Decoded()
    if wire == "ollama":
        assert raw.endswith(b"\n") or not raw
        for line in raw.decode("utf-8").split("\n")[:-1]:
            obj = json.loads(line)
            d.objects.append(obj)
            if "error" in obj:
                d.error = obj["error"]
                continue
            d.text += obj["message"]["content"]
            d.reasoning += obj["message"].get("thinking", "")
            if obj["done"]:
                d.done, d.finish = True, obj["done_reason"]
                d.usage = {k: obj[k] for k in ("prompt_eval_count", "eval_count") if k in obj} or None
        return d
    for ev in sse_events(raw, "\r\n" if wire == "gemini" else "\n"):
        data = ev["data"]
        if data is None:
            continue
        if wire == "chat":
            if ev["event"] == "error":
                d.error = json.loads(data)
            else:
                assert data.startswith(d.text), "cumulative data must extend the previous one"
                d.text = data
            continue
        if wire == "chat_events":
            if ev["event"] == "error":
                d.error = json.loads(data)
            else:
                assert ev["event"] == "chat"
                d.text += data
            continue
        if data == "[DONE]":
            d.done = True
            continue
        obj = json.loads(data)
        d.objects.append(obj)
        if "error" in obj:
            d.error = obj["error"]
        elif wire == "chat_stream":
            assert obj["id"] == "msg_001"
            d.text += obj["content"]
        elif wire == "anthropic":
            assert obj["type"] == ev["event"], "data.type must equal the event name"
            if obj["type"] == "content_block_delta":
                delta = obj["delta"]
                d.text += delta.get("text", "")
                d.reasoning += delta.get("thinking", "")
            elif obj["type"] == "message_delta":
                d.finish, d.usage = obj["delta"]["stop_reason"], obj.get("usage")
            elif obj["type"] == "message_stop":
                d.done = True
        elif wire == "gemini":
            cand = obj["candidates"][0]
            for part in cand["content"]["parts"]:
                if part.get("thought"):
                    d.reasoning += part["text"]
                else:
                    d.text += part["text"]
            d.usage = obj.get("usageMetadata", d.usage)
            if "finishReason" in cand:
                d.finish, d.done = cand["finishReason"], True
        else:   # openai, llamacpp, zhipu
            for choice in obj.get("choices", []):
                delta = choice.get("delta", {})
                d.text += delta.get("content") or ""
                d.reasoning += delta.get("reasoning_content") or ""
                d.finish = choice.get("finish_reason") or d.finish
            if obj.get("usage"):
                d.usage = obj["usage"]
    return d
