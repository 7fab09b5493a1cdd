"""Writing ``text/event-stream`` (us -> browser/TUI): docs/sse-parsing.md "Writing SSE".

No I/O and no third-party imports here. Re-exported by ``tokenrace.sse``.
"""
from __future__ import annotations

__all__ = ["encode_event", "encode_comment"]

_STRIP_EOL = str.maketrans("", "", "\r\n")
_STRIP_EOL_NUL = str.maketrans("", "", "\r\n\0")


def encode_event(data: str, *, event: str | None = None, id: str | int | None = None,
                 retry: int | None = None) -> bytes:
    """One event as UTF-8 bytes, ending with its blank line.

    Line breaks in ``data`` (CRLF, CR, LF) become several ``data:`` lines, so
    the reader gets ``data`` back with every line break as LF. CR and LF are
    removed from ``event`` and ``id`` (a value must not inject fields); NUL is
    also removed from ``id``, since a reader ignores an id containing NUL.
    An empty ``event`` is left out (the reader's type is then ``message``);
    ``id=""`` is written and resets the reader's last event id.
    """
    parts = []
    if event is not None:
        event = event.translate(_STRIP_EOL)
        if event:
            parts.append(f"event: {event}\n")
    if id is not None:
        parts.append(f"id: {str(id).translate(_STRIP_EOL_NUL)}\n")
    if retry is not None:
        if isinstance(retry, bool) or not isinstance(retry, int) or retry < 0:
            raise ValueError(f"retry must be a non-negative int (milliseconds), got {retry!r}")
        parts.append(f"retry: {retry}\n")
    if "\r" in data:
        data = data.replace("\r\n", "\n").replace("\r", "\n")
    parts.append("data: ")
    parts.append(data.replace("\n", "\ndata: ") if "\n" in data else data)
    parts.append("\n\n")
    return "".join(parts).encode("utf-8", "replace")


def encode_comment(text: str = "") -> bytes:
    """A comment line plus blank line (``: text``), e.g. a heartbeat; CR/LF are removed."""
    text = text.translate(_STRIP_EOL)
    return (f": {text}\n\n" if text else ":\n\n").encode("utf-8", "replace")
