"""Browser tests of the page: the real tokenrace server (in-process, on a background event loop) racing
simulator providers, driven by Playwright for Python in Debian's Chromium (never a downloaded browser).

Without /usr/bin/chromium every test here is skipped, unless TOKENRACE_REQUIRE_BROWSER=1 (CI), which makes
that a failure. TOKENRACE_SCREENSHOTS=1 saves the screenshots into docs/screenshots/ (otherwise into the
test's tmp dir, so a normal run leaves the repository alone).
"""
from __future__ import annotations

import asyncio
import dataclasses
import gc
import os
import re
import threading
from pathlib import Path
from typing import Any, Awaitable, Callable, TypeVar

import pytest

from tokenrace.config.models import Config, Price, ProviderConfig, Secret, SSEEndpoint, Timeouts
from tokenrace.simulator import Fault, Profile, Simulator

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("TOKENRACE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# What the server is asked to send with the page (see the report / README); the tests add it when the
# server does not, so the page is always tested under it.
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
TOKEN = "e2e-secret-token-0123456789"
API_KEY = "sk-e2e-this-key-must-never-reach-the-page-7f3a"   # every provider's key; the page must never see it

XSS_TEXT = (
    "Here is **bold** and a list:\n\n- one\n- two\n\n"
    "<script>window.__pwned=1</script>\n\n"
    "Inline <img src=x onerror=\"window.__pwned=1\"> image.\n\n"
    "A [click](javascript:window.__pwned=1) link and <a href=\"javascript:window.__pwned=1\">another</a>.\n\n"
    "Remote ![x](http://203.0.113.1/x.png) image and <iframe src=\"http://203.0.113.1/\"></iframe> frame.\n\n"
    "<svg onload=\"window.__pwned=1\"><circle r=\"5\"/></svg> and "
    "<div style=\"background:url(http://203.0.113.1/bg.png)\">styled</div> and "
    "[data](data:text/html;base64,PHNjcmlwdD53aW5kb3cuX19wd25lZD0xPC9zY3JpcHQ+) end.\n"
)

FAST = dict(ttft_ms=40, itl_ms=6, jitter_ms=1)
PROFILES = [
    Profile("alpha", answer_tokens=70, ttft_ms=60, itl_ms=12, jitter_ms=3),
    Profile("bravo", answer_tokens=60, reasoning_tokens=14, ttft_ms=180, itl_ms=14, jitter_ms=3),
    Profile("charlie", answer_tokens=84, tokens_per_chunk=3, ttft_ms=240, itl_ms=40, jitter_ms=6),
    Profile("delta", answer_tokens=55, reasoning_tokens=8, ttft_ms=120, itl_ms=16, jitter_ms=3),
    Profile("echo", answer_tokens=50, ttft_ms=300, itl_ms=18, jitter_ms=3),
    Profile("foxtrot", answer_tokens=60, ttft_ms=90, itl_ms=17, jitter_ms=3),
    Profile("golf", answer_tokens=65, ttft_ms=350, itl_ms=9, jitter_ms=2),
    Profile("hotel", answer_tokens=45, ttft_ms=150, itl_ms=24, jitter_ms=4),
    Profile("broken", answer_tokens=30, fault=Fault("http_401"), **FAST),
    Profile("cutoff", answer_tokens=40, fault=Fault("truncate", after_tokens=12), **FAST),
    Profile("xss", text=XSS_TEXT, ttft_ms=30, itl_ms=2),
    Profile("slow", answer_tokens=160, ttft_ms=80, itl_ms=22, jitter_ms=2),
    Profile("slow2", answer_tokens=120, reasoning_tokens=10, ttft_ms=60, itl_ms=28, tokens_per_chunk=2),
]
# provider name -> (profile, kind, model)
PROVIDERS = {
    "alpha": ("alpha", "openai", "gpt-sim-mini"),
    "bravo": ("bravo", "anthropic", "claude-sim-haiku"),
    "charlie": ("charlie", "gemini", "gemini-sim-flash"),
    "delta": ("delta", "zhipu", "glm-sim-4.5"),
    "echo": ("echo", "ollama", "llama-sim:3b"),
    "foxtrot": ("foxtrot", "sse", "custom-chat"),
    "golf": ("golf", "openai", "qwen-sim-8b"),
    "hotel": ("hotel", "anthropic", "claude-sim-sonnet"),
    "broken": ("broken", "openai", "gpt-sim-keyless"),
    "cutoff": ("cutoff", "openai", "gpt-sim-flaky"),
    "xss": ("xss", "openai", "gpt-sim-evil"),
    "slow": ("slow", "openai", "gpt-sim-large"),
    "slow2": ("slow2", "anthropic", "claude-sim-opus"),
}
EIGHT = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]
# USD per million tokens; every other provider has no price (the page then shows no cost for it). foxtrot reports
# no usage, so its cost rests on estimated tokens.
PRICES = {"alpha": Price(0.15, 0.60), "bravo": Price(3.0, 15.0), "foxtrot": Price(1.0, 2.0)}
BUILTIN_PRICES = {"sim-openai": Price(0.15, 0.60), "sim-anthropic": Price(0.80, 4.0), "sim-custom": Price(0.5, 1.5)}


def _provider(sim: Simulator, name: str) -> ProviderConfig:
    profile, kind, model = PROVIDERS[name]
    endpoint = SSEEndpoint(path="/chat/stream", text_path="content", done="[DONE]") if kind == "sse" else None
    return ProviderConfig(name=name, kind=kind, model=model, base_url=sim.base_url(profile, kind),
                          api_key=Secret(API_KEY), endpoint=endpoint, retries=0, price=PRICES.get(name),
                          timeout=Timeouts(connect=5, read=20, total=60))


def _builtin(sim: Simulator) -> Config:
    """The built-in config (one provider of each of the 11 kinds), a few of them priced."""
    from tokenrace.config.defaults import builtin_config
    cfg = builtin_config(sim)
    providers = tuple(dataclasses.replace(p, price=BUILTIN_PRICES.get(p.name)) for p in cfg.providers)
    return dataclasses.replace(cfg, providers=providers)


class DropProxy:
    """A TCP proxy in front of the server that can cut the page's SSE connections (a dropped network, as the
    browser sees it: the server side of its connection goes away mid-stream)."""

    EVENTS_RE = re.compile(rb"GET (/api/runs/[^ ]+/events)[^\r\n]* HTTP/1\.1\r\n(.*?)\r\n\r\n", re.S)

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.sse_writers: list[asyncio.StreamWriter] = []
        self.event_requests: list[dict[str, Any]] = []     # {"path", "last_event_id"}
        self._server: asyncio.AbstractServer | None = None
        self._conns: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._conns.update((writer, up_w))

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, sniff: bool) -> None:
            buf = b""
            try:
                while data := await src.read(65536):
                    if sniff:
                        buf = (buf + data)[-16384:]
                        for m in self.EVENTS_RE.finditer(buf):
                            headers = m.group(2).decode("latin-1")
                            lei = re.search(r"(?im)^last-event-id:\s*(\S+)", headers)
                            self.event_requests.append({"path": m.group(1).decode(),
                                                        "last_event_id": lei.group(1) if lei else None})
                            self.sse_writers.append(writer)
                        buf = self.EVENTS_RE.sub(b"", buf)
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                for w in (dst,):
                    if not w.is_closing():
                        w.close()

        await asyncio.gather(pump(reader, up_w, True), pump(up_r, writer, False))
        self._conns.discard(writer)
        self._conns.discard(up_w)

    def drop_sse(self) -> int:
        """Cut every open SSE connection (both sides); returns how many were cut."""
        n = 0
        for w in self.sse_writers:
            if not w.is_closing():
                w.transport.abort()
                n += 1
        self.sse_writers.clear()
        return n

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for w in list(self._conns):
            w.transport.abort()


class LiveServer:
    """Simulator + tokenrace server (+ a drop proxy) on an event loop in a background thread."""

    def __init__(self, token: str | None = None, builtin: bool = False) -> None:
        self.token = token
        self.builtin = builtin
        self.secret = API_KEY
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="tokenrace-e2e-loop", daemon=True)
        self.sim: Simulator | None = None
        self.server = None
        self.store = None
        self.proxy: DropProxy | None = None
        self.url = self.proxy_url = ""

    def call(self, coro: Awaitable[T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self, db_path: Path) -> "LiveServer":
        self.thread.start()
        self.call(self._start(db_path))
        # the server shares this process with the test driver: keep what exists now out of the garbage
        # collector's full passes, so a collection does not pause the server's event loop mid-race
        gc.collect()
        gc.freeze()
        return self

    async def _start(self, db_path: Path) -> None:
        from tokenrace.server import Server, ServerSettings
        from tokenrace.store import RunStore
        from tokenrace.simulator import DEFAULT_PROFILES
        self.sim = Simulator(DEFAULT_PROFILES if self.builtin else PROFILES)
        await self.sim.start()
        if self.builtin:
            config = _builtin(self.sim)
        else:
            config = Config(providers=tuple(_provider(self.sim, n) for n in PROVIDERS),
                            defaults={"params": {"max_tokens": 512}}, source="e2e")
        self.store = RunStore(db_path)
        await self.store.open()
        self.server = Server(config, self.store, ServerSettings(host="127.0.0.1", port=0, token=self.token,
                                                                retry_ms=500))
        await self.server.start()
        self.url = f"http://127.0.0.1:{self.server.port}"
        self.proxy = DropProxy(self.server.port)
        await self.proxy.start()
        self.proxy_url = f"http://127.0.0.1:{self.proxy.port}"

    async def _stop(self) -> None:
        if self.proxy:
            await self.proxy.stop()
        if self.server:
            await self.server.stop(timeout=3)
        if self.store:
            await self.store.close()
        if self.sim:
            await self.sim.stop()

    def stop(self) -> None:
        try:
            self.call(self._stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)


def _browser_missing_reason() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing (apt-get install chromium); set TOKENRACE_REQUIRE_BROWSER=1 to fail instead"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is missing (pip install -e '.[test]')"
    return None


@pytest.fixture(scope="module")
def chromium():
    reason = _browser_missing_reason()
    if reason:
        if os.environ.get("TOKENRACE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser tests are required (TOKENRACE_REQUIRE_BROWSER=1) but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def live(chromium, tmp_path_factory):
    srv = LiveServer().start(tmp_path_factory.mktemp("db") / "runs.db")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def live_builtin(chromium, tmp_path_factory):
    """The server on the built-in config: the 11 simulated providers, one per kind."""
    srv = LiveServer(builtin=True).start(tmp_path_factory.mktemp("dbb") / "runs.db")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def live_token(chromium, tmp_path_factory):
    srv = LiveServer(token=TOKEN).start(tmp_path_factory.mktemp("dbt") / "runs.db")
    yield srv
    srv.stop()


class PageWatch:
    """What a page did that a test checks: requests to other hosts, CSP reports, page errors."""

    def __init__(self, page) -> None:
        self.page = page
        self.requests: list[str] = []
        self.console: list[str] = []
        self.errors: list[str] = []
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def foreign_requests(self) -> list[str]:
        ok = ("http://127.0.0.1:", "blob:", "data:")
        return [u for u in self.requests if not u.startswith(ok)]

    def csp_violations(self) -> list[str]:
        return [c for c in self.console if "Content Security Policy" in c or "Refused to" in c]


def _add_csp(route) -> None:
    """Serve the page with the CSP the server should send (kept if the server already sends one)."""
    resp = route.fetch()
    headers = dict(resp.headers)
    if not any(k.lower() == "content-security-policy" for k in headers):
        headers["Content-Security-Policy"] = CSP
    route.fulfill(response=resp, headers=headers)


@pytest.fixture
def new_page(chromium) -> Callable[..., Any]:
    """new_page(base_url, **context_options) -> (page, watch); closed at the end of the test."""
    contexts = []

    def make(base_url: str, **opts):
        opts.setdefault("viewport", {"width": 1400, "height": 900})
        opts.setdefault("base_url", base_url)
        ctx = chromium.new_context(**opts)
        ctx.set_default_timeout(15_000)
        contexts.append(ctx)
        page = ctx.new_page()
        watch = PageWatch(page)
        page.route(re.compile(r"^http://127\.0\.0\.1:\d+/(\?.*)?$"), _add_csp)
        return page, watch

    yield make
    for ctx in contexts:
        ctx.close()


@pytest.fixture
def shots(tmp_path) -> Callable[..., Path]:
    """shots(page_or_locator, name, full_page=False): a PNG into docs/screenshots/ (TOKENRACE_SCREENSHOTS=1)
    or into the test's tmp dir."""
    folder = ROOT / "docs" / "screenshots" if os.environ.get("TOKENRACE_SCREENSHOTS") == "1" else tmp_path
    folder.mkdir(parents=True, exist_ok=True)

    def take(target, name: str, full_page: bool = False) -> Path:
        path = folder / f"{name}.png"
        if hasattr(target, "goto"):          # a Page
            target.screenshot(path=str(path), full_page=full_page, animations="disabled")
        else:                                # a Locator
            target.screenshot(path=str(path), animations="disabled")
        return path

    return take
