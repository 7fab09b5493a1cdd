"""The import rules of the architecture: each layer imports only what it may."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "tokenrace"
FORBIDDEN = {
    "events.py": {"tornado", "textual", "aiohttp"},
    "sse.py": {"tornado", "textual", "aiohttp"},
    "metrics.py": {"tornado", "textual", "aiohttp"},
    "request.py": {"tornado", "textual", "aiohttp"},
    "config": {"tornado", "textual", "aiohttp"},
    "providers": {"tornado", "textual"},
    "race.py": {"tornado", "textual"},
    "simulator": {"tornado", "textual"},
    "server": {"textual", "tokenrace.tui"},
    "tui": {"tornado", "tokenrace.server"},
    "bench": {"tornado", "textual", "tokenrace.server", "tokenrace.tui"},
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    pkg_parts = ["tokenrace", *path.relative_to(PKG).parent.parts]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:   # resolve relative imports to absolute names
                base = pkg_parts[: len(pkg_parts) - node.level + 1]
                names.add(".".join(base + ([node.module] if node.module else [])))
            elif node.module:
                names.add(node.module)
    return names


def files_of(target: str) -> list[Path]:
    p = PKG / target
    return sorted(p.rglob("*.py")) if p.is_dir() else [p]


@pytest.mark.parametrize("target", sorted(FORBIDDEN))
def test_layer_imports(target):
    for f in files_of(target):
        for mod in imported_modules(f):
            for bad in FORBIDDEN[target]:
                assert not (mod == bad or mod.startswith(bad + ".")), f"{f.relative_to(PKG)} imports {mod}"
