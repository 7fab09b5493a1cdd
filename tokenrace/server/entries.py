"""Redis stream entries <-> protocol frames (``serve --redis``): an entry ``0-{frame id}`` with the
fields e (event), p (provider; absent for run-wide messages) and d (the JSON data)."""
from __future__ import annotations

from ..protocol import Frame
from ..redisconn import why as _why  # noqa: F401   # one message helper for every Redis user

Entry = tuple[bytes, dict[bytes, bytes]]      # a stream entry as redis-py returns it: (id, fields)
PAGE = 1000                                   # entries per XRANGE / XREAD reply


def entry_id(sid: bytes | str) -> int:
    """The frame id of a stream entry id ``0-n``."""
    s = sid.decode() if isinstance(sid, bytes) else sid
    return int(s.rpartition("-")[2])


def frame_of(sid: bytes, fields: dict[bytes, bytes]) -> Frame:
    p = fields.get(b"p")
    return Frame(entry_id(sid), fields[b"e"].decode(), p.decode() if p is not None else None,
                 fields[b"d"].decode())


def fields_of(f: Frame) -> dict[str, str]:
    d = {"e": f.event, "d": f.data}
    if f.provider is not None:
        d["p"] = f.provider
    return d


