"""One way to write each figure, shared by compare and the reports: the same precision everywhere.

Times in ms and speeds in tokens/s with one decimal (thousands separated), request rates with two,
fractions as per cent with one, costs in USD with four (per 1,000 requests), changes as a signed
per cent with one decimal (percentage points for a fraction).
"""
from __future__ import annotations

FRACTIONS = frozenset({"error_rate", "goodput_ratio"})
RATES = frozenset({"request_throughput", "goodput", "arrival_rate"})
USD = frozenset({"cost_per_1k_requests_usd", "cost_usd"})


def unit(figure: str) -> str:
    if figure.endswith("_ms"):
        return "ms"
    if figure in ("tokens_per_s", "output_tokens_per_s"):
        return "tok/s"
    if figure in RATES:
        return "req/s"
    if figure in FRACTIONS:
        return "%"
    if figure in USD:
        return "USD"
    return ""


def fmt(figure: str, v: float | None) -> str:
    if v is None:
        return "–"
    if figure in FRACTIONS:
        return f"{v * 100:.1f}%"
    if figure in USD:
        return f"${v:,.4f}" if figure == "cost_per_1k_requests_usd" else f"${v:,.6f}"
    if figure in RATES:
        return f"{v:,.2f}"
    return f"{v:,.1f}"


def fmt_change(figure: str, old: float | None, new: float | None) -> str:
    """``+12.3%``; for a fraction ``+1.5 pt``; ``–`` when it cannot be said (a side missing, or from 0)."""
    if old is None or new is None:
        return "–"
    if figure in FRACTIONS:
        return f"{round((new - old) * 100, 1) + 0.0:+.1f} pt"      # + 0.0: no "-0.0"
    if old == 0:
        return "+0.0%" if new == 0 else "–"
    return f"{round((new - old) / abs(old) * 100, 1) + 0.0:+.1f}%"


def fmt_p(p: float | None) -> str:
    return "–" if p is None else ("<0.001" if p < 0.001 else f"{p:.3f}")
