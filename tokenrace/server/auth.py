"""Access control: bearer token or cookie, Host check, Origin check, CORS. No tornado here.

* Bound to loopback with no token: no token needed, but the ``Host`` header must name a
  loopback host (a page on another site cannot reach the server through DNS rebinding).
* With a token (``--token``, or generated when listening beyond loopback): every API and SSE
  request needs ``Authorization: Bearer <token>``, or the cookie set by visiting any page
  with ``?token=<token>`` (HttpOnly, SameSite=Strict).
* State-changing requests (POST, DELETE) from a browser page of another origin are refused
  unless that origin was allowed (``--allow-origin``); CORS headers are sent only to allowed
  origins.
* The token never reaches a log line: :class:`RedactFilter`, on the loggers that describe
  requests (tornado's among them), removes it, and any ``token=`` or ``Bearer`` value, from
  every record.
"""
from __future__ import annotations

import hmac
import ipaddress
import logging
import secrets
from dataclasses import dataclass, field
from typing import Mapping
from urllib.parse import urlsplit

from ..secrets import RedactingFilter, Redactor

COOKIE = "tokenrace_token"
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
# loggers that can describe a request: tornado's own (URIs with their query, malformed header values)
REQUEST_LOGGERS = ("tornado.access", "tornado.application", "tornado.general", "tokenrace.server", "asyncio")


def is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    return secrets.token_urlsafe(24)


def _host_name(host_header: str) -> str:
    """``Host`` header -> host name without port (IPv6 brackets removed), lower case."""
    h = host_header.strip().lower()
    if h.startswith("["):
        return h[1:h.find("]")] if "]" in h else h
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


@dataclass
class Access:
    token: str | None = None
    allow_origins: tuple[str, ...] = ()
    check_host: bool = True          # loopback without token: Host must be a loopback name
    extra_hosts: frozenset[str] = field(default_factory=frozenset)

    @property
    def required(self) -> bool:
        return bool(self.token)

    def token_ok(self, candidate: str | None) -> bool:
        if not self.token:
            return True
        if not candidate:
            return False
        return hmac.compare_digest(candidate.encode("utf-8", "replace"), self.token.encode())

    def check(self, method: str, headers: Mapping[str, str], cookie: str | None,
              query_token: str | None = None) -> tuple[int, str] | None:
        """None when the request may proceed, else (status, message)."""
        if self.check_host and not self.token:
            name = _host_name(headers.get("Host", ""))
            if name not in LOOPBACK_NAMES and name not in self.extra_hosts:
                return 403, ("this server answers only requests addressed to a loopback host "
                             "(Host header refused); use http://127.0.0.1:<port>/")
        origin = headers.get("Origin")
        if origin and method not in ("GET", "HEAD", "OPTIONS") and not self.same_origin(origin, headers) \
                and not self.origin_allowed(origin):
            return 403, (f"cross-origin {method} from {origin!r} refused; "
                         f"start the server with --allow-origin {origin} to allow it")
        if self.token:
            auth = headers.get("Authorization", "")
            bearer = auth[7:].strip() if auth[:7].lower() == "bearer " else None
            if not (self.token_ok(bearer) or self.token_ok(cookie) or self.token_ok(query_token)):
                return 401, ("an access token is needed: send 'Authorization: Bearer <token>' "
                             "(the token printed by tokenrace serve), or open the printed URL once "
                             "in the browser")
        return None

    @staticmethod
    def same_origin(origin: str, headers: Mapping[str, str]) -> bool:
        try:
            netloc = urlsplit(origin).netloc.lower()
        except ValueError:
            return False
        return bool(netloc) and netloc == headers.get("Host", "").lower()

    def origin_allowed(self, origin: str) -> bool:
        return "*" in self.allow_origins or origin.rstrip("/") in self.allow_origins

    def cors_headers(self, origin: str | None) -> dict[str, str]:
        """Headers for a response to ``origin`` (none unless that origin is allowed)."""
        if not origin or not self.origin_allowed(origin):
            return {}
        return {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Credentials": "true",
            "Access-Control-Allow-Methods": "GET, POST, DELETE, OPTIONS",
            "Access-Control-Allow-Headers": "Authorization, Content-Type, Last-Event-ID, Accept",
            "Access-Control-Expose-Headers": "Location, X-Run-Id",
            "Access-Control-Max-Age": "600",
            "Vary": "Origin",
        }


class RedactFilter(RedactingFilter):
    """The access token (and any 12-character piece of it) and any ``token=``/``Bearer`` value, out of
    the request loggers' lines: one :class:`~tokenrace.secrets.RedactingFilter` on those loggers."""

    def __init__(self, token: str | None) -> None:
        super().__init__(Redactor([token] if token else []), credentials=True)

    def install(self) -> None:
        for name in REQUEST_LOGGERS:
            logging.getLogger(name).addFilter(self)

    def remove(self) -> None:
        for name in REQUEST_LOGGERS:
            logging.getLogger(name).removeFilter(self)
