"""Benchmark tokenrace.sse.SSEDecoder against httpx-sse on the same bytes.

    python benchmarks/parser.py [--repeats N] [--quick] [--wall] [--markdown]

httpx-sse decodes lines, so its pipeline here is what ``EventSource.iter_sse``
does: httpx's incremental ``TextDecoder`` -> a line decoder -> ``SSEDecoder.decode``
per line. Two line decoders are timed: ``httpx._decoders.LineDecoder`` (httpx's
own, splitlines-based) and ``httpx_sse._decoders.SSELineDecoder`` (what httpx-sse
0.4.x uses). Every stream is cut into reads several ways (one event per read,
fixed 7 B / 64 B / 1 KiB / 64 KiB reads, random 1-4096 B reads); the largest case
is a ~39 MB OpenAI-style stream in 64 KiB reads. Streams are generated from a
fixed seed (nothing is stored). Before timing, every pipeline's events are
checked to be identical.
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


def fixed_chunks(raw: bytes, size: int) -> list[bytes]:
    return [raw[i:i + size] for i in range(0, len(raw), size)]


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


def run_ours(chunks: list[bytes], keep: bool = True) -> list:
    d = SSEDecoder()
    out: list = []
    n = 0
    for c in chunks:
        if keep:
            out += d.feed(c)
        else:
            n += len(d.feed(c))
    out += d.close()
    return out


def make_httpx_sse(line_decoder_cls: type) -> Callable[..., list]:
    def run(chunks: list[bytes], keep: bool = True) -> list:
        text_dec = TextDecoder("utf-8")
        lines = line_decoder_cls()
        sse = HxSSEDecoder()
        out: list = []
        n = 0
        for c in chunks:
            text = text_dec.decode(c)
            if text:  # httpx's iter_text never yields ""
                for line in lines.decode(text):
                    e = sse.decode(line.rstrip("\n"))
                    if e is not None:
                        if keep:
                            out.append(e)
                        else:
                            n += 1
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


PIPELINES: dict[str, Callable[..., list]] = {"tokenrace": run_ours}
PIPELINES["LineDecoder"] = make_httpx_sse(LineDecoder)
if SSELineDecoder is not None:
    PIPELINES["SSELineDecoder"] = make_httpx_sse(SSELineDecoder)


def median_times(pipelines: dict[str, Callable[..., object]], chunks: list[bytes],
                 repeats: int, clock: Callable[[], float]) -> dict[tuple[str, bool], float]:
    """Median time per pipeline, keeping every event or consuming them as they come;
    runs are interleaved so load spikes hit all alike."""
    times: dict[tuple[str, bool], list[float]] = {(p, k): [] for p in pipelines for k in (True, False)}
    for _ in range(repeats):
        for keep in (True, False):
            for p, fn in pipelines.items():
                t0 = clock()
                fn(chunks, keep)
                times[p, keep].append(clock() - t0)
    return {pk: statistics.median(ts) for pk, ts in times.items()}


def cases(quick: bool) -> list[tuple[str, str, list[bytes]]]:
    """(stream, chunking, reads). Small reads get shorter streams so each run stays short."""
    rng = random.Random(20240601)
    k = 10 if quick else 1
    big, small, tiny = 20000 // k, 4000 // k, 1000 // k
    out: list[tuple[str, str, list[bytes]]] = []
    for name, make in (("openai LF ~260B", openai_stream), ("gemini CRLF ~300B", gemini_stream),
                       ("anthropic event+data", anthropic_stream)):
        raw, raw_s, raw_t = make(big, rng), make(small, rng), make(tiny, rng)
        out += [(name, "1 event/read", event_chunks(raw)),
                (name, "7 B reads", fixed_chunks(raw_t, 7)),
                (name, "64 B reads", fixed_chunks(raw_s, 64)),
                (name, "1 KiB reads", fixed_chunks(raw, 1024)),
                (name, "64 KiB reads", fixed_chunks(raw, 65536)),
                (name, "random 1-4096 B", random_chunks(raw, rng))]
    mib = 256 if quick else 2048
    raw = long_line_stream(8, mib * 1024, rng)
    raw_s = long_line_stream(8, 64 * 1024, rng)
    name = f"long lines 8x{mib}KiB"
    out += [(name, "1 event/read", event_chunks(raw)),
            ("long lines 8x64KiB", "7 B reads", fixed_chunks(raw_s, 7)),
            ("long lines 8x64KiB", "64 B reads", fixed_chunks(raw_s, 64)),
            (name, "1 KiB reads", fixed_chunks(raw, 1024)),
            (name, "64 KiB reads", fixed_chunks(raw, 65536)),
            (name, "random 1-4096 B", random_chunks(raw, rng))]
    raw = openai_stream(147000 // k, rng)
    out.append((f"openai LF {len(raw) / 1e6:.0f} MB", "64 KiB reads", fixed_chunks(raw, 65536)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7, help="runs per case (median is shown)")
    ap.add_argument("--quick", action="store_true", help="10x smaller streams")
    ap.add_argument("--wall", action="store_true",
                    help="time with perf_counter (default: process CPU time, steadier on a "
                         "shared machine; the work is single-threaded and does no I/O)")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    ap.add_argument("--only", default="", help="run only cases whose stream or chunking contains this")
    args = ap.parse_args()
    clock = time.perf_counter if args.wall else time.process_time
    others = list(PIPELINES)[1:]
    short = {"LineDecoder": "LD", "SSELineDecoder": "SLD"}
    print(f"Python {sys.version.split()[0]}; httpx-sse pipelines as in EventSource.iter_sse: "
          f"LD = httpx LineDecoder, SLD = httpx-sse SSELineDecoder; median of {args.repeats} "
          f"interleaved runs, {'wall' if args.wall else 'CPU'} time; ratio = their time / ours.")
    print("kept: every event kept in a list (as before); consumed: each read's events used and "
          "dropped, as providers/stream.py does.")
    cols = ["stream", "chunking", "reads", "events", "MB", "ours ms"]
    for p in others:
        cols += [f"{short.get(p, p)} ms", "ratio"]
    cols += ["ours ms (consumed)"] + [f"{short.get(p, p)} ratio (consumed)" for p in others]
    cols.append("same events")
    if args.markdown:
        print("| " + " | ".join(cols) + " |")
        print("|" + "|".join("---" if i < 2 else "---:" for i in range(len(cols))) + "|")
    else:
        print(f"{'stream':<21} {'chunking':<15} {'reads':>7} {'events':>7} {'MB':>5} "
              f"{'ours ms':>7}" + "".join(f" {short.get(p, p) + ' ms':>7} {'ratio':>6}" for p in others)
              + f"  | consumed: {'ours ms':>7}" + "".join(f" {short.get(p, p):>6}" for p in others)
              + "  same")
    all_match = True
    ratios: dict[tuple[str, bool], list[float]] = {(p, k): [] for p in others for k in (True, False)}
    for sname, cname, chunks in cases(args.quick):
        if args.only and args.only not in sname and args.only not in cname:
            continue
        results = {p: keys(fn(chunks)) for p, fn in PIPELINES.items()}
        ref = results["tokenrace"]
        match = all(r == ref for r in results.values())
        all_match &= match
        secs = median_times(PIPELINES, chunks, args.repeats, clock)
        mb = sum(map(len, chunks)) / 1e6
        row = [sname, cname, f"{len(chunks):,}", f"{len(ref):,}", f"{mb:.1f}",
               f"{secs['tokenrace', True] * 1e3:.1f}"]
        for p in others:
            r = secs[p, True] / secs["tokenrace", True]
            ratios[p, True].append(r)
            row += [f"{secs[p, True] * 1e3:.1f}", f"{r:.2f}x"]
        row.append(f"{secs['tokenrace', False] * 1e3:.1f}")
        for p in others:
            r = secs[p, False] / secs["tokenrace", False]
            ratios[p, False].append(r)
            row.append(f"{r:.2f}x")
        row.append("yes" if match else "NO")
        if args.markdown:
            print("| " + " | ".join(row) + " |")
        else:
            k = len(others)
            print(f"{row[0]:<21} {row[1]:<15} {row[2]:>7} {row[3]:>7} {row[4]:>5} {row[5]:>7}"
                  + "".join(f" {row[6 + 2 * i]:>7} {row[7 + 2 * i]:>6}" for i in range(k))
                  + f"  | consumed: {row[6 + 2 * k]:>7}"
                  + "".join(f" {row[7 + 2 * k + i]:>6}" for i in range(k)) + f"  {row[-1]}")
        if not match:
            for p, r in results.items():
                if r != ref:
                    bad = next((i for i, (x, y) in enumerate(zip(ref, r)) if x != y),
                               min(len(ref), len(r)))
                    print(f"    {p}: first difference at event {bad}")
        sys.stdout.flush()
    print()
    for (p, keep), rs in ratios.items():
        if rs:
            print(f"vs {p}, events {'kept' if keep else 'consumed'}: min {min(rs):.2f}x, "
                  f"median {statistics.median(rs):.2f}x, max {max(rs):.2f}x")
    print("all outputs identical:", "yes" if all_match else "NO")
    if not all_match:
        sys.exit(1)


if __name__ == "__main__":
    main()
