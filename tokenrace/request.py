"""What a race sends: chat messages plus generic parameters, before any provider shapes them."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping


@dataclass(frozen=True)
class ChatRequest:
    """A provider-neutral chat request.

    ``params`` uses generic names (``max_tokens``, ``temperature``, ``top_p``, ``stop``);
    each adapter maps them onto its own wire format. Unknown keys pass through as they are.
    """

    messages: tuple[dict[str, Any], ...]
    params: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_prompt(cls, prompt: str, params: Mapping[str, Any] | None = None,
                    system: str | None = None) -> "ChatRequest":
        msgs: list[dict[str, Any]] = []
        if system:
            msgs.append({"role": "system", "content": system})
        msgs.append({"role": "user", "content": prompt})
        return cls(tuple(msgs), dict(params or {}))

    @property
    def prompt(self) -> str:
        """The last user message's text (what single-prompt endpoints receive)."""
        for m in reversed(self.messages):
            if m.get("role") == "user":
                c = m.get("content")
                if isinstance(c, str):
                    return c
                if isinstance(c, list):
                    return "".join(p.get("text", "") for p in c if isinstance(p, dict))
        return ""

    def system(self) -> str | None:
        sys = [m["content"] for m in self.messages if m.get("role") == "system" and isinstance(m.get("content"), str)]
        return "\n\n".join(sys) if sys else None

    def chat_messages(self) -> list[dict[str, Any]]:
        """Messages without the system ones (for APIs that take the system prompt apart)."""
        return [dict(m) for m in self.messages if m.get("role") != "system"]
