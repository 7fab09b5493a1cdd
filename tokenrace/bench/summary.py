"""Aggregates of bench records, per provider and load step (pure: records in, dicts out).

Figures are aggregated with :func:`tokenrace.metrics.summarize` over the requests that succeeded;
failed requests count in ``errors`` (by kind) and ``error_rate``. The ITL distribution pools every
gap of every successful request. Throughput figures divide by the group's wall time: first request
queued to last request ended.
"""
from __future__ import annotations

from collections import Counter
from typing import Any, Iterable, Mapping, Sequence

from ..metrics import summarize

# (figure, the record field it comes from); itl_ms pools the per-gap lists
FIGURES = ("ttft_ms", "ttft_any_ms", "ttfb_ms", "e2e_ms", "queue_ms", "connect_ms", "tokens_per_s", "tpot_ms",
           "itl_ms", "output_tokens", "reasoning_tokens", "chunks", "tokens_per_chunk",
           "ttft_cold_ms", "ttft_warm_ms")
STATS = ("count", "mean", "min", "p50", "p90", "p95", "p99", "max", "stdev")
GROUP_FIELDS = ("requests", "ok", "error_rate", "duration_s", "request_throughput", "output_tokens_per_s",
                "goodput", "goodput_ratio", "arrival_rate", "cold_requests", "cost_per_1k_requests_usd",
                "cost_usd", "cost_estimated")
HIGHER_IS_BETTER = {"tokens_per_s", "request_throughput", "output_tokens_per_s", "goodput", "goodput_ratio",
                    "ok", "output_tokens", "arrival_rate"}


def slo_ok(rec: Mapping[str, Any], slo: Mapping[str, float]) -> bool:
    """Whether one request met every SLO bound (only successful requests can)."""
    if rec.get("status") != "ok":
        return False
    for key, bound in slo.items():
        if key == "itl_p99_ms":
            v = (rec.get("itl_ms") or {}).get("p99")
            if v is None:            # a single chunk has no gaps: nothing to violate
                continue
        else:
            v = rec.get(key)
        if v is None:
            return False
        if (v < bound) if key == "tokens_per_s" else (v > bound):
            return False
    return True


def error_key(rec: Mapping[str, Any]) -> str:
    kind = rec.get("error_kind") or rec.get("status") or "error"
    return f"http_{rec['http_status']}" if kind == "http" and rec.get("http_status") else kind


def figure_values(recs: Sequence[Mapping[str, Any]], name: str) -> list[float]:
    if name == "itl_ms":
        return [g for r in recs for g in (r.get("itl_gaps_ms") or ())]
    if name in ("ttft_cold_ms", "ttft_warm_ms"):
        want = name == "ttft_warm_ms"
        return [r["ttft_ms"] for r in recs if r.get("ttft_ms") is not None and bool(r.get("reused")) is want]
    return [r[name] for r in recs if r.get(name) is not None]


def _rate(n: float, seconds: float | None) -> float | None:
    return round(n / seconds, 3) if seconds else None


def group_key(rec: Mapping[str, Any]) -> tuple:
    return rec["provider"], rec.get("step")


def summarize_group(recs: Sequence[Mapping[str, Any]], slo: Mapping[str, float] | None = None) -> dict[str, Any]:
    first = recs[0]
    ok = [r for r in recs if r.get("status") == "ok"]
    starts = [r["t_queued_ms"] for r in recs if r.get("t_queued_ms") is not None]
    ends = [r["t_end_ms"] for r in recs if r.get("t_end_ms") is not None]
    duration = round((max(ends) - min(starts)) / 1000, 3) if starts and ends and max(ends) > min(starts) else None
    errors = Counter(error_key(r) for r in recs if r.get("status") != "ok")
    g: dict[str, Any] = {
        "provider": first["provider"], "model": first.get("model"), "step": first.get("step"),
        "load_kind": first.get("load_kind"), "load_value": first.get("load_value"),
        "requests": len(recs), "ok": len(ok), "errors": dict(sorted(errors.items())),
        "error_rate": round(1 - len(ok) / len(recs), 4) if recs else None,
        "duration_s": duration,
        "request_throughput": _rate(len(ok), duration),
        "output_tokens_per_s": _rate(sum(r.get("output_tokens") or 0 for r in ok), duration),
        "goodput": None, "goodput_ratio": None, "arrival_rate": None,
        "cold_requests": sum(1 for r in recs if r.get("reused") is False),
        **_cost(recs),
    }
    if slo:
        good = sum(1 for r in recs if slo_ok(r, slo))
        g["goodput"], g["goodput_ratio"] = _rate(good, duration), round(good / len(recs), 4)
    if first.get("load_kind") == "rate" and len(starts) > 1 and max(starts) > min(starts):
        g["arrival_rate"] = round((len(starts) - 1) / ((max(starts) - min(starts)) / 1000), 3)
    g["figures"] = {name: summarize(figure_values(ok, name)) for name in FIGURES}
    return g


def _cost(recs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """What the group's requests cost (failed ones too: a provider may bill a request that failed)
    and per 1,000 requests; None without a price."""
    costs = [r["cost_usd"] for r in recs if r.get("cost_usd") is not None]
    if not costs:
        return {"cost_usd": None, "cost_per_1k_requests_usd": None, "cost_estimated": None}
    total = sum(costs)
    return {"cost_usd": round(total, 6), "cost_per_1k_requests_usd": round(total / len(costs) * 1000, 4),
            "cost_estimated": any(r.get("cost_estimated") for r in recs)}


def summarize_records(records: Iterable[Mapping[str, Any]], slo: Mapping[str, float] | None = None,
                      order: Sequence[str] = ()) -> list[dict]:
    """One group per provider and load step (warmup records excluded), by step, then in ``order``."""
    groups: dict[tuple, list] = {}
    for r in records:
        if not r.get("warmup"):
            groups.setdefault(group_key(r), []).append(r)
    rank = {name: i for i, name in enumerate(order)}
    ordered = sorted(groups.items(), key=lambda kv: (kv[0][1] if kv[0][1] is not None else -1,
                                                     rank.get(kv[0][0], len(rank)), kv[0][0]))
    return [summarize_group(recs, slo) for _, recs in ordered]


def csv_rows(groups: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """Long (tidy) format: one row per provider, step and figure; group figures repeated on each row."""
    header = ["provider", "model", "step", "load_kind", "load_value", "figure", *STATS, *GROUP_FIELDS, "errors"]
    rows = []
    for g in groups:
        errors = ";".join(f"{k}={v}" for k, v in g["errors"].items())
        for name, s in g["figures"].items():
            rows.append([g["provider"], g["model"], g["step"], g["load_kind"], g["load_value"], name,
                         *(s.get(k) for k in STATS), *(g.get(k) for k in GROUP_FIELDS), errors])
    return header, rows


def workers_text(lag: Mapping[str, Any], records: Sequence[Mapping[str, Any]]) -> str | None:
    """One line on the processes that measured (``load.workers`` or ``bench --redis``): each one's
    requests, failures and loop lag p99; None for a one-process bench."""
    per = lag.get("workers") or []
    if not per:
        return None
    measured = [r for r in records if not r.get("warmup")]
    done = Counter(r.get("worker") for r in measured)
    failed = Counter(r.get("worker") for r in measured if r["status"] != "ok")
    parts = []
    for w in per:
        wid = w["worker"]
        label = f"worker {wid + 1}" if isinstance(wid, int) else str(wid)
        p99 = "–" if w.get("p99_ms") is None else f"{w['p99_ms']:.1f} ms"
        parts.append(f"{label}: {done.get(wid, 0)} requests, {failed.get(wid, 0)} failed, loop lag p99 {p99}")
    return "Measured by " + "; ".join(parts) + "."
