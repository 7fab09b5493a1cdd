"""The noise rule: when is a difference between two sets of per-request values real?

One rule serves ``compare`` (old run against new run) and the report's headline (one provider against
the next best). A difference is called only when both hold:

* the two samples differ by a two-sided Mann–Whitney U test at ``p < alpha`` (default 0.05): the
  request is the unit, so 8 requests are 8 samples however many chunks each had;
* the figure shown moved by at least ``min_effect`` (default 5 %; for a fraction such as the error
  rate, that many percentage points divided by five, i.e. 1 point) in the direction the test found.

Why this test: latencies are skewed and have outliers, so a t-test on means is the wrong model; the
U test needs no distribution, a single slow request cannot dominate it, and its p-value is exact for
small samples (computed here, no SciPy), where a bootstrap of the median is too coarse to trust. The
minimum effect keeps a statistically clear but irrelevant change (0.3 % on 2,000 requests) quiet.
The same choice as google/benchmark's ``compare.py``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

ALPHA = 0.05
MIN_EFFECT_PCT = 5.0
MIN_SAMPLES = 4            # below 4 per side even a total separation gives p >= 0.1: nothing can be called
EXACT_MAX = 40             # exact p-values up to this many values a side (no ties); beyond, the normal
                           # approximation is within about 0.003 of it (checked against SciPy)


@dataclass(frozen=True)
class UTest:
    u: float                # U of the second sample: large when its values tend to be larger
    p: float                # two-sided
    n_a: int
    n_b: int
    exact: bool

    @property
    def direction(self) -> int:
        """+1: the second sample tends larger, -1: smaller, 0: neither."""
        mid = self.n_a * self.n_b / 2
        return 0 if self.u == mid else (1 if self.u > mid else -1)


def _ranks(values: Sequence[float]) -> tuple[list[float], list[int]]:
    """Average ranks (1-based) and the sizes of the tied groups."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    ties: list[int] = []
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        if j > i:
            ties.append(j - i + 1)
        i = j + 1
    return ranks, ties


@lru_cache(maxsize=64)
def u_tail(n: int, m: int) -> tuple[int, ...]:
    """Cumulative counts: how many orderings give U <= k, for k = 0 .. n*m (cached: a comparison asks for
    the same sizes for every figure)."""
    out, total = [], 0
    for c in u_distribution(n, m):
        total += c
        out.append(total)
    return tuple(out)


def u_distribution(n: int, m: int) -> list[int]:
    """How many of the C(n+m, n) orderings give U = 0, 1, ..., n*m: the coefficients of the Gaussian
    binomial [n+m choose n]_q = prod_{i=1..n} (1 - q^(m+i)) / (1 - q^i)."""
    if n > m:
        n, m = m, n
    poly = [1] + [0] * (n * m + n)           # room for the product before each division
    deg = 0
    for i in range(1, n + 1):
        step = m + i
        for k in range(deg + step, step - 1, -1):      # times (1 - q^step)
            poly[k] -= poly[k - step]
        deg += step
        for k in range(i, deg + 1):                      # divided by (1 - q^i): exact, term by term
            poly[k] += poly[k - i]
        deg -= i
    return poly[: n * m + 1]


def mann_whitney(a: Sequence[float], b: Sequence[float]) -> UTest:
    """Two-sided Mann–Whitney U test of ``b`` against ``a``: exact without ties for small samples, else
    the normal approximation with the tie and continuity corrections."""
    n_a, n_b = len(a), len(b)
    if not n_a or not n_b:
        raise ValueError("both samples need at least one value")
    ranks, ties = _ranks([*a, *b])
    u = sum(ranks[n_a:]) - n_b * (n_b + 1) / 2
    mid = n_a * n_b / 2
    if not ties and max(n_a, n_b) <= EXACT_MAX:
        k = int(round(min(u, n_a * n_b - u)))           # the distribution is symmetric
        p = min(1.0, 2 * u_tail(min(n_a, n_b), max(n_a, n_b))[k] / math.comb(n_a + n_b, n_a))
        return UTest(u, p, n_a, n_b, True)
    n = n_a + n_b
    var = n_a * n_b / 12 * ((n + 1) - sum(t ** 3 - t for t in ties) / (n * (n - 1)))
    if var <= 0:                                          # every value equal
        return UTest(u, 1.0, n_a, n_b, False)
    z = max(0.0, abs(u - mid) - 0.5) / math.sqrt(var)
    return UTest(u, min(1.0, math.erfc(z / math.sqrt(2))), n_a, n_b, False)


@dataclass(frozen=True)
class Judgement:
    """What the rule says about one figure: ``better``, ``worse``, ``same`` (within noise), ``few``
    (too few values to judge) or ``untested`` (no per-request values: one number per run)."""

    verdict: str
    p: float | None = None
    effect: float | None = None     # % change, or percentage points for a fraction

    @property
    def called(self) -> bool:
        return self.verdict in ("better", "worse")


@dataclass(frozen=True)
class Rule:
    alpha: float = ALPHA
    min_effect_pct: float = MIN_EFFECT_PCT

    def condition(self) -> str:
        return (f"the per-request values of the two sides differ by a two-sided Mann–Whitney U test at "
                f"p < {self.alpha:g}, and the figure differs by at least {self.min_effect_pct:g} % "
                f"({self.min_effect_pct / 5:g} percentage point for the error rate and the share meeting the SLO) "
                f"in the same direction")

    def text(self) -> str:
        """The rule as compare states it."""
        return (f"better/worse only when {self.condition()}; otherwise within noise (~). Fewer than "
                f"{MIN_SAMPLES} requests on a side cannot be judged.")

    def contest(self) -> str:
        """The rule as the report's headline states it."""
        return (f"A provider wins only when it beats the next best beyond noise: {self.condition()}. Otherwise "
                f"it is a tie with every provider the rule cannot tell from the best. Fewer than {MIN_SAMPLES} "
                f"requests on a side cannot be judged.")

    def effect(self, old: float, new: float, fraction: bool) -> float | None:
        if fraction:
            return (new - old) * 100
        return None if old == 0 else (new - old) / abs(old) * 100

    def big_enough(self, effect: float, fraction: bool) -> bool:
        return abs(effect) >= (self.min_effect_pct / 5 if fraction else self.min_effect_pct)

    def judge(self, old_values: Sequence[float] | None, new_values: Sequence[float] | None,
              old: float | None, new: float | None, *, higher_is_better: bool,
              fraction: bool = False) -> Judgement:
        """The verdict on a figure that went from ``old`` to ``new`` (its shown statistic), given each
        side's per-request values (None: not available, so not tested)."""
        if old is None or new is None:
            return Judgement("untested")
        effect = self.effect(old, new, fraction)
        if old_values is None or new_values is None:
            return Judgement("untested", None, effect)
        if min(len(old_values), len(new_values)) < MIN_SAMPLES:
            return Judgement("few", None, effect)
        t = mann_whitney(old_values, new_values)
        moved = 0 if new == old else (1 if new > old else -1)
        if (t.p < self.alpha and effect is not None and self.big_enough(effect, fraction)
                and moved == t.direction):
            return Judgement("better" if (moved > 0) == higher_is_better else "worse", t.p, effect)
        return Judgement("same", t.p, effect)

    def significant(self, old_values: Sequence[float] | None, new_values: Sequence[float] | None,
                    old: float, new: float) -> bool | None:
        """Whether old -> new is beyond the test alone (for a limit, which is its own effect size);
        None when it cannot be tested."""
        if old_values is None or new_values is None or min(len(old_values), len(new_values)) < MIN_SAMPLES:
            return None
        t = mann_whitney(old_values, new_values)
        moved = 0 if new == old else (1 if new > old else -1)
        return t.p < self.alpha and moved == t.direction
