"""YAML loading that remembers line numbers, with ``yaml.safe_load`` semantics.

Mappings come back as :class:`MarkedDict` (``.line``: where the mapping starts,
``.lines[key]``: the line of each key, ``.dups``: keys written twice) and sequences as
:class:`MarkedList` (``.line``, ``.lines[i]``: where item ``i`` starts). Scalars are the
usual Python values. Every YAML problem becomes a :class:`ConfigError` naming the file
and the 1-based line; nothing else escapes.

:func:`expand_env` does the ``${VAR}`` substitution the loader applies to string values.

Error messages are built from the parser's problem description only, never from the
offending source line, so a key pasted into a broken file is not echoed back.
"""
from __future__ import annotations

import re
from collections.abc import Hashable, Iterator, Mapping
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import ScalarNode

from ..errors import ConfigError

_MERGE_TAG = "tag:yaml.org,2002:merge"
_VAR_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class MarkedDict(dict):
    """A dict that knows where it (and each of its keys) was written."""

    line: int = 1

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.lines: dict[Any, int] = {}
        self.dups: list[tuple[Any, int, int]] = []    # (key, line, first line)

    def line_of(self, key: Any) -> int:
        return self.lines.get(key, self.line)


class MarkedList(list):
    """A list that knows where it and each of its items start."""

    line: int = 1

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.lines: list[int] = []

    def line_of(self, index: int) -> int:
        return self.lines[index] if 0 <= index < len(self.lines) else self.line


def line_of(container: Any, key: Any, default: int) -> int:
    """The line of ``container[key]`` if known, else ``default``."""
    if isinstance(container, (MarkedDict, MarkedList)):
        return container.line_of(key)
    return default


def plain(value: Any) -> Any:
    """``value`` with its marked containers as plain dicts and lists (nothing of the loader leaks out)."""
    if isinstance(value, dict):
        return {k: plain(x) for k, x in value.items()}
    if isinstance(value, list):
        return [plain(x) for x in value]
    return value


def marked(value: Any) -> Any:
    """Plain containers as marked ones (every line 1): for values that come from no file, such as ``--set``."""
    if isinstance(value, dict):
        return MarkedDict({k: marked(x) for k, x in value.items()})
    if isinstance(value, list):
        out = MarkedList(marked(x) for x in value)
        out.lines = [1] * len(out)
        return out
    return value


class _Loader(yaml.SafeLoader):
    """SafeLoader whose mappings and sequences remember their marks."""

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, OverflowError) as exc:
            # e.g. ``2024-13-45`` matches the timestamp pattern but is no date
            raise ConstructorError(None, None, f"invalid {node.tag.rsplit(':', 1)[-1]} value: {exc}",
                                   node.start_mark) from None


def _construct_map(loader: _Loader, node: Any) -> Iterator[MarkedDict]:
    data = MarkedDict()
    data.line = node.start_mark.line + 1
    yield data
    seen: dict[tuple[str, str], int] = {}
    for key_node, _ in node.value:
        if isinstance(key_node, ScalarNode) and key_node.tag != _MERGE_TAG:
            ident, line = (key_node.tag, key_node.value), key_node.start_mark.line + 1
            if ident in seen:
                data.dups.append((key_node.value, line, seen[ident]))
            else:
                seen[ident] = line
    loader.flatten_mapping(node)   # resolves ``<<: *anchor`` merge keys (own keys come last and win)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node)
        if not isinstance(key, Hashable) or isinstance(key, (list, dict)):
            raise ConstructorError("while constructing a mapping", node.start_mark,
                                   "found an unhashable key (a list or mapping used as a key)",
                                   key_node.start_mark)
        data[key] = loader.construct_object(value_node)
        data.lines[key] = key_node.start_mark.line + 1


def _construct_seq(loader: _Loader, node: Any) -> Iterator[MarkedList]:
    data = MarkedList()
    data.line = node.start_mark.line + 1
    data.lines = [item.start_mark.line + 1 for item in node.value]
    yield data
    data.extend(loader.construct_object(item) for item in node.value)


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)


def load_yaml(text: str, source: str) -> tuple[Any, int]:
    """Parse one YAML document: ``(data, line where it starts)``; ``(None, 1)`` when empty."""
    loader = None
    try:
        loader = _Loader(text)
        node = loader.get_single_node()
        if node is None:
            return None, 1
        return loader.construct_document(node), node.start_mark.line + 1
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "syntax error"
        if exc.context and exc.problem:
            problem = f"{problem} ({exc.context})"
        raise ConfigError(f"invalid YAML: {problem}", file=source,
                          line=mark.line + 1 if mark else 1) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, max(exc.position, 0)) + 1
        what = f"#x{exc.character:04x}" if isinstance(exc.character, int) else repr(exc.character)
        raise ConfigError(f"invalid YAML: unacceptable character {what}: {exc.reason}",
                          file=source, line=line) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {type(exc).__name__}", file=source, line=1) from None
    except RecursionError:
        raise ConfigError("invalid YAML: nested too deeply", file=source, line=1) from None
    finally:
        if loader is not None:
            loader.dispose()


# -- ${VAR} expansion of string values ----------------------------------------------------

class EnvSyntaxError(ValueError):
    pass


def expand_env(text: str, env: Mapping[str, str], found: list[str] | None = None) -> tuple[str, list[str]]:
    """Substitute ``${VAR}``, ``${VAR:-default}`` and ``$$``: ``(result, missing names)``.

    ``found`` collects the values taken from ``env`` (not defaults written in the file): they may be
    secrets, and the redactor learns them.

    ``:-`` follows the shell: the default also replaces a variable that is set but empty.
    A ``$`` followed by anything else is kept as is. A missing variable expands to "".
    """
    if "$" not in text:
        return text, []
    out: list[str] = []
    missing: list[str] = []
    i = 0
    while (j := text.find("$", i)) >= 0:
        out.append(text[i:j])
        nxt = text[j + 1:j + 2]
        if nxt != "{":
            out.append("$")
            i = j + 2 if nxt == "$" else j + 1
            continue
        k = text.find("}", j + 2)
        if k < 0:
            raise EnvSyntaxError("unterminated '${' (write $$ for a literal $)")
        expr = text[j + 2:k]
        name, sep, default = expr.partition(":-")
        if not _VAR_RE.fullmatch(name):
            # the text between the braces is not echoed: it could be a key pasted in by mistake
            raise EnvSyntaxError("invalid variable reference: write ${NAME} or ${NAME:-default}, "
                                 "NAME being letters, digits and _")
        value = env.get(name)
        if value and found is not None:
            found.append(value)
        if sep and not value:
            value = default
        if value is None:
            missing.append(name)
            value = ""
        out.append(value)
        i = k + 1
    out.append(text[i:])
    return "".join(out), missing
