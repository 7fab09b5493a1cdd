"""Prompts of a scenario: strings, ``{messages: [...]}``, or ``{file: ...}`` (one per line; ``.jsonl``:
a JSON string, a list of messages, ``{"messages": [...]}`` or ``{"prompt": ..., "system": ...}`` a line)."""
from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config.validate import Validator, type_name
from ..config.yamlmarks import MarkedDict, MarkedList, line_of, plain
from ..errors import ConfigError

ROLES = ("system", "user", "assistant")
Messages = tuple[dict[str, Any], ...]
Fail = Callable[[str, str], ConfigError]     # (message, field) -> the error to raise


@dataclass(frozen=True)
class PromptSpec:
    index: int
    messages: tuple[dict[str, Any], ...]
    label: str                     # the last user message, shortened, for reports
    origin: str                    # file:line where it was written


def label(messages: Sequence[Mapping[str, Any]]) -> str:
    text = next((m.get("content") for m in reversed(messages) if m.get("role") == "user"), "")
    text = " ".join(str(text).split())
    return text if len(text) <= 60 else text[:57] + "..."


class PromptsParser(Validator):
    """The prompt part of the scenario parser; prompt files are found from ``base_dir``."""

    base_dir: Path

    def prompts(self, top: MarkedDict) -> tuple[PromptSpec, ...]:
        if top.get("prompts") is None:
            raise self.fail("missing required field: a list of prompts", top.line, "prompts")
        raw, pline = top["prompts"], top.line_of("prompts")
        if isinstance(raw, (str, dict)):       # one prompt, or one {file: ...}
            one = MarkedList([raw])
            one.line, one.lines = pline, [pline]
            raw = one
        if not isinstance(raw, list) or not raw:
            raise self.fail("must be a non-empty list of prompts (strings, {file: ...} or {messages: [...]})",
                            pline, "prompts")
        out: list[tuple[Messages, str]] = []
        for i, item in enumerate(raw):
            path, line = f"prompts[{i}]", line_of(raw, i, pline)
            if isinstance(item, str):
                if not item.strip():
                    raise self.fail("is empty", line, path)
                out.append((({"role": "user", "content": item},), f"{self.source}:{line}"))
            elif isinstance(item, dict) and "file" in item:
                m = self.mapping(item, line, path)
                self.check_keys(m, ("file",), path)
                out.extend(self.prompt_file(m, path))
            elif isinstance(item, dict) and "messages" in item:
                m = self.mapping(item, line, path)
                self.check_keys(m, ("messages",), path)
                msgs = self.messages(m["messages"], m.line_of("messages"), f"{path}.messages")
                out.append((msgs, f"{self.source}:{line}"))
            else:
                raise self.fail(f"must be a string, {{file: PATH}} or {{messages: [...]}}, got {type_name(item)}",
                                line, path)
        return tuple(PromptSpec(i, msgs, label(msgs), origin) for i, (msgs, origin) in enumerate(out))

    def messages(self, v: Any, line: int, path: str, fail: Fail | None = None) -> Messages:
        if fail is None:
            fail = lambda msg, p: self.fail(msg, line, p)  # noqa: E731
        if not isinstance(v, list) or not v:
            raise fail("must be a non-empty list of {role, content} messages", path)
        msgs: list[dict[str, Any]] = []
        for j, m in enumerate(v):
            if not isinstance(m, dict) or set(m) - {"role", "content", "name"} or "content" not in m:
                raise fail("each message must be a mapping with role and content", f"{path}[{j}]")
            if m.get("role") not in ROLES:
                raise fail(f"role must be one of {', '.join(ROLES)}, got {m.get('role')!r}", f"{path}[{j}].role")
            if not isinstance(m["content"], (str, list)):
                raise fail("content must be a string or a list of parts", f"{path}[{j}].content")
            msgs.append(plain(m))
        if not any(m["role"] == "user" for m in msgs):
            raise fail("needs at least one user message", path)
        return tuple(msgs)

    def prompt_file(self, item: MarkedDict, path: str) -> list[tuple[Messages, str]]:
        name = self.nonempty_text(item, "file", path)
        fpath = Path(os.path.expanduser(name))
        fpath = fpath if fpath.is_absolute() else self.base_dir / fpath
        try:
            text = fpath.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as e:
            why = getattr(e, "strerror", None) or str(e)
            raise self.fail(f"cannot read prompts file {fpath}: {why}", item.line_of("file"), f"{path}.file") from None
        out: list[tuple[Messages, str]] = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            origin = f"{fpath}:{n}"
            if fpath.suffix.lower() != ".jsonl":
                out.append((({"role": "user", "content": line.rstrip("\r")},), origin))
                continue

            def fail(msg: str, field_: str, n: int = n) -> ConfigError:
                return ConfigError(msg, file=str(fpath), line=n, field=field_ or None)
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise ConfigError(f"invalid JSON: {e.msg} (column {e.colno})", file=str(fpath), line=n) from None
            except ValueError as e:       # valid JSON Python will not take, e.g. an integer of 5000 digits
                raise ConfigError(f"invalid JSON: {str(e).partition(':')[0]}", file=str(fpath), line=n) from None
            if isinstance(obj, str) and obj.strip():
                out.append((({"role": "user", "content": obj},), origin))
            elif isinstance(obj, list):
                out.append((self.messages(obj, n, "messages", fail), origin))
            elif isinstance(obj, dict) and isinstance(obj.get("messages"), list):
                out.append((self.messages(obj["messages"], n, "messages", fail), origin))
            elif isinstance(obj, dict) and isinstance(obj.get("prompt"), str):
                system = [{"role": "system", "content": obj["system"]}] if isinstance(obj.get("system"), str) else []
                out.append((tuple(system + [{"role": "user", "content": obj["prompt"]}]), origin))
            else:
                raise ConfigError('each line must be a JSON string, a list of messages, {"messages": [...]} '
                                  'or {"prompt": "..."}', file=str(fpath), line=n)
        if not out:
            raise self.fail(f"prompts file {fpath} has no prompts", item.line_of("file"), f"{path}.file")
        return out
