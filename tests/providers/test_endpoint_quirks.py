"""What the origin documents' home-made endpoints need from the configurable adapter, and the quirks
of OpenAI-compatible servers: JSON-string data, joined parts, the prompt in a GET query, a default body
key taken away, and a finish reason that ends a stream without [DONE]."""
from __future__ import annotations

import json
from urllib.parse import parse_qs

from tokenrace.config.models import ProviderConfig, SSEEndpoint
from tokenrace.metrics import compute
from tokenrace.providers.stream import stream_provider
from tokenrace.request import ChatRequest

from ..conftest import Reply


def sse(*datas: str) -> bytes:
    return "".join(f"data: {d}\n\n" for d in datas).encode()


async def run(replay, http_client, cfg: ProviderConfig, prompt: str = "hi"):
    events: list = []
    await stream_provider(http_client, cfg, ChatRequest.from_prompt(prompt), events.append)
    return compute(events)


def custom(replay, **ep) -> ProviderConfig:
    return ProviderConfig(name="c", kind="sse", base_url=replay.url, retries=0, endpoint=SSEEndpoint(**ep))


async def test_json_string_data_cumulative_with_an_empty_first_event(replay, http_client):
    """sse_starlette servers write the whole answer so far as a JSON string: no quotes in the text,
    no "text changed" notices, and TTFT from the first non-empty event."""
    replay.reply = Reply(sse('""', '"你"', '"你好"', '"你好\\n👋"', '"你好\\n👋!"'), piece=0)
    r = await run(replay, http_client, custom(replay, path="/chat", text_path="$", mode="cumulative", done=None))
    assert r.status == "ok" and r.text == "你好\n👋!" and not r.notices and r.chunks == 1


async def test_a_star_joins_every_part(replay, http_client):
    replay.reply = Reply(sse(json.dumps({"content": [{"text": "Hel"}, {"skip": 1}, {"text": "lo"}]}),
                             json.dumps({"content": [{"text": " world"}]}), "[DONE]"))
    r = await run(replay, http_client, custom(replay, path="/x", text_path="content.*.text"))
    assert r.status == "ok" and r.text == "Hello world"


async def test_the_prompt_goes_url_encoded_into_a_get_path(replay, http_client):
    replay.reply = Reply(b"event: chat\ndata: ok\n\n")
    cfg = custom(replay, path="/relay?question={prompt}&lang=zh", method="GET", text_path=None, event="chat",
                 done=None)
    r = await run(replay, http_client, cfg, prompt="what is 1+1? & 你好")
    assert r.text == "ok"
    req = replay.requests[-1]
    path, _, query = req["path"].partition("?")
    assert path == "/relay" and parse_qs(query) == {"question": ["what is 1+1? & 你好"], "lang": ["zh"]}
    assert "%2B" in query and req["body"] == b""          # a + in the prompt is not a space


async def test_a_null_param_takes_a_default_body_key_away(replay, http_client):
    replay.reply = Reply(sse(json.dumps({"choices": [{"index": 0, "delta": {"content": "x"}}]}), "[DONE]"))
    cfg = ProviderConfig(name="old", kind="openai", model="m", base_url=replay.url, retries=0,
                         params={"stream_options": None, "temperature": None, "seed": 1})
    r = await run(replay, http_client, cfg)
    body = json.loads(replay.requests[-1]["body"])
    assert r.status == "ok" and "stream_options" not in body and "temperature" not in body and body["seed"] == 1


async def test_a_finish_reason_ends_a_stream_that_never_sends_done(replay, http_client):
    replay.reply = Reply(sse(json.dumps({"choices": [{"index": 0, "delta": {"content": "All"}}]}),
                             json.dumps({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})))
    r = await run(replay, http_client, ProviderConfig(name="o", kind="openai", model="m", base_url=replay.url,
                                                      retries=0))
    assert r.status == "ok" and r.finish_reason == "stop" and r.text == "All"
    assert any("finish reason 'stop'" in n and "[DONE]" in n for n in r.notices)
