"""``tokenrace compare OLD NEW``: what changed between two bench output folders, and CI thresholds.

Groups match by provider and load (``concurrency 4``), not by step number. A threshold names a
figure and a statistic (``ttft_p50``, ``tokens_per_s_p50``, ``itl_ms_p99``) or a group figure
(``error_rate``, ``request_throughput``, ``output_tokens_per_s``, ``goodput``) and a limit:

    +10%   fails when the new value is more than 10 % above the old one
    -10%   fails when it is more than 10 % below
    10%    fails either way
    +50    (no %) an absolute limit in the figure's unit: more than 50 above
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..errors import UsageError
from .summary import FIGURES, GROUP_FIELDS, HIGHER_IS_BETTER, STATS

ALIASES = {"ttft": "ttft_ms", "ttft_any": "ttft_any_ms", "ttfb": "ttfb_ms", "e2e": "e2e_ms", "itl": "itl_ms",
           "tpot": "tpot_ms", "queue": "queue_ms", "connect": "connect_ms", "tok_s": "tokens_per_s",
           "ttft_cold": "ttft_cold_ms", "ttft_warm": "ttft_warm_ms"}
SHOWN = [("ttft_ms", "p50"), ("ttft_ms", "p90"), ("ttft_ms", "p99"), ("itl_ms", "p50"), ("itl_ms", "p99"),
         ("tokens_per_s", "p50"), ("e2e_ms", "p50"), ("error_rate", None), ("request_throughput", None),
         ("output_tokens_per_s", None), ("goodput", None)]
NOISE_PCT = 5.0             # smaller changes get no better/worse label
_LIMIT_RE = re.compile(r"([+-]?)(\d+(?:\.\d+)?)(%?)")


@dataclass(frozen=True)
class Threshold:
    spec: str
    figure: str
    stat: str | None           # None: a group figure (error_rate, ...)
    sign: str                  # "+", "-" or "" (either way)
    amount: float
    relative: bool

    def crossed(self, old: float | None, new: float | None) -> bool:
        if old is None:
            return False
        if new is None:
            return True
        delta = abs(old) * self.amount / 100 if self.relative else self.amount
        up, down = new > old + delta, new < old - delta
        return up if self.sign == "+" else down if self.sign == "-" else (up or down)


def parse_threshold(spec: str) -> Threshold:
    name, sep, limit = spec.strip().partition("=")
    name = name.strip()
    m = _LIMIT_RE.fullmatch(limit.strip())
    if not sep or not m:
        raise UsageError(f"--fail-on {spec!r}: expected NAME=LIMIT such as ttft_p50=+10% or error_rate=+0.05")
    if name in GROUP_FIELDS or name == "error_rate":
        figure, stat = name, None
    else:
        base, _, stat = name.rpartition("_")
        figure = ALIASES.get(base, base)
        if stat not in STATS or figure not in FIGURES:
            raise UsageError(f"--fail-on {spec!r}: unknown figure {name!r}; use FIGURE_STAT (figures: "
                             f"{', '.join(sorted(set(ALIASES) | set(FIGURES)))}; stats: {', '.join(STATS)}) "
                             f"or one of {', '.join(GROUP_FIELDS)}")
    return Threshold(spec.strip(), figure, stat, m.group(1), float(m.group(2)), bool(m.group(3)))


def parse_thresholds(text: str | None) -> list[Threshold]:
    return [parse_threshold(s) for s in (text or "").split(",") if s.strip()]


def load_summary(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if p.is_dir():
        p = p / "summary.json"
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{p}: not found (give a bench output folder or its summary.json)") from None
    except (OSError, ValueError) as e:
        raise UsageError(f"{p}: cannot read: {e}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("groups"), list):
        raise UsageError(f"{p}: not a tokenrace bench summary (no 'groups')")
    return doc


def _key(g: Mapping[str, Any]) -> tuple:
    return g["provider"], g.get("load_kind"), g.get("load_value")


def value(g: Mapping[str, Any], figure: str, stat: str | None) -> float | None:
    if stat is None:
        return g.get(figure)
    return ((g.get("figures") or {}).get(figure) or {}).get(stat)


@dataclass
class Change:
    provider: str
    load: str
    figure: str
    stat: str | None
    old: float | None
    new: float | None
    failed: list[str] = field(default_factory=list)      # thresholds crossed

    @property
    def name(self) -> str:
        return f"{self.figure} {self.stat}" if self.stat else self.figure

    @property
    def change(self) -> float | None:
        if self.old is None or self.new is None or self.old == 0:
            return None
        return (self.new - self.old) / abs(self.old) * 100

    @property
    def verdict(self) -> str:
        ch = self.change
        if self.old is None or self.new is None or self.old == self.new or (ch is not None and abs(ch) < NOISE_PCT):
            return ""
        better = (self.new > self.old) == (self.figure in HIGHER_IS_BETTER)
        return "better" if better else "worse"


@dataclass
class Comparison:
    changes: list[Change]
    only_old: list[tuple]
    only_new: list[tuple]
    notes: list[str]

    @property
    def failed(self) -> bool:
        return any(c.failed for c in self.changes)


def _load_label(kind: str | None, val: Any) -> str:
    return "warmup" if kind is None else (f"concurrency {val:g}" if kind == "concurrency" else f"rate {val:g}/s")


def compare(old: Mapping[str, Any], new: Mapping[str, Any], thresholds: list[Threshold] | None = None,
            ) -> Comparison:
    thresholds = thresholds or []
    olds, news = {_key(g): g for g in old["groups"]}, {_key(g): g for g in new["groups"]}
    wanted = list(SHOWN) + [(t.figure, t.stat) for t in thresholds if (t.figure, t.stat) not in SHOWN]
    changes, notes = [], []
    for key, og in olds.items():
        ng = news.get(key)
        if ng is None:
            continue
        for figure, stat in wanted:
            o, n = value(og, figure, stat), value(ng, figure, stat)
            if o is None and n is None:
                continue
            c = Change(key[0], _load_label(key[1], key[2]), figure, stat, o, n)
            c.failed = [t.spec for t in thresholds if t.figure == figure and t.stat == stat and t.crossed(o, n)]
            changes.append(c)
    only_old = [k for k in olds if k not in news]
    only_new = [k for k in news if k not in olds]
    for label, doc in (("old", old), ("new", new)):
        if doc.get("partial"):
            notes.append(f"the {label} run is partial (interrupted)")
        if (doc.get("client") or {}).get("lag", {}).get("saturated"):
            notes.append(f"the {label} run's client was saturated (event-loop lag); its figures may be overstated")
    if thresholds and only_old:
        for k in only_old:
            changes.append(Change(k[0], _load_label(k[1], k[2]), "missing in new run", None, None, None,
                                  ["a provider and load of the old run is missing"]))
    return Comparison(changes, only_old, only_new, notes)


def _fmt(v: float | None) -> str:
    if v is None:
        return "–"
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4g}" if abs(v) < 1 else f"{v:.1f}"


def format_comparison(cmp: Comparison, old_name: str, new_name: str) -> str:
    lines = [f"compare {old_name} -> {new_name}"]
    lines += [f"note: {n}" for n in cmp.notes]
    rows = [("provider", "load", "figure", "old", "new", "change", "")]
    for c in cmp.changes:
        ch = c.change
        pct = "–" if ch is None else f"{ch:+.1f}%"
        flag = ("FAIL " + ", ".join(c.failed)) if c.failed else c.verdict
        rows.append((c.provider, c.load, c.name, _fmt(c.old), _fmt(c.new), pct, flag))
    widths = [max(len(r[i]) for r in rows) for i in range(7)]
    for i, r in enumerate(rows):
        lines.append("  ".join(cell.ljust(w) if j < 3 or j == 6 else cell.rjust(w)
                               for j, (cell, w) in enumerate(zip(r, widths))).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    for k in cmp.only_old:
        lines.append(f"only in old: {k[0]} at {_load_label(k[1], k[2])}")
    for k in cmp.only_new:
        lines.append(f"only in new: {k[0]} at {_load_label(k[1], k[2])}")
    failed = [c for c in cmp.changes if c.failed]
    lines.append(f"{len(failed)} threshold(s) crossed" if failed else "no threshold crossed")
    return "\n".join(lines)


def to_json(cmp: Comparison) -> dict[str, Any]:
    return {"failed": cmp.failed, "notes": cmp.notes,
            "only_old": [list(k) for k in cmp.only_old], "only_new": [list(k) for k in cmp.only_new],
            "changes": [{"provider": c.provider, "load": c.load, "figure": c.figure, "stat": c.stat,
                         "old": c.old, "new": c.new, "change_pct": None if c.change is None else round(c.change, 2),
                         "verdict": c.verdict, "failed": c.failed} for c in cmp.changes]}
