"""The simulator's HTTP server (aiohttp.web on loopback), recording its ground truth (:mod:`.truth`).

The URL's first path segment selects a :class:`Profile` (timing, text, faults); the rest selects
the wire format (:mod:`.routes` lists the paths; :mod:`.encoders` the formats). Every content chunk is written on its own and timestamped with
``time.perf_counter_ns()`` right after the write, so tests can compare measurements to the truth.
"""
from __future__ import annotations

import asyncio
import itertools
import json
import logging
import signal
import time
from dataclasses import asdict
from typing import Any, Iterable
from urllib.parse import quote

from aiohttp import web

from .encoders import DEFAULT_MODELS, ENCODERS, REASONING_WIRES
from .errors import error_response, fault_response
from .base import StreamContext
from .profiles import DEFAULT_PROFILES, Profile, plan_stream, prompt_token_count
from .routes import BASE_SUFFIX, PATHS, BadRequest, Route, match_route, parse_request, refusal
from .truth import ChunkTruth, RequestTruth

__all__ = ["BASE_SUFFIX", "PATHS", "ChunkTruth", "RequestTruth", "Simulator", "serve"]

log = logging.getLogger("tokenrace.simulator")


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

    def vertex_url(self, profile: str, model: str, project: str = "sim-project", location: str = "us-central1") -> str:
        """The full Vertex AI streaming URL for ``profile``. A vertex adapter builds
        ``https://{location}-aiplatform.googleapis.com/v1/projects/...``; against the simulator its base is
        ``base_url(profile, "vertex")`` (the profile root) and it appends the same ``/v1/projects/...`` path."""
        return (f"{self.base_url(profile, 'vertex')}/v1/projects/{quote(project, safe='')}/locations/"
                f"{quote(location, safe='')}/publishers/google/models/{quote(model, safe='')}"
                ":streamGenerateContent?alt=sse")

    def bedrock_url(self, profile: str, model_id: str) -> str:
        """The ConverseStream URL for ``profile``: the base plus ``/model/{modelId}/converse-stream``, the
        model id percent-encoded (``:`` and an ARN's ``/`` included), as the AWS SDKs send it."""
        return f"{self.base_url(profile, 'bedrock')}/model/{quote(model_id, safe='')}/converse-stream"

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
        route = match_route(rest, request.rel_url.raw_path.strip("/").partition("/")[2])
        if route is None:
            return _json({"error": f"unknown simulator path {request.path!r}", "profiles": sorted(self.profiles),
                          "paths": PATHS}, 404)
        if request.method != route.method:
            return _json({"error": f"{request.method} not allowed; use {route.method}", "paths": PATHS}, 405)
        task = asyncio.current_task()
        assert task is not None
        self._active.add(task)
        try:
            return await self._serve_stream(request, profile, route)
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
    async def _serve_stream(self, request: web.Request, profile: Profile, route: Route) -> web.StreamResponse:
        body = await request.read()
        t_received_ns = time.perf_counter_ns()
        t0 = asyncio.get_running_loop().time()          # read second: deadlines never precede t_received
        rid = f"sim-{next(self._ids):06d}"
        truth = RequestTruth(rid, profile.name, route.wire, t_received_ns)
        self.truths.append(truth)
        self._by_id[rid] = truth
        try:
            return await self._respond(request, profile, route, body, truth, t0)
        except asyncio.CancelledError:
            truth.outcome = "stopped" if self._stopping else "client_gone"
            raise
        except ConnectionError:
            truth.outcome = "client_gone"
            return web.Response(status=499)     # never reaches anyone: the client is gone
        finally:
            truth._finish()

    @staticmethod
    def _refuse(truth: RequestTruth, reply: tuple[int, dict[str, str], bytes], outcome: str) -> web.Response:
        status, headers, payload = reply
        truth.status, truth.outcome = status, outcome
        return web.Response(status=status, body=payload, headers={**headers, "x-sim-request-id": truth.request_id})

    async def _respond(self, request: web.Request, profile: Profile, route: Route, body: bytes,
                       truth: RequestTruth, t0: float) -> web.StreamResponse:
        rid, wire, loop = truth.request_id, route.wire, asyncio.get_running_loop()
        try:
            refused = refusal(route, request.query, request.headers)
            if refused is not None:
                return self._refuse(truth, error_response(wire, refused[0], request_id=rid), refused[1])
            req = parse_request(wire, body, request.query)
        except BadRequest as exc:
            return self._refuse(truth, error_response(wire, 400, request_id=rid, message=str(exc)), "bad_request")
        model = DEFAULT_MODELS["azure"] if wire == "azure" else route.model or req.model   # Azure: the deployment's
        truth.prompt, truth.max_tokens, truth.history = req.prompt, req.max_tokens, req.history
        n = self._counts.get(profile.name, 0)
        self._counts[profile.name] = n + 1
        fault = profile.fault if profile.fault is not None and profile.fault.hits(n) else None
        truth.fault = fault.kind if fault else None
        if fault is not None and fault.kind.startswith("http_"):
            reply = fault_response(wire, fault.kind, request_id=rid, model=model, retry_after_s=fault.retry_after_s)
            return self._refuse(truth, reply, "http_error")

        enc_cls = ENCODERS[wire]
        plan = plan_stream(profile, req.prompt, req.max_tokens, fault, n, with_reasoning=wire in REASONING_WIRES,
                           reasoning_in_max=enc_cls.reasoning_counts_in_max)
        steps, fault_at = plan.steps, plan.fault_at
        ctx = StreamContext(request_id=rid, model=model, prompt_tokens=prompt_token_count(req.prompt),
                            seed=profile.seed, usage=profile.usage, include_usage=req.include_usage,
                            has_reasoning=plan.has_reasoning, reasoning_visible=req.reasoning_visible,
                            capped=plan.capped, created=int(time.time()), echo=req.echo)
        enc = enc_cls(ctx)
        resp = web.StreamResponse(status=200, headers={"Content-Type": enc.content_type, **enc.headers(),
                                                       "x-sim-request-id": rid})
        if enc.closes or (fault is not None and fault.kind in ("error_after", "truncate")):
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
                if fault.kind == "content_filter":
                    ctx.filtered = True             # the filter ends the answer here, properly
                    break
                if fault.kind == "malformed":
                    for event in enc.malformed():
                        await write(event)
            if i == len(steps):
                break
            is_reasoning, toks = steps[i]
            text = "".join(toks)
            last = i == len(steps) - 1 and fault_at != len(steps)
            events = enc.content(text, len(toks), reasoning=is_reasoning, last=last)
            if is_reasoning:
                truth.reasoning_tokens += len(toks)
            if not events:
                continue                            # reasoning the format keeps silent: time passes, nothing sent
            for event in events:
                await write(event)
            truth.chunks.append(ChunkTruth(time.perf_counter_ns(), "" if is_reasoning else text,
                                           text if is_reasoning else "", len(toks)))
            last_sent = loop.time()
            if is_reasoning:
                truth.reasoning += text
            else:
                truth.text += text
                truth.output_tokens += len(toks)
            if enc.ping_every and (i + 1) % enc.ping_every == 0:
                await write(enc.ping(ctx.clock()))
        eval_ns = truth.chunks[-1].t_ns - truth.chunks[0].t_ns if truth.chunks else 0
        for event in enc.finish(total_ns=time.perf_counter_ns() - truth.t_received_ns, eval_ns=eval_ns):
            await write(event)
        await resp.write_eof()
        truth.outcome = "ok"
        truth.finish_reason = "content_filter" if ctx.filtered else "length" if plan.capped else "stop"
        return resp


async def serve(host: str, port: int, profiles: Iterable[Profile]) -> None:
    """Run a simulator until cancelled or SIGINT/SIGTERM (``tokenrace simulate``)."""
    sim = Simulator(profiles, host, port)
    await sim.start()
    print(f"tokenrace simulator on {sim.url} (control API: {sim.url}/_sim/profiles)", flush=True)
    for name in sim.profiles:
        print(f"  {name}: openai/openai-responses {sim.base_url(name, 'openai')} | llamacpp "
              f"{sim.base_url(name, 'llamacpp')} | anthropic/gemini/zhipu/ollama/sse/azure/vertex/bedrock/cohere "
              f"{sim.base_url(name, 'anthropic')}", flush=True)
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
