"""``tokenrace tui`` options: which source it builds, and usage errors before any screen opens."""
from __future__ import annotations

import pytest

from tokenrace import cli
from tokenrace.tui.app import TokenraceApp
from tokenrace.tui.client import LocalSource, RemoteSource


@pytest.fixture
def launched(monkeypatch):
    """Capture the app instead of running it."""
    apps: list[TokenraceApp] = []

    def fake_run(self, *a, **kw):
        apps.append(self)
    monkeypatch.setattr(TokenraceApp, "run", fake_run)
    monkeypatch.delenv("TOKENRACE_TOKEN", raising=False)
    monkeypatch.delenv("TOKENRACE_CONFIG", raising=False)
    return apps


def test_local_mode(launched, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["tui", "-p", "sim-openai", "--max-tokens", "64", "--db", str(tmp_path / "r.db"),
                     "--export-dir", str(tmp_path / "out"), "--system", "Be terse.", "hello"]) == 0
    app = launched[0]
    assert isinstance(app.source, LocalSource) and app.source._only == ["sim-openai"]
    assert app.source._db_path == str(tmp_path / "r.db")
    assert app.params == {"max_tokens": 64, "system": "Be terse."} and app.initial_prompt == "hello"
    assert str(app.export_dir) == str(tmp_path / "out")


def test_remote_mode_takes_the_token_from_the_environment(launched, monkeypatch):
    monkeypatch.setenv("TOKENRACE_TOKEN", "t0k")
    assert cli.main(["tui", "--server", "http://127.0.0.1:8765/", "--run", "abc"]) == 0
    app = launched[0]
    assert isinstance(app.source, RemoteSource)
    assert app.source.url == "http://127.0.0.1:8765" and app.source.token == "t0k"
    assert app.watch_run == "abc"


@pytest.mark.parametrize("argv", [
    ["tui", "-p", "nope"],
    ["tui", "--server", "ftp://example"],
    ["tui", "--token", "x"],
    ["tui", "--server", "http://127.0.0.1:1", "--db", "x.db"],
    ["tui", "--max-tokens", "0"],
])
def test_usage_errors(launched, argv, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(argv) == 2
    assert not launched
    assert "tokenrace: error:" in capsys.readouterr().err
