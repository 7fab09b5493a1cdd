"""The redactor: whole secrets, every 12-character piece, secrets split across deltas, logs."""
from __future__ import annotations

import logging

from hypothesis import given, settings
from hypothesis import strategies as st

from tokenrace.config.models import Config, ProviderConfig, Secret
from tokenrace.secrets import MASK, PIECE, Redactor, install_log_filter

from tests.hostile import leaks

KEY = "sk-proj-4fGh8KlmN0pQrStUvWxYz12345"
TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=80)


def test_whole_secret_and_long_pieces_are_masked_short_pieces_stay():
    red = Redactor([KEY])
    assert red.text(f"bad key {KEY}!") == f"bad key {MASK}!"
    assert red.text(f"key …{KEY[5:25]}…") == f"key …{MASK}…"          # a 20-character piece
    assert red.text(KEY[:PIECE]) == MASK                                # exactly 12
    assert red.text(KEY[:PIECE - 1]) == KEY[:PIECE - 1]                 # 11 is allowed
    assert red.text("nothing secret here") == "nothing secret here"
    s = "no secrets at all"
    assert red.text(s) is s                                             # untouched text is not copied


def test_short_secrets_are_removed_whole_and_tiny_values_ignored():
    red = Redactor(["tok-7d8e9", "1", "yes"])
    assert len(red) == 1
    assert red.text("token tok-7d8e9 and 1 yes") == f"token {MASK} and 1 yes"


def test_added_secrets_take_effect_for_existing_stream_redactors():
    red = Redactor()
    stream = red.stream()
    assert stream.text(KEY) == KEY
    red.add(KEY)
    assert stream.text(KEY) == MASK


@settings(max_examples=300, deadline=None)
@given(before=TEXT, after=TEXT, cuts=st.lists(st.integers(min_value=1, max_value=9), max_size=40),
       start=st.integers(min_value=0, max_value=len(KEY) - PIECE), end=st.integers(min_value=0, max_value=20))
def test_a_secret_split_over_deltas_never_shows_a_12_character_piece(before, after, cuts, start, end):
    red = Redactor([KEY])
    piece = KEY[start:len(KEY) - min(end, len(KEY) - start - PIECE)]
    text = before + piece + after
    deltas, i = [], 0
    for c in cuts:
        deltas.append(text[i:i + c])
        i += c
    deltas.append(text[i:])
    stream = red.stream()
    shown = "".join(stream.text(d) for d in deltas)
    assert leaks(shown, KEY) == []
    assert MASK in shown


@settings(max_examples=200, deadline=None)
@given(text=TEXT)
def test_text_without_secrets_passes_unchanged_whole_and_in_pieces(text):
    red = Redactor([KEY, "another-Secret-Value-9876"])
    assert red.text(text) == text
    stream = red.stream()
    assert "".join(stream.text(text[i:i + 3]) for i in range(0, len(text), 3)) == text


def test_config_collects_keys_secret_headers_url_credentials():
    p = ProviderConfig("a", "openai", api_key=Secret("sk-aaaaaaaaaaaaaaaa"),
                       headers={"X-Custom-Token": "Bearer tttttttttttttt", "anthropic-version": "2023-06-01"},
                       base_url="https://user:pppppppppppp@h.invalid/v1?api_key=qqqqqqqqqqqq&x=1",
                       secrets=(Secret("from-env-vvvvvvvvvv"),))
    red = Config((p,), defaults={"headers": {"Authorization": "Bearer dddddddddddd"}}).redactor
    for s in ("sk-aaaaaaaaaaaaaaaa", "tttttttttttttt", "pppppppppppp", "qqqqqqqqqqqq", "from-env-vvvvvvvvvv",
              "dddddddddddd"):
        assert red.text(f"<{s}>") == f"<{MASK}>", s
    assert red.text("version 2023-06-01") == "version 2023-06-01"     # an ordinary header value stays


def test_log_filter_redacts_messages_args_and_tracebacks():
    red = Redactor([KEY])
    logger = logging.getLogger("tokenrace.test-secrets")
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    handler = Keep()
    logger.addHandler(handler)
    logger.propagate = False
    try:
        install_log_filter(red, logger)
        logger.warning("key is %s", KEY)
        try:
            raise ValueError(f"boom {KEY}")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    assert records and all(leaks(r, KEY) == [] for r in records)
    assert MASK in records[0] and "ValueError: boom ***" in records[1]
