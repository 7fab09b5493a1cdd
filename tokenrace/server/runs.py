"""Runs: create them, drive their ``Race``, turn engine events into protocol events, persist.

Protocol events (docs/engine-api.md, "The server's SSE protocol") are published on the run's
hub channel and queued, with the engine events, for the store. ``metrics`` are throttled per
provider by the events' own timestamps (no timer, nothing held back). Strings that could carry
a secret (error and notice messages) are redacted before they leave this module.
"""
from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any, Iterable

from ..config.models import Config, ProviderConfig
from ..events import Failed, Finished, Notice, ReasoningDelta, Started, StreamEvent, TextDelta
from ..metrics import StreamResult
from ..providers.http import HTTPClient
from ..race import Race
from ..request import ChatRequest
from ..store import RunStore
from .hub import Channel, Hub

log = logging.getLogger("tokenrace.server")

PARAM_TYPES: dict[str, tuple[type, ...]] = {
    "max_tokens": (int,), "temperature": (int, float), "top_p": (int, float),
    "stop": (str, list), "system": (str,),
}


class RunError(Exception):
    """A request the manager refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass(frozen=True)
class Limits:
    max_prompt_chars: int = 100_000
    max_providers: int = 16
    max_concurrent_runs: int = 8
    metrics_interval_s: float = 0.25      # at most ~4 metrics events per second per provider


class Redactor:
    """Replaces every configured secret (API keys, header values, URL credentials) by ``***``."""

    def __init__(self, providers: Iterable[ProviderConfig]) -> None:
        found: set[str] = set()
        for p in providers:
            if p.api_key:
                found.add(p.api_key.reveal())
            found.update(v for v in p.headers.values() if isinstance(v, str))
            if "@" in (p.base_url or "") and "://" in p.base_url:
                cred = p.base_url.split("://", 1)[1].split("@", 1)[0]
                found.update(x for x in cred.split(":") if x)
        # short values (e.g. "1" in a header) would mangle ordinary text; keys are long
        self.secrets = sorted((s for s in found if len(s) >= 6), key=len, reverse=True)

    def text(self, s: str | None) -> str | None:
        if not s or not self.secrets:
            return s
        for secret in self.secrets:
            if secret in s:
                s = s.replace(secret, "***")
        return s

    def event(self, ev: StreamEvent) -> StreamEvent:
        if self.secrets and isinstance(ev, (Failed, Notice)):
            red = self.text(ev.message)
            if red != ev.message:
                from dataclasses import replace
                return replace(ev, message=red)
        return ev

    def result(self, r: StreamResult) -> StreamResult:
        if self.secrets:
            r.error = self.text(r.error)
            r.notices = [self.text(n) or "" for n in r.notices]
        return r


class Run:
    """One race in this process."""

    def __init__(self, run_id: str, prompt: str, params: dict, providers: list[ProviderConfig],
                 channel: Channel, created: float) -> None:
        self.id, self.prompt, self.params, self.providers = run_id, prompt, params, providers
        self.channel, self.created = channel, created
        self.status = "running"
        self.finished: float | None = None
        self.race: Race | None = None
        self.task: asyncio.Task | None = None
        self.t0_ns = 0
        self.started = False                 # stream tasks have taken their first step
        self.cancel_reason: str | None = None
        self.last_metrics: dict[str, int] = {}
        self.done_sent: set[str] = set()
        self.kinds = {p.name: p.kind for p in providers}

    def names(self) -> list[str]:
        return [p.name for p in self.providers]


def new_run_id() -> str:
    """Sortable by time, unguessable: ``YYYYmmddHHMMSS-<8 hex>``."""
    return time.strftime("%Y%m%d%H%M%S", time.gmtime()) + "-" + secrets.token_hex(4)


class RunManager:
    def __init__(self, config: Config, store: RunStore, hub: Hub, *, limits: Limits | None = None,
                 client: HTTPClient | None = None) -> None:
        self.config, self.store, self.hub = config, store, hub
        self.limits = limits or Limits()
        self.redactor = Redactor(config.providers)
        self.runs: dict[str, Run] = {}           # live runs
        self._client = client
        self._own_client = client is None
        self.closing = False

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        if self._client is None:
            self._client = HTTPClient()
        await self.store.mark_interrupted(source="serve")

    async def stop(self, reason: str = "server shutting down", timeout: float = 10.0) -> None:
        """Cancel every running race (streams end ``cancelled``, text kept and stored), end channels."""
        self.closing = True
        tasks = []
        for run in list(self.runs.values()):
            self.cancel(run.id, reason)
            if run.task is not None:
                tasks.append(run.task)
        if tasks:
            done, pending = await asyncio.wait(tasks, timeout=timeout)
            for t in pending:
                t.cancel()
        await self.store.flush()
        if self._own_client and self._client is not None:
            await self._client.close()

    # ------------------------------------------------------------------ API
    def providers_public(self) -> list[dict[str, str]]:
        return [p.public() for p in self.config.providers]

    def validate(self, body: Any) -> tuple[str, list[ProviderConfig], dict]:
        if not isinstance(body, dict):
            raise RunError(400, 'the body must be a JSON object: {"prompt": "...", "providers": [...], "params": {...}}')
        unknown = sorted(set(body) - {"prompt", "providers", "params"})
        if unknown:
            raise RunError(400, f"unknown field(s) {', '.join(map(repr, unknown))}; expected prompt, providers, params")
        prompt = body.get("prompt")
        if not isinstance(prompt, str):
            raise RunError(400, '"prompt" must be a string')
        if not prompt.strip():
            raise RunError(400, "the prompt is empty")
        if len(prompt) > self.limits.max_prompt_chars:
            raise RunError(413, f"the prompt has {len(prompt)} characters; the limit is "
                                f"{self.limits.max_prompt_chars} (serve --max-prompt-chars)")
        names = body.get("providers")
        configured = [p.name for p in self.config.providers]
        if names is None:
            names = configured
        elif not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise RunError(400, '"providers" must be a list of provider names')
        if not names:
            raise RunError(400, "no provider selected" + ("" if configured else " (none is configured)"))
        if len(set(names)) != len(names):
            raise RunError(400, "a provider is named twice in \"providers\"")
        missing = [n for n in names if n not in configured]
        if missing:
            raise RunError(400, f"unknown provider {', '.join(map(repr, missing))}; configured: {', '.join(configured)}")
        if len(names) > self.limits.max_providers:
            raise RunError(400, f"{len(names)} providers selected; at most {self.limits.max_providers} per run "
                                f"(serve --max-providers)")
        params = body.get("params")
        params = {} if params is None else params
        if not isinstance(params, dict):
            raise RunError(400, '"params" must be a JSON object')
        for k, v in params.items():
            types = PARAM_TYPES.get(k)
            if types is None:
                raise RunError(400, f"unknown param {k!r}; allowed: {', '.join(PARAM_TYPES)}")
            if isinstance(v, bool) or not isinstance(v, types) and v is not None:
                raise RunError(400, f"param {k!r} has the wrong type ({type(v).__name__})")
        if isinstance(params.get("max_tokens"), int) and params["max_tokens"] < 1:
            raise RunError(400, "param 'max_tokens' must be at least 1")
        chosen = [p for p in self.config.providers if p.name in names]
        chosen.sort(key=lambda p: names.index(p.name))
        return prompt, chosen, params

    async def create(self, body: Any) -> Run:
        prompt, providers, params = self.validate(body)
        if self.closing:
            raise RunError(503, "the server is shutting down")
        if len(self.runs) >= self.limits.max_concurrent_runs:
            raise RunError(429, f"{len(self.runs)} runs are already running; the limit is "
                                f"{self.limits.max_concurrent_runs} (serve --max-concurrent-runs); retry when one ends")
        run_id = new_run_id()
        created = time.time()
        run = Run(run_id, prompt, params, providers, self.hub.open(run_id), created)
        self.runs[run_id] = run        # counted at once, so concurrent requests see the limit
        try:
            await self.store.create_run(run_id, prompt, params, [p.public() for p in providers],
                                        source="serve", created=created)
        except BaseException:
            self.runs.pop(run_id, None)
            self.hub.channels.pop(run_id, None)
            raise
        req_params = {k: v for k, v in params.items() if k != "system"}
        request = ChatRequest.from_prompt(prompt, req_params, system=params.get("system"))
        run.race = Race(self._client, providers, request, defaults=self.config.defaults,
                        on_event=lambda ev: self._on_event(run, ev))
        run.task = asyncio.create_task(self._drive(run), name=f"tokenrace-run-{run_id}")
        log.info("run %s started: %d provider(s)", run_id, len(providers))
        return run

    def cancel(self, run_id: str, reason: str = "cancelled by request") -> bool:
        run = self.runs.get(run_id)
        if run is None or run.race is None:
            return False
        if run.cancel_reason is None:
            run.cancel_reason = reason
        if run.started:
            run.race.cancel()
        return True

    async def channel(self, run_id: str) -> Channel | None:
        """The run's channel: live, cached, or rebuilt from the store."""
        ch = self.hub.get(run_id)
        if ch is not None:
            return ch
        stored = await self.store.get_run(run_id)
        if stored is None:
            return None
        ch = Channel(run_id, self.hub.limits)
        ch.load(await self._stored_messages(stored))
        return self.hub.adopt(ch)

    async def describe(self, run_id: str) -> dict | None:
        """The run with one result per provider (live figures while it runs)."""
        run = self.runs.get(run_id)
        if run is None:
            return await self.store.get_run(run_id)
        results = []
        for p in run.providers:
            acc = run.race.accumulators[p.name]
            d = self.redactor.result(acc.result()).to_dict()
            if acc.status in ("waiting", "streaming"):
                d["status"], d["error"], d["error_kind"] = acc.status, None, None
            results.append(d)
        return {"id": run.id, "prompt": run.prompt, "created": run.created,
                "providers": [p.public() for p in run.providers], "status": run.status, "source": "serve",
                "params": run.params, "results": results, "finished": run.finished}

    # ------------------------------------------------------------------ driving a race
    async def _drive(self, run: Run) -> None:
        race = run.race
        assert race is not None
        run.t0_ns = time.perf_counter_ns()
        race_task = asyncio.create_task(race.run(), name=f"tokenrace-race-{run.id}")
        try:
            await asyncio.sleep(0)      # race.run() creates the stream tasks
            await asyncio.sleep(0)      # each takes its first step: a cancel now ends it "cancelled"
            run.started = True
            if run.cancel_reason is not None:
                race.cancel()
            results = await asyncio.shield(race_task)
        except asyncio.CancelledError:     # stop() timed out: end the streams anyway
            race.cancel()
            results = await race_task
        except Exception:
            log.exception("run %s: the race failed", run.id)
            results = race.results()
        results = [self.redactor.result(r) for r in results]
        for r in results:                 # a stream that never started has no terminal event
            if r.provider not in run.done_sent:
                if race.accumulators[r.provider].status in ("waiting", "streaming"):
                    r.status, r.error, r.error_kind = "cancelled", f"{r.provider}: cancelled", "cancelled"
                self._publish(run, "done", r.to_dict(), r.provider)
        run.status = "cancelled" if run.cancel_reason else "done"
        run.finished = time.time()
        end: dict[str, Any] = {"run": run.id, "status": run.status}
        if run.cancel_reason:
            end["reason"] = run.cancel_reason
        self._publish(run, "end", end, None)
        run.channel.close()
        try:
            await self.store.finish_run(run.id, run.status, results)
        except Exception:
            log.exception("run %s: storing the results failed", run.id)
        finally:
            self.runs.pop(run.id, None)
        log.info("run %s %s", run.id, run.status)

    def _publish(self, run: Run, event: str, data: dict, provider: str | None) -> None:
        msg = run.channel.publish(event, data, provider)
        self.store.append_messages(run.id, ((msg.id, event, msg.data),))

    def _on_event(self, run: Run, ev: StreamEvent) -> None:
        ev = self.redactor.event(ev)
        self.store.append_events(run.id, [ev])
        name = ev.provider
        t_ms = round((ev.t_ns - run.t0_ns) / 1e6, 3)
        if isinstance(ev, TextDelta):
            self._publish(run, "delta", {"provider": name, "text": ev.text, "t_ms": t_ms}, name)
            self._maybe_metrics(run, ev)
        elif isinstance(ev, ReasoningDelta):
            self._publish(run, "delta", {"provider": name, "reasoning": ev.text, "t_ms": t_ms}, name)
            self._maybe_metrics(run, ev)
        elif isinstance(ev, Started):
            self._publish(run, "start", {"provider": name, "model": ev.model, "kind": run.kinds[name],
                                         "attempt": ev.attempt, "t_ms": t_ms}, name)
        elif isinstance(ev, Notice):
            self._publish(run, "notice", {"provider": name, "message": ev.message}, name)
        elif isinstance(ev, (Finished, Failed)):
            acc = run.race.accumulators[name]
            if isinstance(ev, Failed):
                self._publish(run, "error", {"provider": name, "message": ev.message, "kind": ev.kind,
                                             "http_status": ev.http_status}, name)
            self._publish(run, "metrics", acc.live(ev.t_ns).to_dict(), name)
            run.done_sent.add(name)
            self._publish(run, "done", self.redactor.result(acc.result()).to_dict(), name)

    def _maybe_metrics(self, run: Run, ev: StreamEvent) -> None:
        last = run.last_metrics.get(ev.provider)
        if last is None or ev.t_ns - last >= self.limits.metrics_interval_s * 1e9:
            run.last_metrics[ev.provider] = ev.t_ns
            self._publish(run, "metrics", run.race.accumulators[ev.provider].live(ev.t_ns).to_dict(), ev.provider)

    # ------------------------------------------------------------------ finished runs
    async def _stored_messages(self, stored: dict) -> list[tuple[int, str, str | None, str]]:
        """A finished run's protocol log: as stored, completed with ``done``/``end`` if it was cut."""
        import json
        rows = await self.store.get_messages(stored["id"])
        out: list[tuple[int, str, str | None, str]] = []
        done: set[str] = set()
        for i, event, data in rows:
            if i != len(out) + 1:     # a hole (a batch lost): stop at the last contiguous event
                break
            provider = None
            if event != "end":
                try:
                    provider = json.loads(data).get("provider")
                except (ValueError, AttributeError):
                    provider = None
            if event == "done" and provider:
                done.add(provider)
            if event == "end":
                out.append((i, event, None, data))
                return out
            out.append((i, event, provider, data))
        for r in stored.get("results") or []:
            if r.get("provider") not in done:
                out.append((len(out) + 1, "done", r["provider"],
                            json.dumps(r, ensure_ascii=False, separators=(",", ":"))))
        end = {"run": stored["id"], "status": stored["status"]}
        out.append((len(out) + 1, "end", None, json.dumps(end, ensure_ascii=False, separators=(",", ":"))))
        return out
