"""Hostile upstreams on loopback, for the secret and fault tests: real HTTP servers, no mocks.

* :class:`EchoUpstream` echoes the API key it was sent (``Authorization: Bearer`` or ``x-api-key``)
  back in every way a gateway can: a 401 JSON body, a 500 HTML page, an error event after the 200,
  a malformed chunk, the answer text itself split over many deltas, a response header, and a long
  error message that puts the key across the 300-character cut.
* :class:`RecordingServer` records the headers of every request it gets (a redirect's target).
* :func:`leaks` finds any 12-character piece of a secret in a text.
"""
from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

PIECE = 12

# mode -> what the upstream does; every mode streams OpenAI Chat Completions
ECHO_MODES = ("e401", "e500", "mid", "malformed", "echo", "rid", "straddle", "straddle2", "ok")


def leaks(blob: Any, secret: str) -> list[str]:
    """Every 12-character piece of ``secret`` that appears in ``blob`` (str, bytes, or anything repr-able)."""
    if isinstance(blob, bytes):
        text = blob.decode("utf-8", "replace")
    elif isinstance(blob, str):
        text = blob
    else:
        text = repr(blob)
    return [secret[i:i + PIECE] for i in range(len(secret) - PIECE + 1) if secret[i:i + PIECE] in text]


def _key(request: web.Request) -> str:
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:]
    return request.headers.get("x-api-key") or request.headers.get("api-key") or ""


def _chunk(content: str | None = None, finish: str | None = None) -> bytes:
    delta = {"content": content} if content is not None else {}
    obj = {"id": "c1", "object": "chat.completion.chunk", "model": "m",
           "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return f"data: {json.dumps(obj)}\n\n".encode()


class EchoUpstream:
    """``{url}/{mode}/v1/chat/completions`` behaves as ``mode`` says (see ECHO_MODES)."""

    def __init__(self) -> None:
        self.url = ""
        self.requests: list[dict[str, Any]] = []
        self._runner: web.AppRunner | None = None

    def base_url(self, mode: str) -> str:
        return f"{self.url}/{mode}/v1"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        mode = request.match_info["mode"]
        key = _key(request)
        self.requests.append({"mode": mode, "headers": dict(request.headers)})
        await request.read()
        if mode == "e401":
            return web.json_response({"error": {"message": f"Incorrect API key provided: {key}. You can find "
                                                           f"your API key at https://example.invalid/keys.",
                                                "type": "invalid_request_error", "code": "invalid_api_key"}},
                                     status=401)
        if mode in ("straddle", "straddle2"):
            # the key starts just before the 300-character cut of error messages
            pad = 270 if mode == "straddle" else 283
            return web.json_response({"error": {"message": "x" * pad + f" key={key} rejected", "type": "auth"}},
                                     status=401)
        if mode == "e500":
            page = f"<html><body><h1>500 Internal Server Error</h1><p>upstream said: bad key {key}</p></body></html>"
            return web.Response(text=page, status=500, content_type="text/html")
        headers = {"Content-Type": "text/event-stream"}
        if mode == "rid":
            headers["x-request-id"] = key
        resp = web.StreamResponse(headers=headers)
        await resp.prepare(request)
        await resp.write(_chunk("Hello"))
        if mode == "mid":
            await resp.write(f'data: {json.dumps({"error": {"message": f"quota exceeded for key {key}"}})}\n\n'
                             .encode())
            return resp
        if mode == "malformed":
            await resp.write(f'data: {{"choices": [{{"delta": {{"content": "{key}'.encode() + b"\n\n")
        if mode == "echo":
            text = f" your key is {key}, keep it safe."
            for i in range(0, len(text), 3):      # the key split over many deltas
                await resp.write(_chunk(text[i:i + 3]))
        await resp.write(_chunk(" world.", "stop"))
        await resp.write(b"data: [DONE]\n\n")
        return resp

    async def start(self) -> "EchoUpstream":
        app = web.Application()
        app.router.add_route("*", "/{mode}/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@dataclass
class RecordingServer:
    """Answers every request with a fixed status/body and records its headers; ``redirect_to`` makes
    it answer ``status`` with ``Location: redirect_to + path``."""

    status: int = 200
    redirect_to: str | None = None
    body: bytes = b"data: [DONE]\n\n"
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append({"method": request.method, "path": request.path_qs, "headers": dict(request.headers),
                              "body": await request.read()})
        if self.redirect_to is not None:
            return web.Response(status=self.status, headers={"Location": self.redirect_to + request.path_qs})
        return web.Response(status=self.status, body=self.body, content_type="text/event-stream")

    async def start(self) -> "RecordingServer":
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


class DripServer:
    """A 200 event stream that sends one byte every ``every_s`` seconds and never completes an event."""

    def __init__(self, every_s: float = 0.2, comments: bool = False) -> None:
        self.every_s, self.comments = every_s, comments
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(_chunk("first"))
        try:
            if self.comments:          # heartbeats: progress, though no event completes
                while True:
                    await asyncio.sleep(self.every_s)
                    await resp.write(b": ping\n\n")
            payload = b'data: {"choices": [{"index": 0, "delta": {"content": "never ends"}}]}'
            for b in payload:
                await asyncio.sleep(self.every_s)
                await resp.write(bytes([b]))
            await asyncio.sleep(3600)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return resp

    async def start(self) -> "DripServer":
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
