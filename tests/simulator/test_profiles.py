"""Profiles, text generation, tokenizer, fault rates, the send plan, serve()."""
from __future__ import annotations

import asyncio
import re
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tokenrace.simulator import DEFAULT_PROFILES, Fault, Profile, answer_tokens, reasoning_tokens, tokenize
from tokenrace.simulator.formats import go_json
from tokenrace.simulator.profiles import plan_stream

CJK = re.compile(r"[\u4e00-\u9fff]")
EMOJI = re.compile(r"[\U0001F300-\U0001FAFF\u2600-\u27BF]")


def test_default_profiles():
    by = {p.name: p for p in DEFAULT_PROFILES}
    assert list(by) == ["sim-openai", "sim-anthropic", "sim-gemini", "sim-zhipu", "sim-ollama", "sim-custom",
                        "sim-responses", "sim-azure", "sim-vertex", "sim-bedrock", "sim-cohere"]
    assert (by["sim-openai"].ttft_ms, by["sim-openai"].itl_ms, by["sim-openai"].answer_tokens) == (120, 12, 80)
    assert by["sim-anthropic"].reasoning_tokens == 24 and by["sim-gemini"].tokens_per_chunk == 5
    assert by["sim-zhipu"].reasoning_tokens == 40 and by["sim-ollama"].ttft_ms == 600
    assert by["sim-azure"].tokens_per_chunk == 4 and by["sim-responses"].reasoning_tokens == 30
    assert len({(p.ttft_ms, p.itl_ms) for p in DEFAULT_PROFILES}) == len(DEFAULT_PROFILES)


@pytest.mark.parametrize("profile", DEFAULT_PROFILES, ids=lambda p: p.name)
def test_generated_text_is_deterministic_mixed_and_counted(profile):
    a = answer_tokens(profile, "Tell me about rivers")
    assert a == answer_tokens(profile, "Tell me about rivers") and len(a) == profile.answer_tokens
    assert a != answer_tokens(profile, "Tell me about mountains")
    text = "".join(a)
    assert CJK.search(text) and EMOJI.search(text) and re.search(r"[A-Z][a-z]+ [a-z]+", text)
    assert tokenize(text) == a
    r = reasoning_tokens(profile, "Tell me about rivers")
    assert len(r) == profile.reasoning_tokens and r == reasoning_tokens(profile, "Tell me about rivers")


def test_text_is_stable_across_processes():
    code = ("from tokenrace.simulator import *; p=DEFAULT_PROFILES[0]; "
            "print(''.join(answer_tokens(p, 'x')).encode('unicode_escape').decode())")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env={"PYTHONHASHSEED": seed, "PATH": ""}, check=True).stdout for seed in ("1", "2")}
    assert len(outs) == 1


def test_seed_changes_text_and_max_tokens_caps():
    p = Profile("x", answer_tokens=30)
    assert answer_tokens(p, "q") != answer_tokens(Profile("x", answer_tokens=30, seed=1), "q")
    assert answer_tokens(p, "q", 7) == answer_tokens(p, "q")[:7]
    fixed = Profile("x", text="<script>alert('hi')</script> 你好")
    assert "".join(answer_tokens(fixed, "anything")) == "<script>alert('hi')</script> 你好"


def test_tokenizer_keeps_graphemes_whole():
    toks = tokenize("Hi 👋🏽 from 🇫🇷🇯🇵, 👨‍👩‍👧 ❤️ 1️⃣ e\u0301t\u00e9 你好!")
    assert " 👋🏽" in toks and " 🇫🇷" in toks and "🇯🇵" in toks and " 👨‍👩‍👧" in toks and " ❤️" in toks
    assert " 1️⃣" in toks and " e\u0301t\u00e9" in toks and " 你" in toks and "好" in toks


_EXTENDERS = ("\u200d", "\ufe0f", "\u0301", "\U0001F3FD")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab 你好,\n\t!<>&") + ["👋", "🏽", "\u200d", "\ufe0f", "🇫", "🇷",
                                                                        "\u0301", "é"]) | st.characters()))
def test_tokenize_round_trips_and_never_starts_inside_a_cluster(text):
    toks = tokenize(text)
    assert "".join(toks) == text and all(toks)
    for prev, tok in zip(toks, toks[1:]):     # only whitespace can leave a mark without its base
        assert not tok.startswith(_EXTENDERS) or prev[-1].isspace()


def test_fault_rates():
    assert [Fault("stall", rate=0.5).hits(n) for n in range(6)] == [False, True] * 3
    assert all(Fault("stall").hits(n) for n in range(10))
    assert not any(Fault("stall", rate=0).hits(n) for n in range(10))
    assert sum(Fault("stall", rate=0.3).hits(n) for n in range(100)) == 30
    assert sum(Fault("stall", rate=0.1).hits(n) for n in range(10)) == 1


def test_validation():
    with pytest.raises(ValueError):
        Profile("bad name")
    with pytest.raises(ValueError):
        Profile("x", tokens_per_chunk=0)
    with pytest.raises(ValueError):
        Fault("explode")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Fault("stall", rate=1.5)


def test_plan_is_deterministic_and_jitter_bounded():
    p = Profile("j", ttft_ms=100, itl_ms=10, jitter_ms=4, answer_tokens=20, reasoning_tokens=3, tokens_per_chunk=2)
    a, b = plan_stream(p, "q"), plan_stream(p, "q")
    assert a.offsets == b.offsets and a.steps == b.steps
    assert [len(t) for _, t in a.steps] == [2, 1] + [2] * 10
    assert all(abs(o - (0.1 + i * 0.01)) <= 0.004 + 1e-9 for i, o in enumerate(a.offsets))
    assert a.offsets == sorted(a.offsets)
    split = plan_stream(p, "q", None, Fault("truncate", after_tokens=3))
    assert split.fault_at == 4 and [len(t) for _, t in split.steps][:5] == [2, 1, 2, 1, 2]
    assert plan_stream(p, "q", with_reasoning=False).has_reasoning is False
    assert plan_stream(p, "q", n=1).offsets != a.offsets              # the jitter differs per request


def test_go_json_escapes():
    assert go_json({"a": "<b> & \u2028 你"}) == '{"a":"\\u003cb\\u003e \\u0026 \\u2028 你"}'


async def test_serve_prints_urls_and_stops_on_cancel(monkeypatch, capsys):
    from tokenrace.simulator import Simulator, serve

    started = asyncio.Event()
    original = Simulator.start

    async def start(self):
        await original(self)
        started.set()

    monkeypatch.setattr(Simulator, "start", start)
    task = asyncio.create_task(serve("127.0.0.1", 0, [Profile("only", ttft_ms=1, itl_ms=1, answer_tokens=2)]))
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    out = capsys.readouterr().out
    assert re.search(r"only: openai/openai-responses http://127\.0\.0\.1:\d+/only/v1 ", out)
    assert re.search(r"anthropic/gemini/zhipu/ollama/sse/azure/vertex/bedrock/cohere http://127\.0\.0\.1:\d+/only\n", out)
