"""Benchmark tokenrace.sse.SSEDecoder against httpx-sse on the same bytes.

    python benchmarks/parser.py [--repeats N] [--quick]

httpx-sse decodes lines, so its pipeline here is what ``EventSource.iter_sse``
does: httpx's incremental ``TextDecoder`` -> a line decoder -> ``SSEDecoder.decode``
per line. Two line decoders are timed: ``httpx._decoders.LineDecoder`` (httpx's
own, splitlines-based) and ``httpx_sse._decoders.SSELineDecoder`` (what httpx-sse
0.4.x uses). Before timing, every pipeline's events are checked to be identical.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from typing import Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tokenrace.sse import SSEDecoder  # noqa: E402

try:
    from httpx._decoders import LineDecoder, TextDecoder
    from httpx_sse._decoders import SSEDecoder as HxSSEDecoder
    try:
        from httpx_sse._decoders import SSELineDecoder
    except ImportError:  # httpx-sse < 0.4.2
        SSELineDecoder = None
except ImportError as exc:  # pragma: no cover
    sys.exit(f"this benchmark needs httpx and httpx-sse: {exc}")


# ---------------------------------------------------------------- streams

def openai_stream(n: int, rng: random.Random) -> bytes:
    """OpenAI chat.completions chunks, ~260 bytes each, LF line ends, then [DONE]."""
    out = []
    for i in range(n):
        word = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz ") for _ in range(rng.randint(2, 8)))
        obj = {"id": "chatcmpl-9x8YzABCDEFGHIJKLMNOPQRSTU", "object": "chat.completion.chunk",
               "created": 1718000000 + i, "model": "gpt-4o-mini-2024-07-18",
               "system_fingerprint": "fp_0123456789",
               "choices": [{"index": 0, "delta": {"content": word}, "logprobs": None,
                            "finish_reason": None}]}
        out.append(f"data: {json.dumps(obj, separators=(',', ':'))}\n\n")
    out.append("data: [DONE]\n\n")
    return "".join(out).encode()


def gemini_stream(n: int, rng: random.Random) -> bytes:
    """Gemini streamGenerateContent?alt=sse: CRLF line ends, non-ASCII text, ~300 bytes."""
    words = ["Hello", "世界", "naïve", "über", "🎉", "données", "模型", "token", "stream"]
    out = []
    for i in range(n):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(3, 12)))
        obj = {"candidates": [{"content": {"parts": [{"text": text}], "role": "model"},
                               "index": 0}],
               "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": i,
                                 "totalTokenCount": 12 + i},
               "modelVersion": "gemini-2.0-flash", "responseId": "abcDEF123ghiJKL456"}
        out.append(f"data: {json.dumps(obj, ensure_ascii=False)}\r\n\r\n")
    return "".join(out).encode()


def anthropic_stream(n: int, rng: random.Random) -> bytes:
    """Anthropic Messages: `event:` + `data:` lines, periodic ping events."""
    out = []
    for i in range(n):
        if i % 50 == 0:
            out.append('event: ping\ndata: {"type": "ping"}\n\n')
            continue
        word = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz ") for _ in range(rng.randint(2, 8)))
        obj = {"type": "content_block_delta", "index": 0,
               "delta": {"type": "text_delta", "text": word}}
        out.append(f"event: content_block_delta\ndata: {json.dumps(obj)}\n\n")
    return "".join(out).encode()


def long_line_stream(n: int, size: int, rng: random.Random) -> bytes:
    """Few events, each one huge line (a base64 image / thought signature)."""
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    block = bytes(rng.choice(alphabet) for _ in range(4096))
    blob = (block * (size // 4096 + 1))[:size].decode()
    out = [f'id: {i}\ndata: {{"inlineData": {{"data": "{blob}"}}}}\n\n' for i in range(n)]
    return "".join(out).encode()


def random_chunks(raw: bytes, rng: random.Random, lo: int = 1, hi: int = 4096) -> list[bytes]:
    out, i = [], 0
    while i < len(raw):
        n = rng.randint(lo, hi)
        out.append(raw[i:i + n])
        i += n
    return out


def event_chunks(raw: bytes) -> list[bytes]:
    """One event per chunk (how most servers flush)."""
    sep = b"\r\n\r\n" if raw.find(b"\r\n") >= 0 else b"\n\n"
    parts = raw.split(sep)
    out = [p + sep for p in parts[:-1]]
    if parts[-1]:
        out.append(parts[-1])
    return out


# ---------------------------------------------------------------- pipelines

Key = tuple[str, str, str, "int | None"]


def run_ours(chunks: list[bytes]) -> list:
    d = SSEDecoder()
    out = []
    for c in chunks:
        out += d.feed(c)
    out += d.close()
    return out


def make_httpx_sse(line_decoder_cls: type) -> Callable[[list[bytes]], list]:
    def run(chunks: list[bytes]) -> list:
        text_dec = TextDecoder("utf-8")
        lines = line_decoder_cls()
        sse = HxSSEDecoder()
        out = []
        for c in chunks:
            text = text_dec.decode(c)
            if text:  # httpx's iter_text never yields ""
                for line in lines.decode(text):
                    e = sse.decode(line.rstrip("\n"))
                    if e is not None:
                        out.append(e)
        tail = text_dec.flush()
        if tail:
            for line in lines.decode(tail):
                e = sse.decode(line.rstrip("\n"))
                if e is not None:
                    out.append(e)
        for line in lines.flush():
            e = sse.decode(line.rstrip("\n"))
            if e is not None:
                out.append(e)
        return out
    return run


def keys(events: list) -> list[Key]:
    """Comparable form (httpx-sse's ``event`` property also defaults to "message")."""
    return [(e.data, e.event, e.id, e.retry) for e in events]


PIPELINES: dict[str, Callable[[list[bytes]], list]] = {"tokenrace": run_ours}
PIPELINES["httpx-sse/LineDecoder"] = make_httpx_sse(LineDecoder)
if SSELineDecoder is not None:
    PIPELINES["httpx-sse/SSELineDecoder"] = make_httpx_sse(SSELineDecoder)


def median_times(pipelines: dict[str, Callable[[list[bytes]], object]], chunks: list[bytes],
                 repeats: int, clock: Callable[[], float]) -> dict[str, float]:
    """Median time per pipeline; runs are interleaved so load spikes hit all alike."""
    times: dict[str, list[float]] = {p: [] for p in pipelines}
    for _ in range(repeats):
        for p, fn in pipelines.items():
            t0 = clock()
            fn(chunks)
            times[p].append(clock() - t0)
    return {p: statistics.median(ts) for p, ts in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=9, help="runs per case (median is shown)")
    ap.add_argument("--quick", action="store_true", help="smaller streams")
    ap.add_argument("--wall", action="store_true",
                    help="time with perf_counter (default: process CPU time, steadier on a "
                         "shared machine; the work is single-threaded and does no I/O)")
    args = ap.parse_args()
    clock = time.perf_counter if args.wall else time.process_time
    rng = random.Random(20240601)
    n = 2000 if args.quick else 20000
    streams = {
        "openai LF ~260B": openai_stream(n, rng),
        "gemini CRLF ~300B": gemini_stream(n, rng),
        "anthropic event+data": anthropic_stream(n, rng),
        "long lines 8x2MiB": long_line_stream(8, (256 if args.quick else 2048) * 1024, rng),
    }
    names = list(PIPELINES)
    print(f"Python {sys.version.split()[0]}, httpx-sse pipelines as in EventSource.iter_sse; "
          f"median of {args.repeats} interleaved runs, "
          f"{'wall' if args.wall else 'CPU'} time")
    hdr = (f"{'stream':<21} {'chunking':<15} {'parser':<25} {'events':>6} {'MB':>5} "
           f"{'ms':>7} {'events/s':>9} {'MB/s':>7}  {'ours vs this':>12}  match")
    print(hdr)
    print("-" * len(hdr))
    all_match = True
    for sname, raw in streams.items():
        for cname, chunks in (("random 1-4096 B", random_chunks(raw, rng)),
                              ("1 event/chunk", event_chunks(raw))):
            assert b"".join(chunks) == raw
            results = {p: keys(fn(chunks)) for p, fn in PIPELINES.items()}
            ref = results["tokenrace"]
            secs = median_times(PIPELINES, chunks, args.repeats, clock)
            mb = len(raw) / 1e6
            for p in names:
                match = results[p] == ref
                all_match &= match
                speed = "" if p == "tokenrace" else f"{secs[p] / secs['tokenrace']:.2f}x"
                print(f"{sname:<21} {cname:<15} {p:<25} {len(results[p]):>6} {mb:>5.1f} "
                      f"{secs[p] * 1e3:>7.1f} {len(ref) / secs[p]:>9,.0f} {mb / secs[p]:>7.0f}"
                      f"  {speed:>12}  {'yes' if match else 'NO'}")
                if not match:
                    r = results[p]
                    bad = next((i for i, (a, b) in enumerate(zip(ref, r)) if a != b),
                               min(len(ref), len(r)))
                    print(f"    first difference at event {bad}")
            print()
    print("ours vs this = this parser's time / tokenrace's time (>1: tokenrace is faster)")
    print("all outputs identical:", "yes" if all_match else "NO")


if __name__ == "__main__":
    main()
