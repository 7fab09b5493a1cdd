"""Who won what in one bench run, by the same noise rule as ``compare``.

For each category (fastest first token, fastest output, ...) and load step, the provider with the best
figure wins only when it beats the next best by the rule (``noise.Rule``: Mann–Whitney U on their
per-request values, p < alpha, and at least the minimum effect). Otherwise it is a tie, between the best
and every provider the rule cannot tell from it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from .compare import request_values, value
from .noise import Rule
from .units import FRACTIONS, fmt

# (figure, stat, title, higher is better)
CATEGORIES = (("ttft_ms", "p50", "Fastest first token", "TTFT p50", False),
              ("tokens_per_s", "p50", "Fastest output", "tok/s p50", True),
              ("e2e_ms", "p50", "Quickest whole answer", "E2E p50", False),
              ("error_rate", None, "Fewest errors", "error rate", False),
              ("goodput_ratio", None, "Most requests within the SLO", "met SLO", True),
              ("cost_per_1k_requests_usd", None, "Cheapest", "$/1k requests", False))


@dataclass(frozen=True)
class Award:
    step: int
    title: str
    figure: str
    stat_label: str
    winner: str | None                 # None: a tie
    tied: tuple[str, ...]              # the best and those within noise of it (a tie), else ()
    value: float
    runner_up: str | None
    runner_value: float | None
    p: float | None
    everyone: bool = False             # every provider is tied
    all_equal: bool = False            # ... with the very same figure (no errors anywhere)

    def _v(self, v: float | None) -> str:
        unit = " ms" if self.figure.endswith("_ms") else " tok/s" if self.figure == "tokens_per_s" else ""
        return fmt(self.figure, v) + unit

    def value_text(self) -> str:
        return self._v(self.value)

    def detail(self) -> str:
        """"next: sim-anthropic, 831.1 ms; p < 0.001" for a winner."""
        p = "" if self.p is None else ("; p < 0.001" if self.p < 0.001 else f"; p = {self.p:.3f}")
        return f"next: {self.runner_up}, {self._v(self.runner_value)}{p}"

    def text(self) -> str:
        """One line: "sim-openai: 120.9 ms (next: sim-anthropic, 831.1 ms; p < 0.001)", or the tie."""
        if self.winner is not None:
            return f"{self.winner}: {self.value_text()} ({self.detail()})"
        if self.all_equal:
            return f"every provider: {self.value_text()}"
        if self.everyone:
            return f"tie within noise: every provider ({self.value_text()} at best)"
        return f"tie within noise: {', '.join(self.tied)} ({self.value_text()} at best)"


def _records_by_group(records: Sequence[Mapping[str, Any]]) -> dict[tuple, list[Mapping[str, Any]]]:
    out: dict[tuple, list[Mapping[str, Any]]] = {}
    for r in records:
        if not r.get("warmup"):
            out.setdefault((r["provider"], r.get("step")), []).append(r)
    return out


def awards(doc: Mapping[str, Any], records: Sequence[Mapping[str, Any]], rule: Rule | None = None) -> list[Award]:
    """Every category's award at every step (categories without figures, such as cost without a
    price, are left out); nothing when fewer than two providers ran."""
    rule = rule or Rule()
    by_group = _records_by_group(records)
    out: list[Award] = []
    for step in doc["scenario"]["steps"]:
        groups = [g for g in doc["groups"] if g["step"] == step["step"]]
        if len(groups) < 2:
            continue
        for figure, stat, title, label, higher in CATEGORIES:
            scored = [(g["provider"], v) for g in groups if (v := value(g, figure, stat)) is not None]
            if len(scored) < 2:
                continue
            scored.sort(key=lambda pv: -pv[1] if higher else pv[1])
            (best, bv), (second, sv) = scored[0], scored[1]
            samples = {name: request_values(by_group.get((name, step["step"]), []), figure, stat) for name, _ in scored}

            def beats(other: str, ov: float) -> tuple[bool, float | None]:
                j = rule.judge(samples[other], samples[best], ov, bv, higher_is_better=higher,
                               fraction=figure in FRACTIONS)
                return j.verdict == "better", j.p

            won, p = beats(second, sv)
            if won:
                out.append(Award(step["step"], title, figure, label, best, (), bv, second, sv, p))
                continue
            tied = (best, *(name for name, v in scored[1:] if not beats(name, v)[0]))
            everyone = len(tied) == len(scored) == len(groups)
            out.append(Award(step["step"], title, figure, label, None, tied, bv, second, sv, p,
                             everyone=everyone, all_equal=everyone and all(v == bv for _, v in scored)))
    return out
