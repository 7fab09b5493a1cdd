"""Request bodies: non-finite numbers, nesting depth and size limits, over real loopback HTTP."""
from __future__ import annotations

import asyncio
import json

import pytest

from tokenrace.server.body import MAX_DEPTH, BodyError, parse_json

from tests.server import harness, sim_fast  # noqa: F401  (fixtures)

MIB = 1024 * 1024
LIMIT = MIB                        # ServerSettings.max_body_bytes default


async def raw_exchange(port: int, head: bytes, body: bytes = b"", timeout: float = 10.0) -> tuple[int, dict, bytes]:
    """Send ``head`` (and ``body``, maybe only part of what it announces) on a fresh socket and read one
    response; raises TimeoutError when none comes (e.g. the server waits for the rest of the body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head + body)
        await writer.drain()
        async with asyncio.timeout(timeout):
            raw = await reader.readuntil(b"\r\n\r\n")
            lines = raw.decode("latin1").split("\r\n")
            status = int(lines[0].split()[1])
            headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
            data = await reader.readexactly(int(headers.get("content-length", "0")))
        return status, headers, data
    finally:
        writer.close()


def post_head(port: int, extra: str) -> bytes:
    return (f"POST /api/runs HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"{extra}\r\n").encode()


def assert_json_413(status: int, headers: dict, data: bytes) -> None:
    assert status == 413, (status, headers, data[:200])
    assert headers["content-type"].startswith("application/json")
    doc = json.loads(data)
    assert set(doc) == {"error"} and f"the limit is {LIMIT}" in doc["error"] and "--max-body-bytes" in doc["error"]


# ---------------------------------------------------------------- JSON: only finite numbers, bounded depth
NON_FINITE = [
    b'{"prompt": "x", "params": {"temperature": NaN}}',
    b'{"prompt": "x", "params": {"top_p": Infinity}}',
    b'{"prompt": "x", "params": {"temperature": -Infinity}}',
    b'{"prompt": "x", "providers": ["fast-a"], "params": {"temperature": 1e999}}',
    b'{"prompt": "x", "params": {"top_p": -2.5e400}}',
    b'{"prompt": "x", "params": {"max_tokens": 1' + b"0" * 400 + b'}}',     # Infinity in the page's JSON.parse
    b'[NaN]',
]


@pytest.mark.parametrize("body", NON_FINITE, ids=range(len(NON_FINITE)))
async def test_non_finite_numbers_are_refused(harness, body):
    status, doc, resp = await harness.request("POST", "/api/runs", data=body)
    assert status == 400, doc
    assert resp.headers["Content-Type"].startswith("application/json")
    assert "finite" in doc["error"], doc
    assert harness.server.manager.runs == {}
    assert await harness.store.list_runs() == []


async def test_deep_nesting_is_a_clear_400(harness):
    for body in (b"[" * 100_000, b'{"a":' * 100_000, b'{"prompt": "x", "params": {"stop": ' + b"[" * 65 + b"]" * 65 + b"}}"):
        status, doc, resp = await harness.request("POST", "/api/runs", data=body)
        assert status == 400, doc
        assert f"nested more than {MAX_DEPTH} levels" in doc["error"]
    # brackets inside strings are text, not nesting
    status, doc, _ = await harness.request("POST", "/api/runs", json={"prompt": "[{" * 5000, "providers": ["fast-a"]})
    assert status == 201, doc
    status, doc, _ = await harness.request("GET", "/healthz")
    assert status == 200


def test_parse_json_depth_boundary_and_numbers():
    deepest = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    assert parse_json(deepest) is not None
    with pytest.raises(BodyError, match="nested"):
        parse_json(b"[" + deepest + b"]")
    assert parse_json(b'{"s": "NaN Infinity [[[", "n": [1.5, -0.0, 1e308, 12345678901234567890]}') == \
        {"s": "NaN Infinity [[[", "n": [1.5, -0.0, 1e308, 12345678901234567890]}
    assert parse_json('{"prompt": "\\"[[" }'.encode()) == {"prompt": '"[['}
    for bad in (b"{", b"\xff", b"", b'{"a": 1} x'):
        with pytest.raises(BodyError) as e:
            parse_json(bad)
        assert e.value.status == 400


# ---------------------------------------------------------------- size: a JSON 413 at every size
@pytest.mark.parametrize("size", [LIMIT + 1, 4 * LIMIT, 4 * LIMIT + 65 * 1024 + 1, 8 * LIMIT])
async def test_oversized_body_sent_whole_gets_json_413(harness, size):
    body = b'{"prompt": "' + b"y" * (size - 14) + b'"}'
    assert len(body) == size
    status, doc, resp = await harness.request("POST", "/api/runs", data=body)
    assert status == 413, doc
    assert resp.headers["Content-Type"].startswith("application/json")
    assert f"the limit is {LIMIT}" in doc["error"]
    # the connection is still usable, and nothing was created
    assert (await harness.request("GET", "/healthz"))[0] == 200
    assert harness.server.manager.runs == {}


@pytest.mark.parametrize("announced", [64 * MIB, 1024 * MIB])
async def test_huge_content_length_answered_before_the_body_is_sent(harness, announced):
    port = harness.server.port
    # only 64 KiB of the announced body is ever sent: the answer must not wait for (or read) the rest
    status, headers, data = await raw_exchange(port, post_head(port, f"Content-Length: {announced}\r\n"),
                                               b'{"prompt": "' + b"z" * 65536)
    assert_json_413(status, headers, data)
    assert str(announced) in json.loads(data)["error"]


async def test_expect_100_continue_gets_413_not_continue(harness):
    port = harness.server.port
    status, headers, data = await raw_exchange(
        port, post_head(port, f"Content-Length: {64 * MIB}\r\nExpect: 100-continue\r\n"))
    assert_json_413(status, headers, data)


async def test_chunked_body_over_the_limit_gets_json_413(harness):
    sent = 0

    async def pieces():
        nonlocal sent
        yield b'{"prompt": "'
        for _ in range(2 * LIMIT // 65536):
            sent += 65536
            yield b"c" * 65536
        yield b'"}'

    status, doc, resp = await harness.request("POST", "/api/runs", data=pieces())
    assert status == 413, doc
    assert f"the limit is {LIMIT}" in doc["error"]
    assert harness.server.manager.runs == {}


async def test_chunked_giant_chunk_answered_before_it_is_sent(harness):
    port = harness.server.port
    head = post_head(port, "Transfer-Encoding: chunked\r\n")
    # one chunk announced at 1 GiB; 2 MiB of it sent, then the client waits for the answer
    status, headers, data = await raw_exchange(port, head, b"40000000\r\n" + b"q" * (2 * LIMIT))
    assert_json_413(status, headers, data)


async def test_chunked_body_under_the_limit_is_accepted(harness):
    async def pieces():
        yield b'{"prompt": "chunked",'
        yield b' "providers": ["fast-a"]}'

    status, doc, _ = await harness.request("POST", "/api/runs", data=pieces())
    assert status == 201, doc


async def test_chunked_after_100_continue_gets_413(harness):
    port = harness.server.port
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(post_head(port, "Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n"))
        async with asyncio.timeout(10):
            assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 100")
            writer.write(b"200000\r\n" + b"k" * (2 * LIMIT) + b"\r\n")     # one 2 MiB chunk
            await writer.drain()
            raw = await reader.readuntil(b"\r\n\r\n")
            lines = raw.decode("latin1").split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
            data = await reader.readexactly(int(headers["content-length"]))
        assert_json_413(int(lines[0].split()[1]), headers, data)
    finally:
        writer.close()
