"""Remote mode: runs on a tokenrace server, followed over its SSE channel.

:class:`RemoteSource` creates runs with ``POST /api/runs`` and reads ``/api/runs/{id}/events`` with
our :class:`~tokenrace.sse.SSEDecoder`. When the connection drops it reconnects with the id of the
last event it dispatched as ``Last-Event-ID`` (a half-received event is discarded and comes again),
after a backoff (at least the server's ``retry``), and drops any event it has already seen. Each
read's messages are coalesced per provider. Never imports ``tokenrace.server``: only its protocol.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any, AsyncGenerator

import aiohttp

from ..errors import TokenraceError
from ..sse import SSEDecoder
from ..protocol import decode
from .messages import Connection, RaceMessage, RunEnd, RunStarted, SourceError, coalesce

log = logging.getLogger("tokenrace.tui")

class RemoteError(TokenraceError):
    """The server answered with an error, or could not be reached."""


class RemoteSource:
    """Creates runs through a tokenrace server and follows its SSE channel."""

    mode = "remote"

    def __init__(self, url: str, token: str | None = None, *, providers: list[str] | None = None,
                 backoff: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0), max_failures: int = 8,
                 read_timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self._only = providers
        self.backoff, self.max_failures, self.read_timeout = backoff, max_failures, read_timeout
        self._session: aiohttp.ClientSession | None = None
        self.run_id: str | None = None      # the run being followed
        self._known: dict[str, dict[str, Any]] = {}   # provider name -> public dict (runs list names only)

    priced: bool | None = None      # from /api/providers (None until read, or when the server does not say)

    @property
    def label(self) -> str:
        return f"server {self.url}"

    async def open(self) -> None:
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        self._session = aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(
            total=None, sock_connect=10))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _json(self, method: str, path: str, **kw: Any) -> Any:
        assert self._session is not None, "open() first"
        url = self.url + path
        try:
            async with self._session.request(method, url, timeout=aiohttp.ClientTimeout(total=30), **kw) as resp:
                text = await resp.text()
                if resp.status >= 400:
                    detail = text.strip()
                    with contextlib.suppress(ValueError, AttributeError):
                        doc = json.loads(text)
                        detail = doc.get("error") or doc.get("message") or detail
                    raise RemoteError(f"{method} {url}: HTTP {resp.status}: {str(detail)[:300]}")
                return json.loads(text) if text.strip() else None
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as e:
            raise RemoteError(f"{method} {url}: {e or type(e).__name__}") from e

    async def providers(self) -> list[dict[str, Any]]:
        doc = await self._json("GET", "/api/providers")
        items = doc.get("providers", []) if isinstance(doc, dict) else (doc or [])
        out = [_provider_dict(p) for p in items]
        self._known.update((p["name"], p) for p in out)
        mine = [(p, raw) for p, raw in zip(out, items) if not self._only or p["name"] in self._only]
        said = [raw.get("priced") if isinstance(raw, dict) else None for _p, raw in mine]
        if said and all(isinstance(v, bool) for v in said):      # an older server does not say: show Cost
            self.priced = any(said)
        return [p for p, _raw in mine]

    async def list_runs(self, limit: int = 50) -> list[dict[str, Any]]:
        doc = await self._json("GET", "/api/runs", params={"limit": str(limit)})
        items = doc.get("runs", []) if isinstance(doc, dict) else (doc or [])
        return [dict(r, id=_run_id(r)) for r in items]

    async def thread(self, run_id: str) -> list[dict[str, Any]]:
        """``GET /api/runs/{id}/thread``: the conversation the run ends, first turn first."""
        doc = await self._json("GET", f"/api/runs/{run_id}/thread")
        runs = doc.get("runs", []) if isinstance(doc, dict) else (doc or [])
        return [r for r in runs if isinstance(r, dict)]

    async def cancel(self) -> None:
        """``DELETE /api/runs/{id}``: the server stops the run; every viewer sees it end ``cancelled``."""
        if self.run_id:
            await self._json("DELETE", f"/api/runs/{self.run_id}")

    async def run(self, prompt: str, providers: list[str] | None = None, params: dict[str, Any] | None = None,
                  parent: str | None = None) -> AsyncGenerator[RaceMessage, None]:
        """``POST /api/runs`` (with ``parent``: a follow-up; the server gives each provider its history)."""
        body: dict[str, Any] = {"prompt": prompt}
        if providers or self._only:
            body["providers"] = list(providers or self._only or [])
        if params:
            body["params"] = params
        if parent:
            body["parent"] = parent
        try:
            doc = await self._json("POST", "/api/runs", json=body)
        except RemoteError as e:
            yield SourceError(str(e))
            return
        doc = doc if isinstance(doc, dict) else {}
        doc = doc.get("run", doc) if isinstance(doc.get("run"), dict) else doc
        doc.setdefault("prompt", prompt)
        doc.setdefault("params", params or {})
        doc.setdefault("parent", parent)
        try:
            run_id = _run_id(doc)
        except RemoteError as e:
            yield SourceError(str(e))
            return
        async for msg in self._follow(run_id, doc):
            yield msg

    async def open_run(self, run_id: str) -> AsyncGenerator[RaceMessage, None]:
        """Watch a run (live, or replayed to its end when finished): what a second viewer does."""
        try:
            doc = await self._json("GET", f"/api/runs/{run_id}")
        except RemoteError as e:
            yield SourceError(str(e))
            return
        doc = doc.get("run", doc) if isinstance(doc, dict) else {}
        async for msg in self._follow(run_id, doc, replay=True):
            yield msg

    async def _follow(self, run_id: str, info: dict[str, Any], replay: bool = False) -> AsyncGenerator[RaceMessage, None]:
        assert self._session is not None, "open() first"
        self.run_id = run_id
        listed = info.get("provider_details") or info.get("providers") or ()
        providers = tuple(self._known.get(d["name"], d) if not d["model"] else d
                          for d in map(_provider_dict, listed))
        parent = info.get("parent")
        yield RunStarted(run_id, str(info.get("prompt", "")), providers, dict(info.get("params") or {}), replay,
                         str(parent) if parent else None)
        url = f"{self.url}/api/runs/{run_id}/events"
        decoder = SSEDecoder()
        last_num: int | None = None
        resume_id = ""     # the id of the last event dispatched (not of a half-received one)
        failures = 0
        try:
            while True:
                headers = {"Accept": "text/event-stream", "Cache-Control": "no-store"}
                if resume_id:
                    headers["Last-Event-ID"] = resume_id
                detail = ""
                try:
                    async with self._session.get(url, headers=headers, timeout=aiohttp.ClientTimeout(
                            total=None, sock_connect=10, sock_read=self.read_timeout)) as resp:
                        if resp.status in (401, 403, 404):
                            yield SourceError(f"GET {url}: HTTP {resp.status}: {(await resp.text())[:300]}")
                            return
                        if resp.status >= 400:
                            raise RemoteError(f"HTTP {resp.status}")
                        if failures:
                            yield Connection("connected", failures)
                        async for chunk in resp.content.iter_any():
                            batch: list[RaceMessage] = []
                            ended = False
                            for ev in decoder.feed(chunk):
                                failures = 0      # only a stream that delivers counts as recovered
                                resume_id = ev.id
                                if ev.event == "reset":
                                    last_num = None
                                elif ev.id.isdigit():
                                    n = int(ev.id)
                                    if last_num is not None and n <= last_num:
                                        continue          # already seen (a server replaying too much)
                                    last_num = n
                                try:
                                    data = json.loads(ev.data)
                                except ValueError:
                                    log.warning("skipping an event with bad JSON from %s", url)
                                    continue
                                decoded = decode(ev.event, data if isinstance(data, dict) else {}, run_id)
                                if decoded is not None:
                                    batch.append(decoded)
                                if isinstance(decoded, RunEnd):
                                    ended = True
                                    break
                            for msg in coalesce(batch):     # what one read brought: fewer widget updates
                                yield msg
                            if ended:
                                return
                        detail = "the server closed the stream before the run ended"
                except (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError, RemoteError) as e:
                    detail = str(e) or type(e).__name__
                decoder.close()     # drop a half-received event
                failures += 1
                if failures > self.max_failures:
                    yield SourceError(f"lost the connection to {self.url} ({detail}); gave up after "
                                      f"{self.max_failures} attempts")
                    return
                delay = self.backoff[min(failures - 1, len(self.backoff) - 1)]
                if decoder.retry is not None:
                    delay = max(delay, decoder.retry / 1000)
                yield Connection("reconnecting", failures, delay, detail)
                await asyncio.sleep(delay)
        finally:
            self.run_id = None


def _run_id(doc: dict[str, Any]) -> str:
    for key in ("id", "run_id", "run"):
        v = doc.get(key)
        if isinstance(v, (str, int)) and v != "":
            return str(v)
        if isinstance(v, dict):
            return _run_id(v)
    raise RemoteError(f"the server's answer names no run id: {str(doc)[:200]}")


def _provider_dict(p: Any) -> dict[str, Any]:
    if isinstance(p, str):
        return {"name": p, "kind": "", "model": ""}
    return {"name": str(p.get("name", "")), "kind": str(p.get("kind") or ""), "model": str(p.get("model") or "")}
