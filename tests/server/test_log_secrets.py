"""The access token never reaches a log line, whatever route, status or logger."""
from __future__ import annotations

import asyncio
import logging

from tokenrace.server import ServerSettings

from tests.server import Harness, provider, sim_fast, wait_for  # noqa: F401  (fixtures)

TOKEN = "tok-LOGS-must-never-see-this-0123456789"
PIECES = [TOKEN[i:i + 12] for i in range(len(TOKEN) - 11)]
LOGGERS = ("", "tornado", "tornado.access", "tornado.application", "tornado.general", "tokenrace",
           "tokenrace.server", "asyncio", "aiohttp")


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))       # message, args, exception and stack text


async def raw(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        async with asyncio.timeout(5):
            return await reader.read(65536)
    finally:
        writer.close()


async def test_token_never_logged(sim_fast, tmp_path):
    cap = Capture()
    root = logging.getLogger()
    saved = {name: logging.getLogger(name).level for name in LOGGERS}
    root.addHandler(cap)
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    h = await Harness(sim_fast, tmp_path / "logs.db", [provider(sim_fast, "fast-a")],
                      ServerSettings(token=TOKEN, max_body_bytes=4096)).start()
    q = f"token={TOKEN}"
    try:
        # the page, its files (present, missing, a directory, outside the root), the API, SSE, errors
        gets = ["/", f"/?run=abc&{q}", "/static/app.js", "/static/vendor/marked.esm.js", "/static/nope.js",
                "/static/", "/static/vendor", "/static/vendor/", "/static/..%2f..%2fsetup.cfg", "/static/%2e%2e/app.py",
                "/healthz", "/api/providers", "/api/runs", "/api/runs?limit=zero", "/api/runs/nope",
                "/api/runs/nope/events", "/nothing/here", "/api/runs/x/providers/y/events"]
        for path in gets:
            sep = "&" if "?" in path else "?"
            url = path if q in path else f"{path}{sep}{q}"
            status, _, _ = await h.request("GET", url, allow_redirects=False)
            assert status < 500, (url, status)
        for method, path in [("PUT", "/api/runs"), ("POST", "/static/app.js"), ("DELETE", "/api/providers"),
                             ("DELETE", "/api/runs/nope"), ("PATCH", "/"), ("OPTIONS", "/api/runs")]:
            await h.request(method, f"{path}?{q}")
        for body in (b"{", b"[" * 10_000, b'{"prompt": NaN}', b'{"prompt": ""}', b"x" * 10_000, b'{"a": 1e999}'):
            status, _, _ = await h.request("POST", f"/api/runs?{q}", data=body)
            assert status in (400, 413), status
        # a wrong token, and the token in a header tornado itself refuses as malformed
        await h.request("GET", "/api/providers?token=wrong-token-value-here")
        await raw(h.server.port, f"GET /api/providers?{q} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                 f"Authorization: Bearer {TOKEN}\x01\r\n\r\n".encode())
        await raw(h.server.port, f"GET /?{q} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: tokenrace_token={TOKEN}"
                                 f"\x00\r\n\r\n".encode())
        await raw(h.server.port, f"GET /static/?{q} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        # a run, streamed, replayed, one provider, cancelled
        status, doc, _ = await h.request("POST", f"/api/runs?{q}", json={"prompt": "log me", "providers": ["fast-a"]})
        assert status == 201, doc
        run_id = doc["id"]
        res = await h.sse(f"/api/runs/{run_id}/events?{q}")
        assert res.ended
        await h.sse(f"/api/runs/{run_id}/providers/fast-a/events?{q}&last_event_id=2")
        await h.request("GET", f"/api/runs/{run_id}?{q}")
        await h.request("DELETE", f"/api/runs/{run_id}?{q}")
        streamed = await h.sse(f"/api/runs?{q}", method="POST", json_body={"prompt": "again", "providers": ["fast-a"]},
                               headers={"Accept": "text/event-stream"})
        assert streamed.ended
        await wait_for(lambda: not h.server.manager.runs)
    finally:
        await h.stop()
        root.removeHandler(cap)
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)

    text = "\n".join(cap.lines)
    # the capture saw the traffic: access lines, tornado's own warnings and its malformed-request notes
    assert "GET /static/app.js" in text and "tornado.general" in text and "Malformed HTTP message" in text
    leaks = [line for line in cap.lines if any(p in line for p in PIECES)]
    assert not leaks, "\n".join(leaks[:10])


def test_filter_redacts_message_args_exception_and_stack():
    from tokenrace.server.auth import RedactFilter
    f = RedactFilter(TOKEN)
    try:
        raise ValueError(f"bad uri /x?token={TOKEN[:20]}")          # only a piece of the token
    except ValueError:
        import sys
        exc = sys.exc_info()
    record = logging.LogRecord("tornado.application", logging.ERROR, __file__, 1, "Uncaught %s %r", (
        f"GET /?a=1&TOKEN={TOKEN}", {"Authorization": f"Bearer {TOKEN}"}), exc, sinfo=f"stack {TOKEN[5:30]}")
    assert f.filter(record) is True
    line = logging.Formatter("%(message)s").format(record)
    assert not any(p in line for p in PIECES) and "TOKEN=***" in line and "Bearer ***" in line
    assert "ValueError: bad uri /x?token=***" in line and "\nstack " in line
    plain = logging.LogRecord("tornado.access", logging.INFO, __file__, 1, "200 GET /api/runs %.1f ms", (1.5,), None)
    f.filter(plain)
    assert plain.getMessage() == "200 GET /api/runs 1.5 ms" and plain.args == (1.5,)     # untouched
