"""The redactor: every configured secret, removed from upstream text before anything else sees it.

What comes from a provider (error bodies, stream events, answers) may echo a key back: some gateways
put the key they were sent into their 401 body. The engine passes every such string through one
:class:`Redactor` *before* it is cut short, logged, stored, broadcast or printed, so no consumer can
leak what it never received.

The rule is stronger than "no whole key": no piece of a secret of :data:`PIECE` characters or more
may survive (a cut error message, a key split over two deltas, a gateway that echoes half a key).
Each piece that long is replaced by :data:`MASK`.

Cost: a text is first checked for the secrets' aligned :data:`ANCHOR`-character blocks with ``in``
(C-level searches; any ``PIECE``-long piece contains one), so text without a secret in it costs a
few substring searches and nothing is done without configured secrets. Only a text that holds an
anchor is scanned window by window.
"""
from __future__ import annotations

import logging
import re
from typing import Iterable

__all__ = ["MASK", "PIECE", "MIN_SECRET", "Redactor", "StreamRedactor", "RedactingFilter"]

MASK = "***"
PIECE = 12            # no piece of a secret this long may appear anywhere
ANCHOR = PIECE // 2   # every PIECE-long piece of a secret holds one of its ANCHOR-aligned blocks
MIN_SECRET = 6        # shorter values ("1", "yes") are too common in ordinary text to remove
_SENSITIVE = ("auth", "key", "token", "secret", "cookie", "password", "credential", "signature")


def sensitive_header(name: str) -> bool:
    """A header whose value is a credential whatever it looks like (Authorization, x-api-key, ...)."""
    low = name.lower()
    return any(word in low for word in _SENSITIVE)


class Redactor:
    """Masks every known secret, and every :data:`PIECE`-character piece of one, in a text.

    Secrets may be added while races run (a token fetched by ``api_key_command``), so every
    consumer sharing this object is covered from then on.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._windows: set[str] = set()      # every PIECE-long substring of every long secret
        self._anchors: tuple[str, ...] = ()
        self._short: tuple[str, ...] = ()    # secrets of MIN_SECRET..PIECE-1 characters: whole only
        for s in secrets:
            self.add(s)

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def __len__(self) -> int:
        return len(self._secrets)

    def add(self, secret: str | None) -> None:
        """Start redacting ``secret`` (ignored when empty or shorter than :data:`MIN_SECRET`)."""
        if not secret:
            return
        secret = secret.strip()
        if len(secret) < MIN_SECRET or secret in self._secrets:
            return
        self._secrets.add(secret)
        if len(secret) < PIECE:
            self._short = tuple(sorted({*self._short, secret}, key=len, reverse=True))
            return
        self._windows.update(secret[i:i + PIECE] for i in range(len(secret) - PIECE + 1))
        anchors = set(self._anchors)
        anchors.update(secret[i:i + ANCHOR] for i in range(0, len(secret) - ANCHOR + 1, ANCHOR))
        self._anchors = tuple(anchors)

    def __contains__(self, secret: str) -> bool:
        return secret in self._secrets

    # -- matching --------------------------------------------------------------------------
    def _suspect(self, text: str) -> bool:
        for a in self._anchors:
            if a in text:
                return True
        for s in self._short:
            if s in text:
                return True
        return False

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Sorted, merged ``(start, end)`` spans of ``text`` that are secret (pieces or short secrets)."""
        if not self._secrets or not self._suspect(text):
            return []
        found: list[tuple[int, int]] = []
        windows = self._windows
        if windows:
            start = -1
            end = -1
            for i in range(len(text) - PIECE + 1):
                if text[i:i + PIECE] in windows:
                    if i <= end:                 # overlaps or touches the open span: extend it
                        end = i + PIECE
                    else:
                        if start >= 0:
                            found.append((start, end))
                        start, end = i, i + PIECE
            if start >= 0:
                found.append((start, end))
        for s in self._short:
            i = text.find(s)
            while i >= 0:
                found.append((i, i + len(s)))
                i = text.find(s, i + 1)
        return _merge(found)

    # -- redacting -------------------------------------------------------------------------
    def text(self, text: str) -> str:
        """``text`` with every secret piece replaced by :data:`MASK`."""
        if not self._secrets or not text:
            return text
        return _mask(text, self.spans(text))

    def optional(self, text: str | None) -> str | None:
        return None if text is None else self.text(text)

    def stream(self) -> "StreamRedactor":
        """A redactor for one stream of pieces (the deltas of one answer)."""
        return StreamRedactor(self)


class StreamRedactor:
    """Redacts a text that arrives in pieces, catching secrets split across pieces.

    Nothing is held back (a delta is shown when it arrives): a piece of a secret that starts in an
    earlier delta is masked from the delta where it becomes :data:`PIECE` characters long, so at most
    ``PIECE - 1`` of its characters were shown before, which the rule allows.
    """

    __slots__ = ("_red", "_tail")

    def __init__(self, redactor: Redactor) -> None:
        self._red = redactor
        self._tail = ""          # the raw end of what came before (PIECE - 1 characters)

    def text(self, piece: str) -> str:
        red = self._red
        if not red._secrets or not piece:
            return piece
        tail = self._tail
        joined = tail + piece
        self._tail = joined[-(PIECE - 1):]
        spans = red.spans(joined)
        if not spans:
            return piece
        n = len(tail)
        mine = [(max(a, n) - n, b - n) for a, b in spans if b > n]
        return _mask(piece, mine)


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    if len(spans) < 2:
        return spans
    spans.sort()
    out = [spans[0]]
    for a, b in spans[1:]:
        la, lb = out[-1]
        if a <= lb:
            out[-1] = (la, max(lb, b))
        else:
            out.append((a, b))
    return out


def _mask(text: str, spans: list[tuple[int, int]]) -> str:
    if not spans:
        return text
    parts: list[str] = []
    pos = 0
    for a, b in spans:
        parts.append(text[pos:a])
        parts.append(MASK)
        pos = b
    parts.append(text[pos:])
    return "".join(parts)


# a credential written into a URL or a header that reaches a log line: ?token=..., Bearer ...
_CREDENTIAL = re.compile(r"(token=|\bbearer\s+)[^\s&'\"\\;,)>]+", re.IGNORECASE)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the formatted message, the exception text and the stack of every
    record; it never drops one. With ``credentials``, any ``token=…`` or ``Bearer …`` value goes too
    (the server's request logs: a URL or header may carry a token that is not configured anywhere).

    On a handler, records of every logger (ours, tornado's, aiohttp's) pass it.
    """

    def __init__(self, redactor: Redactor, *, credentials: bool = False) -> None:
        super().__init__()
        self.redactor, self.credentials = redactor, credentials

    def redact(self, text: str) -> str:
        if self.credentials:
            text = _CREDENTIAL.sub(r"\1***", text)
        return self.redactor.text(text)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.redactor and not self.credentials:
            return True
        try:
            msg = record.getMessage()
        except Exception:            # bad arguments: logging reports that itself, with what it has
            msg = str(record.msg)
        clean = self.redact(msg)
        if clean != msg:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def install_log_filter(redactor: Redactor, logger: logging.Logger | None = None) -> RedactingFilter:
    """Put a :class:`RedactingFilter` on every handler of ``logger`` (default: the root logger)."""
    target = logger or logging.getLogger()
    flt = RedactingFilter(redactor)
    for h in target.handlers:
        if not any(isinstance(f, RedactingFilter) and f.redactor is redactor for f in h.filters):
            h.addFilter(flt)
    return flt
