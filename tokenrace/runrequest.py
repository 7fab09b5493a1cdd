"""A race request, validated in one place for every consumer.

The server's ``POST /api/runs`` body, ``tokenrace run``'s flags, the TUI's prompt box and a bench
scenario's params all go through :func:`validate` / :func:`check_params`, so a limit or a rule
lands once. A refusal is a :class:`RequestError` naming the field; ``status`` is the HTTP status the
server answers with (the terminal commands print the message and exit 2).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from .config.models import Config, ProviderConfig
from .config.validate import suggest
from .errors import TokenraceError
from .request import ChatRequest

BODY_FIELDS = ("prompt", "providers", "params", "parent")
PARAMS = ("max_tokens", "temperature", "top_p", "stop", "system")


class RequestError(TokenraceError):
    """A request that is refused; ``status`` is the HTTP status for it, ``field`` what was wrong."""

    def __init__(self, message: str, status: int = 400, field: str | None = None) -> None:
        super().__init__(message)
        self.message, self.status, self.field = message, status, field


@dataclass(frozen=True)
class Limits:
    """What one request may ask for (the server's flags set them; the defaults suit a laptop)."""

    max_prompt_chars: int = 100_000      # the system prompt has the same limit
    max_providers: int = 16
    max_tokens: int = 200_000            # above any model's output limit today
    max_stop: int = 16                   # stop sequences
    max_stop_chars: int = 1_000          # per stop sequence
    metrics_interval_s: float = 0.25     # live figures: at most ~4 a second per provider


@dataclass(frozen=True)
class RunRequest:
    """A validated race: the prompt, the chosen providers (in the order asked), generic params."""

    prompt: str
    providers: tuple[ProviderConfig, ...]
    params: Mapping[str, Any] = field(default_factory=dict)    # max_tokens, temperature, top_p, stop
    system: str | None = None
    parent: str | None = None          # the run this one follows up (a conversation); see thread.py
    history: Mapping[str, tuple[dict[str, str], ...]] = field(default_factory=dict)   # per provider

    def shown_params(self) -> dict[str, Any]:
        """The params as stored and shown (``system`` among them, as the API takes it)."""
        out = dict(self.params)
        if self.system is not None:
            out["system"] = self.system
        return out

    def chat(self, provider: str | None = None) -> ChatRequest:
        """What ``provider`` is sent: the system prompt, its own history in this thread, the prompt."""
        msgs: list[dict[str, Any]] = [{"role": "system", "content": self.system}] if self.system else []
        msgs += [dict(m) for m in self.history.get(provider or "", ())]
        msgs.append({"role": "user", "content": self.prompt})
        return ChatRequest(tuple(msgs), dict(self.params))

    def chats(self) -> dict[str, ChatRequest]:
        return {p.name: self.chat(p.name) for p in self.providers}


def validate(body: Any, config: Config, limits: Limits | None = None) -> RunRequest:
    """``{"prompt": str, "providers": [names] | null, "params": {...} | null}`` -> a :class:`RunRequest`."""
    limits = limits or Limits()
    if not isinstance(body, dict):
        raise RequestError('the body must be a JSON object: {"prompt": "...", "providers": [...], "params": {...}}')
    unknown = sorted(set(body) - set(BODY_FIELDS))
    if unknown:
        raise RequestError(f"unknown field(s) {', '.join(map(repr, unknown))}; expected prompt, providers, params, "
                           f"parent")
    parent = body.get("parent")
    if parent is not None and (not isinstance(parent, str) or not parent.strip() or len(parent) > 100):
        raise RequestError('"parent" must be the id of the run to continue', field="parent")
    prompt = check_text(body.get("prompt"), "prompt", limits)
    providers = select(config, body.get("providers"), limits)
    raw = body.get("params")
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise RequestError('"params" must be a JSON object', field="params")
    params = check_params(raw, limits)
    system = params.pop("system", None)
    return RunRequest(prompt, providers, params, system, parent)


def check_text(value: Any, name: str, limits: Limits) -> str:
    """A prompt (or system prompt): a non-blank string within the length limit."""
    if not isinstance(value, str):
        raise RequestError(f'"{name}" must be a string', field=name)
    if not value.strip():
        raise RequestError(f"the {name} is empty", field=name)
    if len(value) > limits.max_prompt_chars:
        raise RequestError(f"the {name} has {len(value)} characters; the limit is {limits.max_prompt_chars} "
                           f"(serve --max-prompt-chars)", status=413, field=name)
    return value


def select(config: Config, names: Any, limits: Limits | None = None) -> tuple[ProviderConfig, ...]:
    """The named providers in the order asked (every configured one for ``None``)."""
    limits = limits or Limits()
    configured = [p.name for p in config.providers]
    if names is None:
        names = configured
    elif not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise RequestError('"providers" must be a list of provider names', field="providers")
    if not names:
        raise RequestError("no provider selected" + ("" if configured else " (none is configured)"),
                           field="providers")
    if len(set(names)) != len(names):
        raise RequestError('a provider is named twice in "providers"', field="providers")
    missing = [n for n in names if n not in configured]
    if missing:
        named = ", ".join(repr(n) + suggest(n, configured) for n in missing)
        raise RequestError(f"unknown provider {named}; configured: {', '.join(configured)}",
                           field="providers")
    if len(names) > limits.max_providers:
        raise RequestError(f"{len(names)} providers selected; at most {limits.max_providers} per run "
                           f"(serve --max-providers)", field="providers")
    by_name = {p.name: p for p in config.providers}
    return tuple(by_name[n] for n in names)


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def check_params(params: Mapping[str, Any], limits: Limits | None = None,
                 allowed: Sequence[str] = PARAMS) -> dict[str, Any]:
    """Generic params, checked: known names, right types, finite numbers, sane bounds. ``None`` values
    are dropped (not set)."""
    limits = limits or Limits()
    out: dict[str, Any] = {}
    for k, v in params.items():
        if k not in allowed:
            raise RequestError(f"unknown param {k!r}; allowed: {', '.join(allowed)}", field=f"params.{k}")
        if v is None:
            continue
        where = f"params.{k}"
        if k == "max_tokens":
            if isinstance(v, bool) or not isinstance(v, int):
                raise RequestError(f"param 'max_tokens' has the wrong type ({type(v).__name__}); "
                                   f"it must be an integer", field=where)
            if v < 1:
                raise RequestError("param 'max_tokens' must be at least 1", field=where)
            if v > limits.max_tokens:
                raise RequestError(f"param 'max_tokens' is {v}; at most {limits.max_tokens}", field=where)
        elif k in ("temperature", "top_p"):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise RequestError(f"param {k!r} has the wrong type ({type(v).__name__}); it must be a number",
                                   field=where)
            if not _finite(v):
                raise RequestError(f"param {k!r} must be a finite number", field=where)
            top = 2.0 if k == "temperature" else 1.0
            if not 0 <= v <= top:
                raise RequestError(f"param {k!r} is {v}; it must be within 0..{top:g}", field=where)
        elif k == "stop":
            items = [v] if isinstance(v, str) else v
            if not isinstance(items, list) or not all(isinstance(s, str) for s in items):
                raise RequestError(f"param 'stop' has the wrong type ({type(v).__name__}); it must be a string "
                                   f"or a list of strings", field=where)
            if len(items) > limits.max_stop:
                raise RequestError(f"param 'stop' has {len(items)} items; at most {limits.max_stop}", field=where)
            if any(len(s) > limits.max_stop_chars or not s for s in items):
                raise RequestError(f"param 'stop': each item must be 1..{limits.max_stop_chars} characters",
                                   field=where)
        elif k == "system":
            if not isinstance(v, str):
                raise RequestError(f"param 'system' has the wrong type ({type(v).__name__}); it must be a string",
                                   field=where)
            if len(v) > limits.max_prompt_chars:
                raise RequestError(f"the system prompt has {len(v)} characters; the limit is "
                                   f"{limits.max_prompt_chars} (serve --max-prompt-chars)", status=413, field=where)
            if not v.strip():
                continue                      # a blank system prompt is no system prompt
        out[k] = v
    return out
