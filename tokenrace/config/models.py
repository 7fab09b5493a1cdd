"""Typed configuration. The loader (``loader.py``) builds these from YAML; nothing here does I/O."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Literal
from urllib.parse import parse_qsl, urlsplit

from ..secrets import Redactor, sensitive_header

KINDS = ("openai", "openai-responses", "anthropic", "gemini", "zhipu", "ollama", "azure", "bedrock", "cohere", "sse")

DEFAULT_BASE_URLS: dict[str, str | None] = {
    "openai": "https://api.openai.com/v1",
    "openai-responses": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
    "gemini": "https://generativelanguage.googleapis.com",
    "zhipu": "https://open.bigmodel.cn",
    "ollama": "http://127.0.0.1:11434",
    "azure": None,    # https://RESOURCE.openai.azure.com: the resource is yours to name
    "bedrock": None,  # https://bedrock-runtime.{region}.amazonaws.com, from the region
    "cohere": "https://api.cohere.com",
    "sse": None,      # no sensible default: a home-made endpoint must name its URL
}
# the environment variable each kind's starter config and the README use for its key
KEY_ENV = {"openai": "OPENAI_API_KEY", "openai-responses": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY",
           "gemini": "GEMINI_API_KEY", "zhipu": "ZHIPU_API_KEY", "azure": "AZURE_OPENAI_API_KEY",
           "bedrock": "AWS_BEARER_TOKEN_BEDROCK", "cohere": "CO_API_KEY"}


class Secret:
    """An API key. ``str()``/``repr()`` never show it; only :meth:`reveal` does."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = lambda self: "***"  # noqa: E731

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class Timeouts:
    """Seconds. ``read`` is the longest silence allowed mid-stream; ``total`` bounds the whole request."""

    connect: float = 10.0
    read: float = 60.0
    total: float = 600.0


@dataclass(frozen=True)
class SSEEndpoint:
    """How to talk to a home-made SSE endpoint (``kind: sse``).

    ``body`` is a JSON template: any string value equal to ``"{prompt}"`` becomes the
    prompt, ``"{messages}"`` becomes the chat messages list, and ``{prompt}`` inside a
    longer string is substituted as text.
    """

    path: str = ""                                   # appended to base_url, e.g. /chat/stream
    method: str = "POST"
    body: Any = field(default_factory=lambda: {"prompt": "{prompt}", "stream": True})
    text_path: str | None = "content"                # dotted path into the JSON data; None: data is plain text
    mode: Literal["delta", "cumulative"] = "delta"
    done: str | None = "[DONE]"                      # data value that ends the stream (None: stream ends on close)
    event: str | None = None                         # only events with this name carry text
    error_path: str | None = "error"                 # JSON key whose presence marks an error event


@dataclass(frozen=True)
class Price:
    """USD per million tokens (the provider's list price); ``cached_input`` for prompt-cache reads."""

    input: float
    output: float
    cached_input: float | None = None

    def cost(self, input_tokens: int, output_tokens: int, cached_input_tokens: int = 0) -> float:
        cached = min(max(cached_input_tokens, 0), input_tokens)
        cached_rate = self.input if self.cached_input is None else self.cached_input
        return ((input_tokens - cached) * self.input + cached * cached_rate + output_tokens * self.output) / 1e6


@dataclass(frozen=True)
class VertexTarget:
    """Vertex AI for kind gemini: the Google Cloud project and location (``global`` has no region)."""

    project: str
    location: str = "us-central1"

    def host(self) -> str:
        return "https://aiplatform.googleapis.com" if self.location == "global" else \
            f"https://{self.location}-aiplatform.googleapis.com"


@dataclass(frozen=True)
class ProviderConfig:
    """One provider: a label, a wire format, a model and how to reach it."""

    name: str                                        # unique label shown everywhere
    kind: str                                        # one of KINDS
    model: str = ""
    base_url: str = ""                               # filled with the kind's default by the loader
    api_key: Secret | None = None
    params: dict[str, Any] = field(default_factory=dict)   # merged into the request body
    headers: dict[str, str] = field(default_factory=dict, repr=False)  # extra request headers (values may be secrets: never shown)
    timeout: Timeouts = field(default_factory=Timeouts)
    retries: int = 2                                 # retries before any output on 408/429/5xx/connect errors
    auth: Literal["key", "jwt"] = "key"              # zhipu: send the raw key or a JWT made from it
    endpoint: SSEEndpoint | None = None              # kind: sse only
    deployment: str | None = None                    # azure: the deployment (None: the v1 API, model = deployment)
    api_version: str | None = None                   # azure: the api-version with a deployment
    vertex: VertexTarget | None = None               # gemini: reach Vertex AI instead of the Gemini API
    region: str | None = None                        # bedrock: the AWS region (default $AWS_REGION, us-east-1)
    api_key_command: tuple[str, ...] | None = None   # run (no shell) to get the key; re-run after a 401
    price: Price | None = None                       # USD per million tokens: every result gets cost_usd
    unavailable: str | None = None                   # set when the provider cannot run (e.g. missing env var)
    line: int | None = None                          # where it was defined, for error messages
    secrets: tuple[Secret, ...] = field(default=(), repr=False, compare=False)  # ${VAR} values used in it

    def secret_values(self) -> Iterator[str]:
        """Every value of this provider that must never be shown: the key, ${VAR} values, secret headers
        (and the token after a scheme such as ``Bearer``), credentials and key-like query values in base_url."""
        if self.api_key:
            yield self.api_key.reveal()
        yield from (s.reveal() for s in self.secrets)
        yield from _header_secrets(self.headers)
        yield from _url_secrets(self.base_url)

    def public(self) -> dict[str, str]:
        """What may be shown to a browser, the TUI, a log or a report."""
        return {"name": self.name, "kind": self.kind, "model": self.model}


def _header_secrets(headers: Any) -> Iterator[str]:
    if not isinstance(headers, dict):
        return
    for name, value in headers.items():
        if isinstance(value, str) and sensitive_header(str(name)):
            yield value
            yield value.split()[-1] if value.split() else value     # "Bearer <token>": the token alone too


def _url_secrets(url: str) -> Iterator[str]:
    if not url or "://" not in url:
        return
    parts = urlsplit(url)
    if parts.username:
        yield parts.username
    if parts.password:
        yield parts.password
    for k, v in parse_qsl(parts.query):
        if sensitive_header(k):
            yield v


@dataclass(frozen=True)
class Config:
    providers: tuple[ProviderConfig, ...]
    defaults: dict[str, Any] = field(default_factory=dict, repr=False)   # e.g. {"params": {...}}; may hold headers
    source: str | None = None                        # the file it came from; None for the built-in default
    builtin: bool = False                            # True: the built-in simulator providers
    secrets: tuple[Secret, ...] = field(default=(), repr=False, compare=False)  # ${VAR} values in defaults
    # every secret of this config; the engine redacts upstream text with it (shared: a key fetched at
    # run time is added here, and every consumer of the config is covered)
    redactor: Redactor = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        red = Redactor()
        for p in self.providers:
            for value in p.secret_values():
                red.add(value)
        for s in self.secrets:
            red.add(s.reveal())
        for value in _header_secrets(self.defaults.get("headers")):
            red.add(value)
        object.__setattr__(self, "redactor", red)

    def provider(self, name: str) -> ProviderConfig:
        for p in self.providers:
            if p.name == name:
                return p
        raise KeyError(name)

    def select(self, names: list[str] | None) -> tuple[ProviderConfig, ...]:
        """The named providers in config order (all when ``names`` is empty)."""
        if not names:
            return self.providers
        known = {p.name for p in self.providers}
        unknown = [n for n in names if n not in known]
        if unknown:
            from ..errors import UsageError
            from .validate import suggest
            named = ", ".join(repr(n) + suggest(n, sorted(known)) for n in unknown)
            raise UsageError(f"unknown provider {named}; configured: {', '.join(sorted(known))}")
        return tuple(p for p in self.providers if p.name in names)
