"""Simulator profiles: timing, text and faults of one simulated provider.

Everything here is pure and deterministic. Text comes from ``random.Random`` seeded with a
``zlib.crc32`` of (seed, profile name, prompt) -- never Python's salted ``hash()`` -- so the same
profile and prompt always give the same answer, in every process.
"""
from __future__ import annotations

import random
import re
import unicodedata
import zlib
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal, get_args

FaultKind = Literal["http_429", "http_500", "http_401", "error_after", "truncate", "stall", "drip", "malformed",
                    "content_filter"]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)
# these fire after ``after_tokens`` answer tokens; content_filter then ends the answer as the provider's
# filter does (Azure finish_reason "content_filter", Gemini "SAFETY", ...): a proper end, not an error
MID_STREAM_FAULTS = ("error_after", "truncate", "stall", "malformed", "content_filter")
_NAME_RE = re.compile(r"[A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Fault:
    """A fault injected into some of a profile's responses."""

    kind: FaultKind
    after_tokens: int = 0                 # error_after/truncate/stall/malformed/content_filter: answer tokens first
    rate: float = 1.0                     # fraction of requests hit (deterministic, see :meth:`hits`)
    retry_after_s: float | None = 1.0     # http_429: the provider's own retry hint (None: no hint)
    stall_s: float = 5.0                  # stall: silence this long mid-stream, then continue normally
    drip_ms: float = 2.0                  # drip: pause between the few-byte pieces of every event

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"fault rate must be within [0, 1], got {self.rate}")
        if self.after_tokens < 0 or self.stall_s < 0 or self.drip_ms < 0:
            raise ValueError("fault after_tokens, stall_s and drip_ms must not be negative")

    def hits(self, n: int) -> bool:
        """Whether request ``n`` (0-based, counted per profile) is hit: floor((n+1)*rate) > floor(n*rate)."""
        rate = Fraction(self.rate).limit_denominator(1_000_000)
        return (n + 1) * rate // 1 > n * rate // 1


@dataclass(frozen=True)
class Profile:
    """Timing, text and faults of one simulated provider (selected by the URL's first path segment)."""

    name: str                     # URL-safe: [A-Za-z0-9._-]+
    ttft_ms: float = 200.0        # request received -> first content chunk (reasoning counts as content)
    itl_ms: float = 20.0          # between chunks
    jitter_ms: float = 0.0        # uniform +/- on each send time, seeded (never before the previous one)
    tokens_per_chunk: int = 1
    answer_tokens: int = 60       # capped by the request's max tokens (finish reason "length" then)
    reasoning_tokens: int = 0     # sent before the answer, in the format's reasoning shape
    seed: int = 0
    text: str | None = None       # fixed answer text instead of generated (tokenized the same way)
    fault: Fault | None = None
    usage: bool = True            # whether usage is reported (where the format can)

    def __post_init__(self) -> None:
        if not _NAME_RE.fullmatch(self.name or ""):
            raise ValueError(f"profile name {self.name!r} must match [A-Za-z0-9._-]+")
        if self.tokens_per_chunk < 1:
            raise ValueError("tokens_per_chunk must be at least 1")
        if min(self.ttft_ms, self.itl_ms, self.jitter_ms, self.answer_tokens, self.reasoning_tokens) < 0:
            raise ValueError("profile timings and token counts must not be negative")


DEFAULT_PROFILES: tuple[Profile, ...] = (
    Profile("sim-openai", ttft_ms=120, itl_ms=12, jitter_ms=3, tokens_per_chunk=1, answer_tokens=80),
    Profile("sim-anthropic", ttft_ms=350, itl_ms=20, jitter_ms=5, answer_tokens=70, reasoning_tokens=24),
    Profile("sim-gemini", ttft_ms=450, itl_ms=60, jitter_ms=10, tokens_per_chunk=5, answer_tokens=90,
            reasoning_tokens=16),
    Profile("sim-zhipu", ttft_ms=250, itl_ms=18, jitter_ms=4, answer_tokens=60, reasoning_tokens=40),
    Profile("sim-ollama", ttft_ms=600, itl_ms=30, jitter_ms=6, answer_tokens=60),
    Profile("sim-custom", ttft_ms=200, itl_ms=25, jitter_ms=5, answer_tokens=50),
    Profile("sim-responses", ttft_ms=300, itl_ms=15, jitter_ms=4, answer_tokens=70, reasoning_tokens=30),
    Profile("sim-azure", ttft_ms=280, itl_ms=45, jitter_ms=8, tokens_per_chunk=4, answer_tokens=80),   # filter bursts
    Profile("sim-vertex", ttft_ms=420, itl_ms=55, jitter_ms=10, tokens_per_chunk=5, answer_tokens=80,
            reasoning_tokens=12),
    Profile("sim-bedrock", ttft_ms=500, itl_ms=22, jitter_ms=6, tokens_per_chunk=2, answer_tokens=70,
            reasoning_tokens=20),
    Profile("sim-cohere", ttft_ms=330, itl_ms=16, jitter_ms=4, answer_tokens=60),
)


# --------------------------------------------------------------------------- tokenizer

def _is_cjk(cp: int) -> bool:
    return (0x3040 <= cp <= 0x30FF or 0x3400 <= cp <= 0x4DBF or 0x4E00 <= cp <= 0x9FFF
            or 0xF900 <= cp <= 0xFAFF or 0xAC00 <= cp <= 0xD7AF or 0x20000 <= cp <= 0x2FA1F
            or 0x3000 <= cp <= 0x303F or 0xFF00 <= cp <= 0xFFEF)


def _is_emoji(cp: int) -> bool:
    return (0x1F000 <= cp <= 0x1FAFF or 0x2600 <= cp <= 0x27BF or 0x2300 <= cp <= 0x23FF
            or 0x2B00 <= cp <= 0x2BFF or cp in (0x00A9, 0x00AE, 0x203C, 0x2049, 0x2122, 0x2139, 0x3030))


def _is_regional(cp: int) -> bool:
    return 0x1F1E6 <= cp <= 0x1F1FF


def _is_extender(ch: str) -> bool:
    """Code points that never start a grapheme: combining marks, ZWJ, variation selectors, skin tones, tags."""
    cp = ord(ch)
    return (cp in (0xFE0E, 0xFE0F, 0x20E3, 0x200D) or 0x1F3FB <= cp <= 0x1F3FF or 0xE0020 <= cp <= 0xE007F
            or unicodedata.category(ch) in ("Mn", "Me"))


def _is_word_char(ch: str) -> bool:
    cp = ord(ch)
    return (ch.isalnum() or ch in "'_") and not _is_cjk(cp) and not _is_emoji(cp)


def _unit_end(text: str, i: int) -> int:
    """End index of the unit starting at ``i`` (a word, a CJK character, an emoji cluster, a char)."""
    n = len(text)
    ch = text[i]
    cp = ord(ch)
    if _is_word_char(ch):
        j = i + 1
        while j < n and (_is_word_char(text[j]) or _is_extender(text[j])):
            j += 1
        return j
    if _is_regional(cp):
        j = i + 2 if i + 1 < n and _is_regional(ord(text[i + 1])) else i + 1
    else:
        j = i + 1
    while j < n and _is_extender(text[j]):
        j += 1
        if text[j - 1] == "\u200d" and j < n and _is_emoji(ord(text[j])):
            j += 1                                  # ZWJ joins the next pictograph into the cluster
    return j


def tokenize(text: str) -> list[str]:
    """Split text into the units the simulator sends ("tokens").

    Words (with one leading space), single CJK characters, whole emoji clusters (skin tones, ZWJ
    sequences, flags) and single punctuation characters. ``"".join(tokenize(t)) == t`` always holds
    and no token starts inside a grapheme cluster.
    """
    tokens: list[str] = []
    i, n = 0, len(text)
    while i < n:
        start = i
        if text[i].isspace():
            j = i
            while j < n and text[j].isspace():
                j += 1
            # a single plain space right before a unit travels with that unit
            if j < n and text[j - 1] == " " and not _is_extender(text[j]):
                if j - 1 > i:
                    tokens.append(text[i:j - 1])
                start, i = j - 1, j
            else:
                tokens.append(text[i:j])
                i = j
                continue
        i = _unit_end(text, i)
        tokens.append(text[start:i])
    return tokens


# --------------------------------------------------------------------------- text generation

_SUBJECTS = ("the model", "our server", "every token", "the first answer", "a small test", "this provider",
             "the stream", "my friend", "the city", "each request", "the river", "a quiet garden")
_VERBS = ("arrives", "streams", "waits", "measures", "shows", "compares", "finishes", "starts", "travels",
          "returns", "sings", "glows")
_TAILS = ("quickly", "before the deadline", "under heavy load", "across the network", "in the morning",
          "with real delays", "at the keyboard", "for everyone", "without errors", "like a river",
          "after a short pause", "in bright light")
_EN = tuple(w for phrase in _SUBJECTS + _TAILS for w in phrase.split())
_ZH = ("你好 世界 我们 今天 天气 学习 模型 速度 测试 时间 问题 答案 朋友 城市 音乐 故事 数据 网络 "
       "流式 延迟 服务器 用户 文本 早上 晚上 咖啡 山水 快速 简单 清楚 安静 开始 结束 中文 英文").split()
_EMOJI = ("👋🏽", "🇫🇷", "😀", "🚀", "✨", "👍🏻", "❤️", "👨‍👩‍👧", "🇯🇵", "🎉", "🌍", "☕", "😎", "🧑🏾‍💻")
_REASON_OPENERS = ("Let me think about", "First I should check", "The user asks about", "I need to consider",
                   "Next I check whether", "So the key point is that")


def _rng(profile: Profile, prompt: str, salt: str) -> random.Random:
    key = f"{profile.seed}\x1f{profile.name}\x1f{salt}\x1f{prompt}".encode("utf-8", "surrogatepass")
    return random.Random(zlib.crc32(key))


def _clause(rng: random.Random) -> str:
    return f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_TAILS)}"


def _en_sentence(rng: random.Random, emoji: bool, opener: str | None = None) -> str:
    body = f"{opener} {_clause(rng)}" if opener else _clause(rng)
    if rng.random() < 0.4:
        body += f", and {_clause(rng)}"
    body = body[0].upper() + body[1:]
    if emoji:
        body += " " + rng.choice(_EMOJI)
    return body + rng.choice(".!?.")


def _zh_sentence(rng: random.Random, emoji: bool) -> str:
    words = rng.sample(_ZH, rng.randint(3, 6))
    if len(words) > 3:
        words.insert(len(words) // 2, "，")
    return "".join(words) + rng.choice("。！。") + (rng.choice(_EMOJI) if emoji else "")


def _mixed_sentence(rng: random.Random) -> str:
    en = _clause(rng)
    zh = "".join(rng.sample(_ZH, 2))
    return f"{en[0].upper()}{en[1:]} {zh} {rng.choice(_EMOJI)} {rng.choice(_TAILS)}."


def _generate(rng: random.Random, count: int, reasoning: bool) -> list[str]:
    if count <= 0:
        return []
    kinds = ["en_emoji", "zh", "mixed"]
    rng.shuffle(kinds)
    sentences: list[str] = []
    have = 0
    while have < count:
        if reasoning:
            kind = "reason" if len(sentences) % 3 != 1 else rng.choice(("zh", "en"))
        else:
            kind = kinds.pop(0) if kinds else rng.choice(("en", "en", "en_emoji", "zh", "zh_emoji", "mixed"))
        if kind == "reason":
            s = _en_sentence(rng, False, rng.choice(_REASON_OPENERS))
        elif kind.startswith("en"):
            s = _en_sentence(rng, kind.endswith("emoji"))
        elif kind.startswith("zh"):
            s = _zh_sentence(rng, kind.endswith("emoji"))
        else:
            s = _mixed_sentence(rng)
        s = s if not sentences else " " + s
        sentences.append(s)
        have += len(tokenize(s))
    return tokenize("".join(sentences))[:count]


def answer_tokens(profile: Profile, prompt: str, max_tokens: int | None = None) -> list[str]:
    """The answer's tokens for this profile and prompt, at most ``max_tokens`` of them.

    With ``profile.text`` set, the whole fixed text (``answer_tokens`` is then ignored)."""
    if profile.text is not None:
        tokens = tokenize(profile.text)
    else:
        tokens = _generate(_rng(profile, prompt, "answer"), profile.answer_tokens, reasoning=False)
    if max_tokens is not None and max_tokens >= 0:
        tokens = tokens[:max_tokens]
    return tokens


def reasoning_tokens(profile: Profile, prompt: str) -> list[str]:
    """The reasoning ("thinking") tokens for this profile and prompt, sent before the answer."""
    return _generate(_rng(profile, prompt, "reasoning"), profile.reasoning_tokens, reasoning=True)


def prompt_token_count(prompt: str) -> int:
    """A plausible, deterministic input token count: words in the prompt + 8."""
    return len(prompt.split()) + 8


# --------------------------------------------------------------------------- send plan

@dataclass
class StreamPlan:
    steps: list[tuple[bool, list[str]]]     # (is_reasoning, tokens) per content chunk, in order
    offsets: list[float]                    # seconds from t_received for each step (+1: the end position)
    fault_at: int | None                    # a mid-stream fault fires before this step (len(steps): at the end)
    capped: bool                            # the answer was cut by max tokens
    has_reasoning: bool
    rng: random.Random = field(repr=False)


def plan_stream(profile: Profile, prompt: str, max_tokens: int | None = None, fault: Fault | None = None,
                n: int = 0, with_reasoning: bool = True, reasoning_in_max: bool = False) -> StreamPlan:
    """What to send when: reasoning chunks, then answer chunks, split where a mid-stream fault fires.

    ``n`` is the request's number for this profile (it seeds the jitter); ``with_reasoning=False`` for
    formats without a reasoning shape; ``reasoning_in_max``: the max tokens covers reasoning too (the
    Responses API's ``max_output_tokens``), so thinking can use up the whole budget."""
    reasoning = reasoning_tokens(profile, prompt) if with_reasoning else []
    if reasoning_in_max and max_tokens is not None and max_tokens >= 0:
        reasoning = reasoning[:max_tokens]
        max_tokens -= len(reasoning)
    answer = answer_tokens(profile, prompt, max_tokens)
    capped = len(answer) < len(answer_tokens(profile, prompt))
    tpc = profile.tokens_per_chunk

    def group(tokens: list[str], is_reasoning: bool) -> list[tuple[bool, list[str]]]:
        return [(is_reasoning, tokens[i:i + tpc]) for i in range(0, len(tokens), tpc)]

    steps, fault_at = group(reasoning, True), None
    if fault is not None and fault.kind in MID_STREAM_FAULTS:
        k = min(fault.after_tokens, len(answer))
        steps += group(answer[:k], False)
        fault_at = len(steps)
        steps += group(answer[k:], False)
    else:
        steps += group(answer, False)
    rng = random.Random(zlib.crc32(f"{profile.seed}|{profile.name}|{n}|{prompt}".encode("utf-8", "replace")))
    offsets: list[float] = []
    prev = 0.0
    for i in range(len(steps) + 1):
        ms = max(profile.ttft_ms + i * profile.itl_ms + rng.uniform(-profile.jitter_ms, profile.jitter_ms), 0.0)
        if fault is not None and fault.kind == "stall" and fault_at is not None and i >= fault_at:
            ms += fault.stall_s * 1000
        prev = max(prev, ms / 1000)          # jitter never reorders chunks
        offsets.append(prev)
    return StreamPlan(steps, offsets, fault_at, capped, bool(reasoning), rng)
