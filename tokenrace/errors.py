"""One exception tree for the whole tool.

    TokenraceError                 base; ``str(err)`` is a message for people
    ├── ConfigError                a config or scenario file is wrong (names file, line, field)
    ├── UsageError                 a command-line argument is wrong
    ├── SSEError                   the event stream itself is unusable (e.g. a line over the cap)
    └── ProviderError              one provider failed; carries the provider name and an ErrorKind
        └── HTTPStatusError        the provider answered with a non-2xx status

Provider errors never escape a race: they become ``events.Failed`` so the other
providers go on. The CLI turns ConfigError/UsageError into exit status 2.
"""
from __future__ import annotations


class TokenraceError(Exception):
    """Base class; the message is meant for people."""


class ConfigError(TokenraceError):
    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        self.file, self.line, self.field, self.detail = file, line, field, message
        where = ""
        if file:
            where = f"{file}:{line}: " if line else f"{file}: "
        if field:
            where += f"{field}: "
        super().__init__(where + message)


class UsageError(TokenraceError):
    pass


class SSEError(TokenraceError):
    pass


class ProviderError(TokenraceError):
    def __init__(self, provider: str, message: str, *, kind: str = "internal",
                 http_status: int | None = None, retry_after_s: float | None = None,
                 retryable: bool = False) -> None:
        self.provider, self.kind, self.http_status = provider, kind, http_status
        self.retry_after_s, self.retryable, self.detail = retry_after_s, retryable, message
        super().__init__(f"{provider}: {message}")


class HTTPStatusError(ProviderError):
    pass
