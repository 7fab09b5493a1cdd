"""The simulator's HTTP server (aiohttp.web on loopback) and its ground truth.

The URL's first path segment selects a :class:`Profile` (timing, text, faults); the rest selects
the wire format. Every content chunk is written on its own and timestamped with
``time.perf_counter_ns()`` right after the write, so tests can compare measurements to the truth.
"""
from __future__ import annotations

import asyncio
import itertools
import json
import logging
import re
import signal
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Iterable

from aiohttp import web

from .errors import error_response, fault_response
from .encoders import make_encoder
from .formats import DEFAULT_MODELS, REASONING_WIRES, StreamContext
from .profiles import DEFAULT_PROFILES, Profile, plan_stream, prompt_token_count

log = logging.getLogger("tokenrace.simulator")

_ROUTES = {"v1/chat/completions": "openai", "llamacpp/v1/chat/completions": "llamacpp", "v1/messages": "anthropic",
           "api/paas/v4/chat/completions": "zhipu", "api/chat": "ollama", "chat": "chat",
           "chat/stream": "chat_stream", "chat/events": "chat_events"}
_GEMINI_RE = re.compile(r"v1beta/models/([^/]+):streamGenerateContent")
PATHS = ("POST /{profile}/v1/chat/completions", "POST /{profile}/llamacpp/v1/chat/completions",
         "POST /{profile}/v1/messages", "POST /{profile}/v1beta/models/{model}:streamGenerateContent?alt=sse",
         "POST /{profile}/api/paas/v4/chat/completions", "POST /{profile}/api/chat", "POST /{profile}/chat",
         "POST /{profile}/chat/stream", "POST /{profile}/chat/events", "GET /_sim/profiles",
         "GET /_sim/requests?profile=NAME", "GET /_sim/requests/{id}")
BASE_SUFFIX = {"openai": "/v1", "llamacpp": "/llamacpp/v1", "anthropic": "", "gemini": "", "zhipu": "",
               "ollama": "", "sse": ""}


@dataclass
class ChunkTruth:
    t_ns: int           # perf_counter_ns() right after the chunk's bytes were written
    text: str           # answer text in this chunk ("" if none)
    reasoning: str      # reasoning text in this chunk
    tokens: int         # tokens in this chunk (answer + reasoning)


@dataclass
class RequestTruth:
    """What the simulator really did for one request."""

    request_id: str                 # also the response header x-sim-request-id
    profile: str
    wire: str                       # openai|llamacpp|anthropic|gemini|zhipu|ollama|chat|chat_stream|chat_events
    t_received_ns: int              # request (headers + body) fully received, before any sleep
    status: int = 0
    chunks: list[ChunkTruth] = field(default_factory=list)
    t_end_ns: int | None = None
    text: str = ""
    reasoning: str = ""
    output_tokens: int = 0          # answer tokens sent
    reasoning_tokens: int = 0       # reasoning tokens sent
    fault: str | None = None        # the fault kind applied to this request, if any
    done: bool = False              # the response is complete (or the client went away)
    prompt: str = ""
    max_tokens: int | None = None
    finish_reason: str | None = None    # "stop" | "length" when the stream finished normally
    outcome: str = "pending"        # ok|http_error|bad_request|error_after|truncated|client_gone|stopped
    t_headers_ns: int | None = None
    finished: asyncio.Event = field(default_factory=asyncio.Event, repr=False, compare=False)

    @property
    def ttft_ns(self) -> int | None:
        """First chunk with answer text, from t_received."""
        return next((c.t_ns - self.t_received_ns for c in self.chunks if c.text), None)

    @property
    def ttft_any_ns(self) -> int | None:
        """First chunk with any content (reasoning included), from t_received."""
        return next((c.t_ns - self.t_received_ns for c in self.chunks if c.tokens), None)

    @property
    def itl_ns(self) -> list[int]:
        """Gaps between consecutive content chunks."""
        ts = [c.t_ns for c in self.chunks if c.tokens]
        return [b - a for a, b in zip(ts, ts[1:])]

    def _finish(self) -> None:
        if not self.done:
            self.t_end_ns = time.perf_counter_ns()
            self.done = True
            self.finished.set()

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("finished", "chunks")}
        d["chunks"] = [asdict(c) for c in self.chunks]
        d.update(ttft_ns=self.ttft_ns, ttft_any_ns=self.ttft_any_ns, itl_ns=self.itl_ns)
        return d


class _BadRequest(Exception):
    pass


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
        raise _BadRequest(f"{name} must be an integer")
    return value if value >= 0 else None


def parse_request(wire: str, body: bytes) -> tuple[str, int | None, bool, str]:
    """(prompt, max_tokens, include_usage, model) from a request body; raises _BadRequest."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise _BadRequest(f"could not parse the JSON body of the request: {exc}") from None
    if not isinstance(data, dict):
        raise _BadRequest("the request body must be a JSON object")
    if wire == "gemini":
        contents = data.get("contents")
        if not isinstance(contents, list) or not contents or not isinstance(contents[-1], dict):
            raise _BadRequest("contents must be a non-empty list")
        prompt = _text_of(contents[-1].get("parts"))
        max_tokens = _int_or_none((data.get("generationConfig") or {}).get("maxOutputTokens"), "maxOutputTokens")
    elif wire in ("chat", "chat_stream", "chat_events"):
        prompt = data.get("prompt")
        if not isinstance(prompt, str):
            raise _BadRequest("prompt must be a string")
        max_tokens = _int_or_none(data.get("max_new_tokens"), "max_new_tokens")
    else:
        msgs = data.get("messages")
        if not isinstance(msgs, list) or not msgs or not isinstance(msgs[-1], dict):
            raise _BadRequest("messages must be a non-empty list")
        prompt = _text_of(msgs[-1].get("content"))
        if wire == "anthropic" and "max_tokens" not in data:
            raise _BadRequest("max_tokens: Field required")
        if wire == "ollama":
            max_tokens = _int_or_none((data.get("options") or {}).get("num_predict"), "num_predict")
        else:
            key = "max_completion_tokens" if data.get("max_completion_tokens") is not None else "max_tokens"
            max_tokens = _int_or_none(data.get(key), key)
    include_usage = wire == "openai" and bool((data.get("stream_options") or {}).get("include_usage"))
    model = data.get("model") if isinstance(data.get("model"), str) and data.get("model") else ""
    return prompt, max_tokens, include_usage, model or DEFAULT_MODELS.get(wire, "")


def _json(obj: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=json.dumps(obj, ensure_ascii=False).encode(),
                        headers={"Content-Type": "application/json; charset=utf-8"})


class Simulator:
    """A real HTTP server speaking each provider's wire format with set timing and faults."""

    def __init__(self, profiles: Iterable[Profile] = DEFAULT_PROFILES, host: str = "127.0.0.1", port: int = 0) -> None:
        self.profiles: dict[str, Profile] = {p.name: p for p in profiles}
        self.host, self.port = host, port
        self.url = ""
        self.truths: list[RequestTruth] = []
        self._by_id: dict[str, RequestTruth] = {}
        self._counts: dict[str, int] = {}
        self._ids = itertools.count(1)
        self._active: set[asyncio.Task] = set()
        self._runner: web.AppRunner | None = None
        self._stopping = False

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        self.port = self._runner.addresses[0][1]
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"http://{host}:{self.port}"
        self._stopping = False

    async def stop(self) -> None:
        """Stop serving; open streams are cut at once."""
        if self._runner is None:
            return
        self._stopping = True
        for task in list(self._active):
            task.cancel()
        if self._active:
            await asyncio.wait(list(self._active), timeout=2.0)
        await self._runner.cleanup()
        self._runner = None

    async def __aenter__(self) -> "Simulator":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ public helpers
    def base_url(self, profile: str, kind: str) -> str:
        """The base_url a provider config of ``kind`` uses to reach ``profile``."""
        kind = "sse" if kind in ("custom", "chat") else kind
        if kind not in BASE_SUFFIX:
            raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(BASE_SUFFIX)}")
        return f"{self.url}/{profile}{BASE_SUFFIX[kind]}"

    def add_profile(self, profile: Profile) -> None:
        """Add or replace a profile; its request counter (for fault rates) starts again at 0."""
        self.profiles[profile.name] = profile
        self._counts.pop(profile.name, None)

    def truth(self, request_id: str) -> RequestTruth:
        return self._by_id[request_id]

    def clear_truths(self) -> None:
        self.truths.clear()
        self._by_id.clear()

    # ------------------------------------------------------------------ routing
    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path.strip("/")
        if path.startswith("_sim/") or path == "_sim":
            return self._control(request, path)
        name, _, rest = path.partition("/")
        profile = self.profiles.get(name)
        if profile is None:
            return _json({"error": f"unknown simulator profile {name!r}", "profiles": sorted(self.profiles),
                          "paths": PATHS}, 404)
        wire, model = _ROUTES.get(rest), ""
        if wire is None and (m := _GEMINI_RE.fullmatch(rest)):
            wire, model = "gemini", m.group(1)
        if wire is None:
            return _json({"error": f"unknown simulator path {request.path!r}", "profiles": sorted(self.profiles),
                          "paths": PATHS}, 404)
        if request.method != "POST":
            return _json({"error": f"{request.method} not allowed; use POST", "paths": PATHS}, 405)
        task = asyncio.current_task()
        assert task is not None
        self._active.add(task)
        try:
            return await self._serve_stream(request, profile, wire, model)
        finally:
            self._active.discard(task)

    def _control(self, request: web.Request, path: str) -> web.Response:
        if request.method != "GET":
            return _json({"error": "the control API is read-only (GET)"}, 405)
        if path == "_sim/profiles":
            return _json([{**asdict(p), "base_urls": {k: self.base_url(p.name, k) for k in BASE_SUFFIX}}
                          for p in self.profiles.values()])
        if path == "_sim/requests":
            want = request.query.get("profile")
            return _json([t.to_dict() for t in self.truths if want is None or t.profile == want])
        if path.startswith("_sim/requests/"):
            truth = self._by_id.get(path.removeprefix("_sim/requests/"))
            if truth is None:
                return _json({"error": "unknown request id"}, 404)
            return _json(truth.to_dict())
        return _json({"error": f"unknown control path {request.path!r}", "paths": PATHS}, 404)

    # ------------------------------------------------------------------ streaming
    async def _serve_stream(self, request: web.Request, profile: Profile, wire: str, model: str) -> web.StreamResponse:
        body = await request.read()
        t_received_ns = time.perf_counter_ns()
        t0 = asyncio.get_running_loop().time()          # read second: deadlines never precede t_received
        rid = f"sim-{next(self._ids):06d}"
        truth = RequestTruth(rid, profile.name, wire, t_received_ns)
        self.truths.append(truth)
        self._by_id[rid] = truth
        try:
            return await self._respond(request, profile, wire, model, body, truth, t0)
        except asyncio.CancelledError:
            truth.outcome = "stopped" if self._stopping else "client_gone"
            raise
        except ConnectionError:
            truth.outcome = "client_gone"
            return web.Response(status=499)     # never reaches anyone: the client is gone
        finally:
            truth._finish()

    async def _respond(self, request: web.Request, profile: Profile, wire: str, model: str, body: bytes,
                       truth: RequestTruth, t0: float) -> web.StreamResponse:
        rid, loop = truth.request_id, asyncio.get_running_loop()
        try:
            if wire == "gemini" and request.query.get("alt") != "sse":
                raise _BadRequest("the simulator streams Gemini only with ?alt=sse")
            prompt, max_tokens, include_usage, req_model = parse_request(wire, body)
        except _BadRequest as exc:
            status, headers, payload = error_response(wire, 400, request_id=rid, message=str(exc))
            truth.status, truth.outcome = status, "bad_request"
            return web.Response(status=status, body=payload, headers={**headers, "x-sim-request-id": rid})
        model = model or req_model
        truth.prompt, truth.max_tokens = prompt, max_tokens
        n = self._counts.get(profile.name, 0)
        self._counts[profile.name] = n + 1
        fault = profile.fault if profile.fault is not None and profile.fault.hits(n) else None
        truth.fault = fault.kind if fault else None
        if fault is not None and fault.kind.startswith("http_"):
            status, headers, payload = fault_response(wire, fault.kind, request_id=rid, model=model,
                                                      retry_after_s=fault.retry_after_s)
            truth.status, truth.outcome = status, "http_error"
            return web.Response(status=status, body=payload, headers={**headers, "x-sim-request-id": rid})

        plan = plan_stream(profile, prompt, max_tokens, fault, n, with_reasoning=wire in REASONING_WIRES)
        steps, fault_at = plan.steps, plan.fault_at
        ctx = StreamContext(request_id=rid, model=model, prompt_tokens=prompt_token_count(prompt), seed=profile.seed,
                            usage=profile.usage, include_usage=include_usage, has_reasoning=plan.has_reasoning,
                            capped=plan.capped, created=int(time.time()))
        enc = make_encoder(wire, ctx)
        resp = web.StreamResponse(status=200, headers={"Content-Type": enc.content_type, "Cache-Control": "no-cache",
                                                       "x-sim-request-id": rid})
        if wire == "gemini" or (fault is not None and fault.kind in ("error_after", "truncate")):
            resp.force_close()      # Gemini ends its streams by closing; faulty streams close too
        await resp.prepare(request)
        truth.status, truth.t_headers_ns = 200, time.perf_counter_ns()
        drip = fault if fault is not None and fault.kind == "drip" else None

        async def write(data: bytes) -> None:
            if drip is None:
                await resp.write(data)
                return
            i = 0
            while i < len(data):             # a few bytes at a time, UTF-8 characters split too
                j = i + plan.rng.randint(1, 7)
                await resp.write(data[i:j])
                i = j
                if i < len(data):
                    await asyncio.sleep(drip.drip_ms / 1000)

        if enc.ping_every:
            await write(enc.ping(ctx.clock()))
        for event in enc.opening():
            await write(event)
        last_sent = loop.time()
        for i in range(len(steps) + 1):
            if i == len(steps) and fault_at != len(steps):
                break
            if i == fault_at and fault is not None and fault.kind == "stall":   # silence >= stall_s, even if late
                t0 = max(t0, last_sent + fault.stall_s - plan.offsets[i])
            while (delay := t0 + plan.offsets[i] - loop.time()) > 0:    # absolute deadlines: no drift
                await asyncio.sleep(delay)
            if i == fault_at and fault is not None:
                if fault.kind == "error_after":
                    for event in enc.error_after():
                        await write(event)
                    await resp.write_eof()
                    truth.outcome = "error_after"
                    return resp
                if fault.kind == "truncate":
                    truth.outcome = "truncated"
                    if request.transport is not None:
                        request.transport.close()   # the body ends early: no terminal event, no last chunk
                    return resp
                if fault.kind == "malformed":
                    for event in enc.malformed():
                        await write(event)
            if i == len(steps):
                break
            is_reasoning, toks = steps[i]
            text = "".join(toks)
            last = i == len(steps) - 1 and fault_at != len(steps)
            for event in enc.content(text, len(toks), reasoning=is_reasoning, last=last):
                await write(event)
            truth.chunks.append(ChunkTruth(time.perf_counter_ns(), "" if is_reasoning else text,
                                           text if is_reasoning else "", len(toks)))
            last_sent = loop.time()
            if is_reasoning:
                truth.reasoning += text
                truth.reasoning_tokens += len(toks)
            else:
                truth.text += text
                truth.output_tokens += len(toks)
            if enc.ping_every and (i + 1) % enc.ping_every == 0:
                await write(enc.ping(ctx.clock()))
        eval_ns = truth.chunks[-1].t_ns - truth.chunks[0].t_ns if truth.chunks else 0
        for event in enc.finish(total_ns=time.perf_counter_ns() - truth.t_received_ns, eval_ns=eval_ns):
            await write(event)
        await resp.write_eof()
        truth.outcome, truth.finish_reason = "ok", "length" if plan.capped else "stop"
        return resp


async def serve(host: str, port: int, profiles: Iterable[Profile]) -> None:
    """Run a simulator until cancelled or SIGINT/SIGTERM (``tokenrace simulate``)."""
    sim = Simulator(profiles, host, port)
    await sim.start()
    print(f"tokenrace simulator on {sim.url} (control API: {sim.url}/_sim/profiles)", flush=True)
    for name in sim.profiles:
        print(f"  {name}: openai {sim.base_url(name, 'openai')} | llamacpp {sim.base_url(name, 'llamacpp')}"
              f" | anthropic/gemini/zhipu/ollama/sse {sim.base_url(name, 'anthropic')}", flush=True)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
        except (NotImplementedError, RuntimeError):     # pragma: no cover - not on Windows / not main thread
            pass
    try:
        await stop.wait()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        await sim.stop()
