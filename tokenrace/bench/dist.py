"""What a distributed bench (``bench --redis``) and its workers (``tokenrace worker``) say to each
other through Redis: the keys and the messages. JSON only (never pickle: a worker must not run what
somebody else put into Redis), and never a secret: a worker sends providers by name and takes their
keys from its own config, and it redacts every record before it sends it.

Keys (``{p}`` is the prefix, ``tokenrace`` by default)::

    {p}:bench:worker:{name}    a worker's presence (JSON: name, host, pid, job); expires unless renewed
    {p}:bench:offers           stream: one entry per share of a job; the workers' consumer group
                               ``workers`` hands each entry to one worker
    {p}:bench:job:{job}        the job (JSON): the scenario as run, provider names, settings
    {p}:bench:job:{job}:alive  the bench is still there; expires unless renewed
    {p}:bench:job:{job}:ctl:{k}  stream: the bench to the worker of share k (go, stop)
    {p}:bench:job:{job}:up     stream: every worker to the bench (hello, beat, gate, rec, lag, done, error)
"""
from __future__ import annotations

import secrets as _random
from dataclasses import dataclass
from typing import Any

import orjson

GROUP = "workers"
PRESENCE_TTL_MS = 5000          # a worker renews its presence every second
BEAT_S = 1.0                    # a worker with a share says it is alive this often
DEFAULT_LEASE_S = 5.0           # a share's worker silent this long is gone; its unfinished requests fail
DEFAULT_CLAIM_S = 10.0          # a share no worker takes within this is failed the same way
START_MARGIN_NS = 50_000_000    # a step starts this long after a worker hears "go" (time for the others)


@dataclass(frozen=True)
class Keys:
    prefix: str = "tokenrace"

    def worker(self, name: str) -> str:
        return f"{self.prefix}:bench:worker:{name}"

    @property
    def workers_match(self) -> str:
        return f"{self.prefix}:bench:worker:*"

    @property
    def offers(self) -> str:
        return f"{self.prefix}:bench:offers"

    def job(self, job: str) -> str:
        return f"{self.prefix}:bench:job:{job}"

    def alive(self, job: str) -> str:
        return f"{self.prefix}:bench:job:{job}:alive"

    def ctl(self, job: str, share: int) -> str:
        return f"{self.prefix}:bench:job:{job}:ctl:{share}"

    def up(self, job: str) -> str:
        return f"{self.prefix}:bench:job:{job}:up"


def new_job_id() -> str:
    return _random.token_hex(6)


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)


def loads(data: bytes | str) -> Any:
    return orjson.loads(data)


def message(kind: str, data: Any = None, share: int | None = None) -> dict[bytes, bytes]:
    """An entry's fields: k (kind), d (JSON), s (the sender's share, for messages to the bench)."""
    out = {b"k": kind.encode(), b"d": dumps(data)}
    if share is not None:
        out[b"s"] = str(share).encode()
    return out


def unpack(fields: dict[bytes, bytes]) -> tuple[str, Any, int | None]:
    s = fields.get(b"s")
    return fields[b"k"].decode(), loads(fields[b"d"]), (int(s) if s is not None else None)


async def ensure_group(r: Any, keys: Keys) -> None:
    """The workers' consumer group on the offers stream (made by whoever comes first)."""
    try:
        await r.xgroup_create(keys.offers, GROUP, id="$", mkstream=True)
    except Exception as e:          # BUSYGROUP: it exists
        if "BUSYGROUP" not in str(e):
            raise


async def present_workers(r: Any, keys: Keys) -> list[dict[str, Any]]:
    """Every worker whose presence has not expired (any job or none)."""
    out, cursor = [], 0
    while True:
        cursor, found = await r.scan(cursor, match=keys.workers_match, count=200)
        for raw in (await r.mget(*found)) if found else []:
            if raw:
                try:
                    out.append(loads(raw))
                except orjson.JSONDecodeError:
                    continue
        if not cursor:
            return sorted(out, key=lambda w: str(w.get("name")))
