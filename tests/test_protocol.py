"""The protocol module: every message round-trips, decoding is tolerant, and the document is generated."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tokenrace import protocol
from tokenrace.protocol import (Delta, Frame, Metrics, Notice, ProviderDone, ProviderError, ProviderStart, Reset,
                                RunEnd, decode, encode, markdown)

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = [ProviderStart("p", "m", "openai", 2, 1.5), Delta("p", text="hi", t_ms=2.0),
           Delta("p", reasoning="hm", t_ms=3.0), Metrics("p", "streaming", 10.0, 5.0, 3, 40.0, "estimate"),
           Notice("p", "retrying in 1.0 s"), ProviderError("p", "p: boom", "http", 500),
           ProviderDone("p", {"provider": "p", "status": "ok", "text": "ünïcode ✓"}),
           RunEnd("r", "done"), RunEnd("r", "cancelled", "server shutting down"), Reset("unknown id")]


@pytest.mark.parametrize("msg", SAMPLES, ids=lambda m: type(m).__name__)
def test_every_message_round_trips(msg):
    frame = encode(msg, 7)
    assert isinstance(frame, Frame) and frame.id == 7 and frame.event == protocol.EVENTS[type(msg)]
    assert frame.provider == getattr(msg, "provider", None)
    assert decode(frame.event, frame.data, "r") == msg                 # from the JSON text
    assert decode(frame.event, json.loads(frame.data), "r") == msg     # from parsed JSON


def test_a_delta_carries_text_or_reasoning_and_json_is_compact_utf8():
    assert json.loads(encode(Delta("p", text="a"), 1).data) == {"provider": "p", "text": "a", "t_ms": None}
    assert "reasoning" not in encode(Delta("p", text="a"), 1).data
    assert "✓" in encode(ProviderDone("p", {"text": "✓"}), 1).data and ", " not in encode(SAMPLES[0], 1).data


def test_decoding_is_tolerant_of_missing_and_mistyped_fields():
    assert decode("mystery", {}) is None
    assert decode("delta", "not json") is None
    assert decode("start", {"provider": "p"}) == ProviderStart("p")
    assert decode("metrics", {"provider": "p", "status": "ok", "tokens": "9", "ttft_ms": True}) == \
        Metrics("p", "ok", None, None, None, None)
    assert decode("end", {"status": "done"}, "run-1") == RunEnd("run-1", "done")
    assert decode("error", {"provider": "p", "message": "x", "kind": None}).kind == "internal"


def test_engine_api_document_is_generated_from_the_module():
    doc = (ROOT / "docs" / "engine-api.md").read_text(encoding="utf-8")
    m = re.search(r"<!-- protocol:begin -->\n(.*?)<!-- protocol:end -->", doc, re.S)
    assert m, "docs/engine-api.md lacks the <!-- protocol:begin/end --> markers"
    assert m.group(1) == markdown(), "docs/engine-api.md is stale: regenerate it with python -m tokenrace.protocol"
    for name in protocol.EVENTS.values():
        assert f"| `{name}` |" in m.group(1)
