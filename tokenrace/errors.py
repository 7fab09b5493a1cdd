"""One exception tree for the whole tool.

    TokenraceError                 base; ``str(err)`` is a message for people
    ├── ConfigError                a config or scenario file is wrong (names file, line, field)
    ├── UsageError                 a command-line argument is wrong
    ├── SSEError                   the event stream itself is unusable (e.g. a line over the cap)
    └── tui.remote.RemoteError     the tokenrace server the remote TUI follows answered badly

A provider's failure is no exception: the read loop turns it into ``events.Failed`` (with
an error kind and the HTTP status) so the other providers go on. The CLI turns
ConfigError/UsageError into exit status 2 and any other TokenraceError into 1.
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
