"""The import rules of docs/architecture.md, for everything a module imports, directly or not.

The checker builds the package's import graph from the AST and follows it: a rule broken three
imports away is broken all the same, because loading the module loads all of them. A failure
names the chain, e.g. ``sse.py -> x.py -> aiohttp``.
"""
from __future__ import annotations

import ast
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "tokenrace"

NO_NETWORK_OR_UI = frozenset({"tornado", "textual", "aiohttp"})
NO_UI = frozenset({"tornado", "textual"})
# a file or a folder of the package -> what it and everything it loads must never import
RULES: dict[str, frozenset[str]] = {
    "events.py": NO_NETWORK_OR_UI,
    "sse.py": NO_NETWORK_OR_UI,
    "sse_lines.py": NO_NETWORK_OR_UI,
    "sse_write.py": NO_NETWORK_OR_UI,
    "metrics.py": NO_NETWORK_OR_UI,
    "request.py": NO_NETWORK_OR_UI,
    "config": NO_NETWORK_OR_UI,
    "eventstream.py": NO_NETWORK_OR_UI,
    "protocol.py": NO_NETWORK_OR_UI,
    "secrets.py": NO_NETWORK_OR_UI,
    "runrequest.py": NO_NETWORK_OR_UI,
    "recording.py": NO_NETWORK_OR_UI,
    "engine_thread.py": NO_NETWORK_OR_UI,
    "session.py": NO_UI,
    "providers": NO_UI,
    "race.py": NO_UI,
    "simulator": NO_UI,
    "server": frozenset({"textual", "tokenrace.tui"}),
    "tui": frozenset({"tornado", "tokenrace.server"}),
    "bench": frozenset({"tornado", "textual", "tokenrace.server", "tokenrace.tui"}),
}


# -- the checker -------------------------------------------------------------------------------

@dataclass
class Module:
    name: str                                               # dotted: tokenrace.bench.scenario
    path: Path
    label: str                                              # for chains: bench/scenario.py
    internal: set[str] = field(default_factory=set)         # modules of the package it loads
    external: set[str] = field(default_factory=set)         # everything else it imports


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node that can run, function bodies included: an import inside a function runs when
    the function is called, and then it loads what it loads like any other. Only the body of
    ``if TYPE_CHECKING:`` never runs."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
        else:
            stack.extend(ast.iter_child_nodes(node))


def _defines_getattr(tree: ast.Module) -> bool:
    return any(isinstance(n, ast.FunctionDef) and n.name == "__getattr__" for n in tree.body)


def import_graph(root: Path, package: str) -> dict[str, Module]:
    """Every module of ``root/package`` with what it imports (absolute, relative, ``from . import x``)."""
    base = root / package
    trees: dict[str, tuple[Path, ast.Module, bool]] = {}
    for path in sorted(base.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_pkg else parts)
        trees[name] = (path, ast.parse(path.read_text(encoding="utf-8"), str(path)), is_pkg)
    # packages whose names come from a module __getattr__ (lazy exports) may load any of their modules
    lazy = {name for name, (_, tree, is_pkg) in trees.items() if is_pkg and _defines_getattr(tree)}

    def add(mod: Module, target: str) -> None:
        if target == package or target.startswith(package + "."):
            while target not in trees and "." in target:     # an attribute path: its module
                target = target.rpartition(".")[0]
            mod.internal.add(target)
        elif target:
            mod.external.add(target)

    graph: dict[str, Module] = {}
    for name, (path, tree, is_pkg) in trees.items():
        mod = Module(name, path, str(path.relative_to(base)))
        if "." in name:
            mod.internal.add(name.rpartition(".")[0])        # loading a module runs its package first
        here = name if is_pkg else name.rpartition(".")[0]
        for node in _runtime_nodes(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    add(mod, alias.name)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    parts = here.split(".")[: len(here.split(".")) - node.level + 1]
                    source = ".".join(parts + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                add(mod, source)
                for alias in node.names:                     # from . import x: x may be a module
                    if f"{source}.{alias.name}" in trees:
                        add(mod, f"{source}.{alias.name}")
                    elif source in lazy:
                        for other in trees:
                            if other.startswith(source + "."):
                                add(mod, other)
        mod.internal.discard(name)
        graph[name] = mod
    return graph


def _forbidden(name: str, bad: frozenset[str]) -> str | None:
    return next((b for b in sorted(bad) if name == b or name.startswith(b + ".")), None)


def violations(graph: dict[str, Module], start: str, bad: frozenset[str]) -> list[str]:
    """The shortest chain from ``start`` to each forbidden import it loads, as ``a.py -> b.py -> lib``."""
    parent: dict[str, str | None] = {start: None}
    queue = deque([start])
    found: dict[str, str] = {}

    def chain(name: str, last: str) -> str:
        labels: list[str] = [last]
        at: str | None = name
        while at is not None:
            labels.append(graph[at].label)
            at = parent[at]
        return " -> ".join(reversed(labels))

    while queue:
        name = queue.popleft()
        mod = graph[name]
        for ext in sorted(mod.external):
            if (b := _forbidden(ext, bad)) and b not in found:
                found[b] = chain(name, ext)
        for nxt in sorted(mod.internal):
            if (b := _forbidden(nxt, bad)) and b not in found:
                found[b] = chain(name, graph[nxt].label)
            if nxt not in parent:
                parent[nxt] = name
                queue.append(nxt)
    return [found[b] for b in sorted(found)]


def target_modules(graph: dict[str, Module], package: str, target: str) -> list[str]:
    """The modules of one rule's target (a file, or every file of a folder)."""
    dotted = f"{package}.{target.removesuffix('.py').replace('/', '.')}"
    if target.endswith(".py"):
        return [dotted] if dotted in graph else []
    return sorted(n for n in graph if n == dotted or n.startswith(dotted + "."))


# -- the rules of the real package -------------------------------------------------------------

GRAPH = import_graph(ROOT, PACKAGE)


@pytest.mark.parametrize("target", [t for t in sorted(RULES) if target_modules(GRAPH, PACKAGE, t)])
def test_layer_imports(target):
    broken = [v for m in target_modules(GRAPH, PACKAGE, target) for v in violations(GRAPH, m, RULES[target])]
    assert not broken, f"{target} must not import {', '.join(sorted(RULES[target]))}:\n" + "\n".join(broken)


def test_every_folder_rule_names_something_that_exists():
    for target in ("config", "providers", "simulator", "server", "tui", "bench", "events.py", "sse.py", "metrics.py"):
        assert target_modules(GRAPH, PACKAGE, target), target


# -- the checker catches what it is for --------------------------------------------------------

FAKE = {
    "__init__.py": "",
    "sse.py": "from . import x\n",
    "x.py": "def later():\n    import aiohttp.web\n",                    # imported inside a function
    "typed.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import aiohttp\nelse:\n    import json\n",
    "deep/__init__.py": "import tornado\n",
    "deep/z.py": "",
    "viaparent.py": "from pkg.deep import z\n",                           # z's package loads tornado
    "sub/__init__.py": "",
    "sub/rel.py": "from .. import typed\nfrom ..sse import something\n",  # two levels up, then on
    "lazy/__init__.py": "def __getattr__(name):\n    import importlib\n    return importlib.import_module('.heavy', __name__)\n",
    "lazy/heavy.py": "import textual.app\n",
    "lazy/light.py": "",
    "useslazy.py": "from .lazy import Thing\n",
    "useslight.py": "from .lazy import light\n",
}


@pytest.fixture
def fake(tmp_path):
    for rel, text in FAKE.items():
        (tmp_path / "pkg" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "pkg" / rel).write_text(text)
    return import_graph(tmp_path, "pkg")


def test_the_checker_follows_imports_to_the_end_of_the_chain(fake):
    assert violations(fake, "pkg.sse", NO_NETWORK_OR_UI) == ["sse.py -> x.py -> aiohttp.web"]
    assert violations(fake, "pkg.sub.rel", NO_NETWORK_OR_UI) == ["sub/rel.py -> sse.py -> x.py -> aiohttp.web"]
    assert violations(fake, "pkg.viaparent", NO_NETWORK_OR_UI) == [
        "viaparent.py -> deep/__init__.py -> tornado"]
    assert violations(fake, "pkg.useslazy", NO_NETWORK_OR_UI) == ["useslazy.py -> lazy/heavy.py -> textual.app"]
    assert violations(fake, "pkg.sse", frozenset({"pkg.x"})) == ["sse.py -> x.py"]


def test_the_checker_leaves_alone_what_never_runs_or_is_not_loaded(fake):
    assert violations(fake, "pkg.typed", NO_NETWORK_OR_UI) == []          # TYPE_CHECKING only
    assert violations(fake, "pkg.useslight", NO_NETWORK_OR_UI) == []      # a named module, not a lazy name
    assert violations(fake, "pkg.x", frozenset({"tornado"})) == []
