"""Which wire format a simulator path speaks, what a request asks for, and the checks a provider makes
before it streams (auth header present, Azure's api-version, Gemini's ``alt=sse``).

Paths are relative to the profile: ``/{profile}/<path>``. Provider kinds (the config's contract) map
to a base URL with :data:`BASE_SUFFIX`; the adapter appends its own path to it.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Mapping
from urllib.parse import unquote

from .encoders import DEFAULT_MODELS

PATHS = ("POST /{profile}/v1/chat/completions", "POST /{profile}/llamacpp/v1/chat/completions",
         "POST /{profile}/v1/messages", "POST /{profile}/v1beta/models/{model}:streamGenerateContent?alt=sse",
         "POST /{profile}/api/paas/v4/chat/completions", "POST /{profile}/api/chat", "POST /{profile}/chat",
         "POST /{profile}/chat/stream", "POST /{profile}/chat/events", "POST /{profile}/v1/responses",
         "POST /{profile}/openai/deployments/{deployment}/chat/completions?api-version=...",
         "POST /{profile}/openai/v1/chat/completions",
         "POST /{profile}/v1/projects/{project}/locations/{location}/publishers/google/models/{model}"
         ":streamGenerateContent?alt=sse",
         "POST /{profile}/model/{modelId}/converse-stream", "POST /{profile}/v2/chat",
         "POST /{profile}/chatglm/chat", "GET /{profile}/gin/chat?question=...",
         "GET /_sim/profiles", "GET /_sim/requests?profile=NAME", "GET /_sim/requests/{id}")
# provider kind -> what follows /{profile} in its base_url
BASE_SUFFIX = {"openai": "/v1", "llamacpp": "/llamacpp/v1", "anthropic": "", "gemini": "", "zhipu": "",
               "ollama": "", "sse": "", "openai-responses": "/v1", "azure": "", "vertex": "", "bedrock": "",
               "cohere": ""}

_FIXED = {"v1/chat/completions": "openai", "llamacpp/v1/chat/completions": "llamacpp", "v1/messages": "anthropic",
          "api/paas/v4/chat/completions": "zhipu", "api/chat": "ollama", "chat": "chat",
          "chat/stream": "chat_stream", "chat/events": "chat_events", "v1/responses": "openai_responses",
          "openai/v1/chat/completions": "azure", "v2/chat": "cohere", "chatglm/chat": "chatglm"}
_GET = {"gin/chat": "gin_relay"}
_GEMINI_RE = re.compile(r"v1beta/models/([^/]+):streamGenerateContent")
_VERTEX_RE = re.compile(r"v1(?:beta1)?/projects/[^/]+/locations/[^/]+/publishers/google/models/([^/]+)"
                        r":streamGenerateContent")
_AZURE_RE = re.compile(r"openai/deployments/([^/]+)/chat/completions")
_BEDROCK_RE = re.compile(r"model/([^/]+)/converse-stream")     # on the raw path: an ARN's / comes as %2F


@dataclass(frozen=True)
class Route:
    wire: str
    model: str = ""                 # from the path: Gemini/Vertex model, Azure deployment, Bedrock model id
    method: str = "POST"
    needs_api_version: bool = False


def match_route(rest: str, raw_rest: str) -> Route | None:
    """The route of a path after ``/{profile}/`` (``rest`` decoded, ``raw_rest`` as sent)."""
    if rest in _FIXED:
        return Route(_FIXED[rest])
    if rest in _GET:
        return Route(_GET[rest], method="GET")
    if m := _GEMINI_RE.fullmatch(rest):
        return Route("gemini", m.group(1))
    if m := _VERTEX_RE.fullmatch(rest):
        return Route("vertex", m.group(1))
    if m := _AZURE_RE.fullmatch(rest):
        return Route("azure", m.group(1), needs_api_version=True)
    if m := _BEDROCK_RE.fullmatch(raw_rest):
        return Route("bedrock", unquote(m.group(1)))
    return None


class BadRequest(Exception):
    pass


def refusal(route: Route, query: Mapping[str, str], headers: Mapping[str, str]) -> tuple[int, str] | None:
    """(status, outcome) when the provider refuses before reading the body, else None."""
    if route.wire in ("gemini", "vertex") and query.get("alt") != "sse":
        raise BadRequest("the simulator streams Gemini only with ?alt=sse")
    if route.needs_api_version and not query.get("api-version"):
        return 404, "bad_request"                   # Azure: "Resource not found"
    bearer = headers.get("Authorization", "").startswith("Bearer ") and len(headers["Authorization"]) > 7
    if route.wire == "azure" and not (headers.get("api-key") or bearer):   # a key, or an Entra ID token
        return 401, "unauthorized"
    if route.wire == "vertex" and not bearer:       # an OAuth 2 access token
        return 401, "unauthorized"
    return None


@dataclass
class Parsed:
    """What the simulator takes from a request."""

    prompt: str
    max_tokens: int | None
    model: str
    include_usage: bool = False         # openai/azure: stream_options.include_usage
    reasoning_visible: bool = True      # openai_responses: reasoning.summary was asked for
    echo: dict[str, Any] = field(default_factory=dict)
    history: list[tuple[str, str]] = field(default_factory=list)   # (role, text) of every message sent


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def _int_or_none(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"{name} must be an integer")
    return value if value >= 0 else None


def _last(items: Any, name: str) -> dict[str, Any]:
    if not isinstance(items, list) or not items or not isinstance(items[-1], dict):
        raise BadRequest(f"{name} must be a non-empty list")
    last: dict[str, Any] = items[-1]
    return last


def _responses_prompt(data: dict[str, Any]) -> str:
    inp = data.get("input")
    if isinstance(inp, str):
        return inp
    users = [i for i in inp if isinstance(i, dict) and i.get("role") == "user"] if isinstance(inp, list) else []
    if not users:
        raise BadRequest("input must be a string or a list with a user message")
    return _text_of(users[-1].get("content"))


def parse_request(wire: str, body: bytes, query: Mapping[str, str]) -> Parsed:
    """Prompt, max tokens, model and format options from a request; raises BadRequest."""
    if wire == "gin_relay":         # GET: the prompt is in the query string
        question = query.get("question")
        if question is None:
            raise BadRequest("question is required")
        return Parsed(question, None, "")
    try:
        data = json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"could not parse the JSON body of the request: {exc}") from None
    if not isinstance(data, dict):
        raise BadRequest("the request body must be a JSON object")
    parsed = Parsed("", None, data["model"] if isinstance(data.get("model"), str) else "")
    if wire in ("gemini", "vertex"):
        contents: list[Any] = data.get("contents")     # type: ignore[assignment]   # checked by _last
        parsed.prompt = _text_of(_last(contents, "contents").get("parts"))
        if wire == "vertex" and any(not isinstance(c, dict) or c.get("role") not in ("user", "model")
                                    for c in contents):
            raise BadRequest("Please use a valid role: user, model.")
        gen = data.get("generationConfig") or {}
        parsed.max_tokens = _int_or_none(gen.get("maxOutputTokens"), "maxOutputTokens")
    elif wire in ("chat", "chat_stream", "chat_events", "chatglm"):
        if not isinstance(data.get("prompt"), str):
            raise BadRequest("prompt must be a string")
        parsed.prompt = data["prompt"]
        parsed.max_tokens = _int_or_none(data.get("max_new_tokens"), "max_new_tokens")
    elif wire == "openai_responses":
        parsed.prompt = _responses_prompt(data)
        parsed.max_tokens = _int_or_none(data.get("max_output_tokens"), "max_output_tokens")
        reasoning = data["reasoning"] if isinstance(data.get("reasoning"), dict) else {}
        parsed.reasoning_visible = bool(reasoning.get("summary"))
        parsed.echo = {k: data[k] for k in ("instructions", "max_output_tokens", "reasoning", "store",
                                            "temperature", "top_p") if k in data}
    elif wire == "bedrock":
        last = _last(data.get("messages"), "messages")
        if not isinstance(last.get("content"), list):
            raise BadRequest("messages.content: expected a list of content blocks")
        parsed.prompt = _text_of(last["content"])
        parsed.max_tokens = _int_or_none((data.get("inferenceConfig") or {}).get("maxTokens"), "maxTokens")
    else:   # chat-style messages: openai, llamacpp, anthropic, zhipu, ollama, azure, cohere
        parsed.prompt = _text_of(_last(data.get("messages"), "messages").get("content"))
        if wire == "anthropic" and "max_tokens" not in data:
            raise BadRequest("max_tokens: Field required")
        if wire == "ollama":
            parsed.max_tokens = _int_or_none((data.get("options") or {}).get("num_predict"), "num_predict")
        else:
            key = "max_completion_tokens" if data.get("max_completion_tokens") is not None else "max_tokens"
            parsed.max_tokens = _int_or_none(data.get(key), key)
        parsed.include_usage = wire in ("openai", "azure") and bool(
            (data.get("stream_options") or {}).get("include_usage"))
    parsed.model = parsed.model or DEFAULT_MODELS.get(wire, "")
    parsed.history = conversation(wire, data)
    return parsed


def conversation(wire: str, data: dict[str, Any]) -> list[tuple[str, str]]:
    """The messages a request carried, as (role, text) in a common shape: system, user, assistant."""
    out: list[tuple[str, str]] = []
    system = data.get("system") or data.get("instructions") or (data.get("systemInstruction") or {}).get("parts")
    if system:
        out.append(("system", _text_of(system)))
    items = data.get("messages") or data.get("contents") or data.get("input") or []
    pairs = data.get("history") if wire in ("chat", "chat_stream", "chat_events", "chatglm") else None
    for pair in pairs if isinstance(pairs, list) else []:      # ChatGLM: [[question, answer], ...]
        if isinstance(pair, list) and len(pair) == 2:
            out += [("user", str(pair[0])), ("assistant", str(pair[1]))]
    for m in items if isinstance(items, list) else []:
        if not isinstance(m, dict):
            continue
        role = {"model": "assistant"}.get(str(m.get("role")), str(m.get("role")))
        out.append((role, _text_of(m.get("content", m.get("parts")))))
    if wire in ("chat", "chat_stream", "chat_events", "chatglm") and isinstance(data.get("prompt"), str):
        out.append(("user", data["prompt"]))
    return out
