"""An upstream that echoes the API key back, in every way it can, read by every consumer.

No 12-character piece of the key may reach ``run``'s output (JSON, table, logs), the server's API,
SSE bytes, logs and database, the TUI's screen, exports and database (in-process and remote), or
bench's files and database. Each test also checks the upstream really received (and echoed) the
key, and that the message survives with the key masked, so passing cannot mean "nothing ran".
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import sys
import asyncio
from pathlib import Path

import pytest
import pytest_asyncio

from tokenrace.config.models import Config, ProviderConfig, Secret, Timeouts
from tokenrace.secrets import MASK

from tests.hostile import ECHO_MODES, EchoUpstream, leaks

KEY = "sk-echo-" + "Zq3vT9xK2mW7pL4nR8sY1bF6hJ0dG5cA"      # 40 characters


@pytest_asyncio.fixture
async def echo():
    up = await EchoUpstream().start()
    yield up
    await up.stop()


def echo_providers(echo: EchoUpstream) -> tuple[ProviderConfig, ...]:
    tmo = Timeouts(connect=5, read=10, total=30)
    out = [ProviderConfig(name=f"p-{m}", kind="openai", model="m", base_url=echo.base_url(m), api_key=Secret(KEY),
                          retries=0, timeout=tmo) for m in ECHO_MODES]
    out.append(ProviderConfig(name="p-anthropic", kind="anthropic", model="m", base_url=f"{echo.url}/e401",
                              api_key=Secret(KEY), retries=0, timeout=tmo))
    return tuple(out)


def echo_yaml(echo: EchoUpstream) -> str:
    lines = ["providers:"]
    for p in echo_providers(echo):
        lines += [f"  - name: {p.name}", f"    kind: {p.kind}", "    model: m", f"    base_url: {p.base_url}",
                  "    api_key: ${ECHO_KEY}", "    retries: 0"]
    return "\n".join(lines) + "\n"


def db_rows(path: Path) -> str:
    with contextlib.closing(sqlite3.connect(path)) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return repr([list(db.execute(f"SELECT * FROM {t}")) for t in tables])


def assert_echoed(echo: EchoUpstream) -> None:
    """The upstream got the key (so it could echo it) from every mode."""
    got = {r["mode"] for r in echo.requests
           if KEY in r["headers"].get("Authorization", "") + r["headers"].get("x-api-key", "")}
    assert got >= set(ECHO_MODES), f"modes that never received the key: {set(ECHO_MODES) - got}"


def assert_masked_errors(results: list[dict]) -> None:
    by = {r["provider"]: r for r in results}
    assert MASK in by["p-e401"]["error"] and "Incorrect API key provided" in by["p-e401"]["error"]
    assert MASK in by["p-mid"]["error"] and by["p-mid"]["text"] == "Hello"
    assert MASK in by["p-echo"]["text"] and by["p-echo"]["status"] == "ok"
    assert by["p-ok"]["status"] == "ok" and by["p-ok"]["text"] == "Hello world."


async def cli(*args: str, cwd: Path, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tokenrace", *args, cwd=cwd, env={**os.environ, "HOME": str(cwd), **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_run_never_shows_the_key(echo, tmp_path):
    cfg = tmp_path / "tokenrace.yaml"
    cfg.write_text(echo_yaml(echo))
    env = {"ECHO_KEY": KEY, "XDG_DATA_HOME": str(tmp_path / "data")}
    code, out, err = await cli("-vv", "run", "hello", "-c", str(cfg), "--json", cwd=tmp_path, env=env)
    assert code == 1, err                          # some providers failed, as they should
    assert leaks(out, KEY) == [] and leaks(err, KEY) == []
    assert_masked_errors(json.loads(out)["results"])
    code, out, err = await cli("-vv", "run", "hello", "-c", str(cfg), cwd=tmp_path, env=env)    # the tables
    assert code == 1 and "p-e401" in out
    assert leaks(out, KEY) == [] and leaks(err, KEY) == []
    assert leaks(db_rows(tmp_path / "data" / "tokenrace" / "runs.db"), KEY) == []
    assert_echoed(echo)


async def test_serve_never_shows_the_key(echo, tmp_path, caplog):
    from tests.server import Harness
    caplog.set_level(logging.DEBUG)
    h = await Harness(None, tmp_path / "runs.db", list(echo_providers(echo))).start()   # type: ignore[arg-type]
    try:
        status, doc, resp = await h.request("POST", "/api/runs", json={"prompt": "hello"},
                                            headers={"Accept": "text/event-stream"})
        assert status == 201
        run_id = resp.headers["X-Run-Id"]
        seen: list = [doc]
        res = await h.sse(f"/api/runs/{run_id}/events")              # a replay after the end
        assert res.ended
        seen += [res.raw]
        for p in echo_providers(echo):
            seen.append((await h.sse(f"/api/runs/{run_id}/providers/{p.name}/events")).raw)
        status, run, _ = await h.request("GET", f"/api/runs/{run_id}")
        assert run["status"] == "done"
        assert_masked_errors(run["results"])
        seen += [run, (await h.request("GET", "/api/runs"))[1], await h.store.dump()]
        await h.restart()                                              # replay from the database
        seen.append((await h.sse(f"/api/runs/{run_id}/events")).raw)
    finally:
        await h.stop()
    seen += [r.getMessage() + (r.exc_text or "") for r in caplog.records]
    for blob in seen:
        assert leaks(blob, KEY) == []
    assert leaks(db_rows(tmp_path / "runs.db"), KEY) == []
    assert_echoed(echo)


async def test_tui_in_process_never_shows_the_key(echo, tmp_path):
    from tokenrace.tui.app import TokenraceApp
    from tokenrace.tui.client import LocalSource

    from tests.tui.test_app_local import type_and_run
    from tests.tui import until

    @contextlib.asynccontextmanager
    async def factory():
        yield Config(providers=echo_providers(echo))

    app = TokenraceApp(LocalSource(config_factory=factory, db_path=str(tmp_path / "runs.db"), metrics_interval=0.05),
                       export_dir=str(tmp_path))
    async with app.run_test(size=(200, 60)) as pilot:
        await type_and_run(pilot, "hello")
        await until(lambda: app.state.status == "done", pilot=pilot, what="the run to end")
        await pilot.pause()
        screen = app.export_screenshot()
        paths = app.export_run()
        results = [p.result for p in app.state.providers.values()]
        for name in ("p-e401", "p-mid"):                  # each pane's error, as shown
            app.main.pane(name).focus()
            await pilot.pause()
            screen += app.export_screenshot()
    assert leaks(screen, KEY) == []
    assert_masked_errors(results)
    for path in paths:
        assert leaks(path.read_text(encoding="utf-8"), KEY) == []
    assert leaks(db_rows(tmp_path / "runs.db"), KEY) == []
    assert_echoed(echo)


async def test_tui_remote_never_shows_the_key(echo, tmp_path):
    from tokenrace.tui.app import TokenraceApp
    from tokenrace.tui.client import RemoteSource

    from tests.server import Harness
    from tests.tui.test_app_local import type_and_run
    from tests.tui import until

    h = await Harness(None, tmp_path / "runs.db", list(echo_providers(echo))).start()   # type: ignore[arg-type]
    try:
        app = TokenraceApp(RemoteSource(h.base), export_dir=str(tmp_path))
        async with app.run_test(size=(200, 60)) as pilot:
            await type_and_run(pilot, "hello")
            await until(lambda: app.state.status == "done", pilot=pilot, what="the run to end")
            await pilot.pause()
            screen = app.export_screenshot()
            paths = app.export_run()
            results = [p.result for p in app.state.providers.values()]
    finally:
        await h.stop()
    assert leaks(screen, KEY) == []
    assert_masked_errors(results)
    for path in paths:
        assert leaks(path.read_text(encoding="utf-8"), KEY) == []


async def test_bench_never_shows_the_key(echo, tmp_path):
    cfg = tmp_path / "tokenrace.yaml"
    cfg.write_text(echo_yaml(echo))
    scenario = tmp_path / "echo.yaml"
    scenario.write_text("name: echo\nprompts: [hello]\nrepetitions: 2\nload: {concurrency: [2]}\n")
    env = {"ECHO_KEY": KEY, "XDG_DATA_HOME": str(tmp_path / "data")}
    code, out, err = await cli("-vv", "bench", str(scenario), "-c", str(cfg), "--out", str(tmp_path / "out"),
                               cwd=tmp_path, env=env)
    assert (tmp_path / "out" / "records.jsonl").exists(), err
    assert leaks(out, KEY) == [] and leaks(err, KEY) == []
    files = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert len(files) >= 4
    for path in files:
        assert leaks(path.read_bytes(), KEY) == [], path.name
    records = [json.loads(line) for line in (tmp_path / "out" / "records.jsonl").read_text().splitlines()]
    assert any(MASK in (r.get("error") or "") for r in records)
    assert leaks(db_rows(tmp_path / "data" / "tokenrace" / "runs.db"), KEY) == []
    assert_echoed(echo)
