"""``tokenrace compare OLD NEW``: what changed between two bench output folders, and CI limits.

Groups match by provider and load (``concurrency 4``), not by step number. Each figure's change is
judged by the noise rule (``noise.py``) on the per-request values of both runs' ``records.jsonl``;
without them (a bare ``summary.json``) nothing is judged and limits are plain thresholds.

A limit (``--fail-on``) names a figure and a statistic (``ttft_p50``, ``tokens_per_s_p50``,
``itl_ms_p99``) or a group figure (``error_rate``, ``request_throughput``, ``output_tokens_per_s``,
``goodput``, ``cost_per_1k_requests_usd``) and an amount:

    +10%   crossed when the new value is more than 10 % above the old one
    -10%   crossed when it is more than 10 % below
    10%    crossed either way
    +50    (no %) an absolute amount in the figure's unit: more than 50 above

A crossed limit fails only when the change is also beyond noise (the U test at p < alpha; the limit
is its own effect size). Figures with one value per run (req/s, output tok/s, goodput req/s) cannot
be tested: their limits are plain thresholds, and the output says so, as it does with
``threshold_only`` (``--threshold-only``).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..errors import UsageError
from .noise import MIN_SAMPLES, Judgement, Rule
from .summary import FIGURES, GROUP_FIELDS, HIGHER_IS_BETTER, STATS, figure_values

ALIASES = {"ttft": "ttft_ms", "ttft_any": "ttft_any_ms", "ttfb": "ttfb_ms", "e2e": "e2e_ms", "itl": "itl_ms",
           "tpot": "tpot_ms", "queue": "queue_ms", "connect": "connect_ms", "tok_s": "tokens_per_s",
           "ttft_cold": "ttft_cold_ms", "ttft_warm": "ttft_warm_ms"}
SHOWN = [("ttft_ms", "p50"), ("ttft_ms", "p90"), ("ttft_ms", "p99"), ("itl_ms", "p50"), ("itl_ms", "p99"),
         ("tokens_per_s", "p50"), ("e2e_ms", "p50"), ("error_rate", None), ("goodput_ratio", None),
         ("cost_per_1k_requests_usd", None), ("request_throughput", None), ("output_tokens_per_s", None),
         ("goodput", None)]
# the per-provider summary: (figure, stat, column)
SUMMARY = [("ttft_ms", "p50", "TTFT p50"), ("itl_ms", "p50", "ITL p50"), ("tokens_per_s", "p50", "tok/s p50"),
           ("e2e_ms", "p50", "E2E p50"), ("error_rate", None, "errors"), ("cost_per_1k_requests_usd", None, "$/1k req")]
FRACTIONS = {"error_rate", "goodput_ratio"}
LABELS = {"ttft_ms": "TTFT", "ttft_any_ms": "TTFT any", "ttfb_ms": "TTFB", "e2e_ms": "E2E", "itl_ms": "ITL",
          "tpot_ms": "TPOT", "queue_ms": "queue", "connect_ms": "connect", "tokens_per_s": "tok/s",
          "ttft_cold_ms": "TTFT cold", "ttft_warm_ms": "TTFT warm", "error_rate": "error rate",
          "goodput_ratio": "met SLO", "cost_per_1k_requests_usd": "$/1k req", "cost_usd": "cost $",
          "request_throughput": "req/s", "output_tokens_per_s": "out tok/s", "goodput": "goodput req/s"}
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


# -- reading a run ----------------------------------------------------------------------------

def _summary_path(path: str | Path) -> Path:
    p = Path(path)
    return p / "summary.json" if p.is_dir() else p


def load_summary(path: str | Path) -> dict[str, Any]:
    p = _summary_path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{p}: not found (give a bench output folder or its summary.json)") from None
    except (OSError, ValueError) as e:
        raise UsageError(f"{p}: cannot read: {e}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("groups"), list):
        raise UsageError(f"{p}: not a tokenrace bench summary (no 'groups')")
    return doc


def load_records(path: str | Path) -> list[dict] | None:
    """The run's per-request records (records.jsonl beside summary.json); None when there are none."""
    p = _summary_path(path).parent / "records.jsonl"
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as e:
        raise UsageError(f"{p}: cannot read: {e}") from None
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                rec = json.loads(line)
            except ValueError as e:
                raise UsageError(f"{p}:{n}: not a JSON record: {e}") from None
            if not isinstance(rec, dict) or "provider" not in rec:
                raise UsageError(f"{p}:{n}: not a bench record (no 'provider')")
            out.append(rec)
    return out


def _key(g: Mapping[str, Any]) -> tuple:
    return g["provider"], g.get("load_kind"), g.get("load_value")


def value(g: Mapping[str, Any], figure: str, stat: str | None) -> float | None:
    if stat is None:
        v = g.get(figure)
        return None if isinstance(v, bool) else v
    return ((g.get("figures") or {}).get(figure) or {}).get(stat)


def request_values(recs: Sequence[Mapping[str, Any]], figure: str, stat: str | None) -> list[float] | None:
    """One value per request for the test; None for a figure that has one value per run."""
    if figure == "error_rate":
        return [0.0 if r.get("status") == "ok" else 1.0 for r in recs]
    if figure == "goodput_ratio":
        return [1.0 if r["slo_ok"] else 0.0 for r in recs] if all(r.get("slo_ok") is not None for r in recs) else None
    if figure == "cost_per_1k_requests_usd":
        return [r["cost_usd"] * 1000 for r in recs if r.get("cost_usd") is not None]
    if figure in GROUP_FIELDS:
        return None
    ok = [r for r in recs if r.get("status") == "ok"]
    if figure == "itl_ms":                 # each request's own ITL statistic: its gaps are not independent
        want = stat if stat in ("p50", "p90", "p99", "max", "mean") else "p50"
        return [v for r in ok if (v := (r.get("itl_ms") or {}).get(want)) is not None]
    return figure_values(ok, figure)


# -- comparing --------------------------------------------------------------------------------

@dataclass
class Change:
    provider: str
    load: str
    figure: str
    stat: str | None
    old: float | None
    new: float | None
    judgement: Judgement = field(default_factory=lambda: Judgement("untested"))
    n: tuple[int, int] | None = None                     # requests tested on each side
    failed: list[str] = field(default_factory=list)      # limits crossed and beyond noise (or plain thresholds)
    passed: list[str] = field(default_factory=list)      # limits crossed but not beyond noise: why not failed

    @property
    def name(self) -> str:
        label = LABELS.get(self.figure, self.figure)
        return f"{label} {self.stat}" if self.stat else label

    @property
    def change(self) -> float | None:
        """Relative change in per cent (None from 0 or when a side is missing)."""
        if self.old is None or self.new is None or self.old == 0:
            return None
        return (self.new - self.old) / abs(self.old) * 100

    @property
    def verdict(self) -> str:
        return self.judgement.verdict


@dataclass
class GroupSummary:
    provider: str
    load: str
    requests: tuple[int | None, int | None]
    cells: list[Change | None]                           # the SUMMARY columns
    changes: list[Change] = field(default_factory=list)  # every figure of the group

    @property
    def verdict(self) -> str:
        """Over every figure of the group, not only the summary's columns."""
        got = {c.verdict for c in self.changes}
        if "worse" in got:
            return "mixed" if "better" in got else "worse"
        if "better" in got:
            return "better"
        return "same" if "same" in got else "not judged"

    def called(self, verdict: str) -> list[str]:
        return [c.name for c in self.changes if c.verdict == verdict]


@dataclass
class Comparison:
    changes: list[Change]
    groups: list[GroupSummary]
    only_old: list[tuple]
    only_new: list[tuple]
    notes: list[str]
    rule: Rule
    judged: bool                          # both runs had records.jsonl
    threshold_only: bool = False
    limits: list[Threshold] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(c.failed for c in self.changes)


def load_label(kind: str | None, val: Any) -> str:
    return "warmup" if kind is None else (f"concurrency {val:g}" if kind == "concurrency" else f"rate {val:g}/s")


def _by_group(records: Sequence[Mapping[str, Any]] | None) -> dict[tuple, list[Mapping[str, Any]]] | None:
    if records is None:
        return None
    out: dict[tuple, list[Mapping[str, Any]]] = {}
    for r in records:
        if not r.get("warmup"):
            out.setdefault((r["provider"], r.get("load_kind"), r.get("load_value")), []).append(r)
    return out


def _apply_limits(c: Change, limits: Sequence[Threshold], rule: Rule, threshold_only: bool,
                  ov: list[float] | None, nv: list[float] | None) -> None:
    for t in limits:
        if t.figure != c.figure or t.stat != c.stat or not t.crossed(c.old, c.new):
            continue
        if c.new is None or c.old is None or threshold_only:
            c.failed.append(t.spec)
            continue
        beyond = rule.significant(ov, nv, c.old, c.new)
        if beyond is None and (ov is None or nv is None):
            c.failed.append(t.spec + " (plain threshold)")
        elif beyond is None:
            c.passed.append(f"{t.spec} crossed, but {len(ov or ())}/{len(nv or ())} requests are too few to "
                            f"tell from noise (need {MIN_SAMPLES} a side): not failed")
        elif beyond:
            c.failed.append(t.spec)
        else:
            p = c.judgement.p
            c.passed.append(f"{t.spec} crossed, but within noise" + (f" (p = {p:.2f})" if p is not None else "")
                            + ": not failed")


def compare(old: Mapping[str, Any], new: Mapping[str, Any], thresholds: list[Threshold] | None = None, *,
            old_records: Sequence[Mapping[str, Any]] | None = None,
            new_records: Sequence[Mapping[str, Any]] | None = None,
            rule: Rule | None = None, threshold_only: bool = False) -> Comparison:
    limits, rule = thresholds or [], rule or Rule()
    olds, news = {_key(g): g for g in old["groups"]}, {_key(g): g for g in new["groups"]}
    orecs, nrecs = _by_group(old_records), _by_group(new_records)
    wanted = list(SHOWN) + [(t.figure, t.stat) for t in limits if (t.figure, t.stat) not in SHOWN]
    changes, groups = [], []
    for key, og in olds.items():
        ng = news.get(key)
        if ng is None:
            continue
        mine: dict[tuple, Change] = {}
        o_recs = orecs.get(key, []) if orecs is not None else None
        n_recs = nrecs.get(key, []) if nrecs is not None else None
        for figure, stat in wanted:
            o, n = value(og, figure, stat), value(ng, figure, stat)
            if o is None and n is None:
                continue
            ov = request_values(o_recs, figure, stat) if o_recs is not None else None
            nv = request_values(n_recs, figure, stat) if n_recs is not None else None
            c = Change(key[0], load_label(key[1], key[2]), figure, stat, o, n,
                       rule.judge(ov, nv, o, n, higher_is_better=figure in HIGHER_IS_BETTER,
                                  fraction=figure in FRACTIONS),
                       None if ov is None or nv is None else (len(ov), len(nv)))
            _apply_limits(c, limits, rule, threshold_only, ov, nv)
            changes.append(c)
            mine[(figure, stat)] = c
        groups.append(GroupSummary(key[0], load_label(key[1], key[2]), (og.get("requests"), ng.get("requests")),
                                   [mine.get((f, s)) for f, s, _ in SUMMARY], list(mine.values())))
    only_old = [k for k in olds if k not in news]
    only_new = [k for k in news if k not in olds]
    notes = []
    for label, doc in (("old", old), ("new", new)):
        if doc.get("partial"):
            notes.append(f"the {label} run is partial (interrupted)")
        if (doc.get("client") or {}).get("lag", {}).get("saturated"):
            notes.append(f"the {label} run's client was saturated (event-loop lag); its figures may be overstated")
    missing = [label for label, recs in (("old", old_records), ("new", new_records)) if recs is None]
    if missing:
        notes.append(f"no records.jsonl for the {' and '.join(missing)} run: changes are not judged, and every "
                     f"limit is a plain threshold")
    o_slo, n_slo = (old.get("scenario") or {}).get("slo"), (new.get("scenario") or {}).get("slo")
    if o_slo != n_slo:
        notes.append(f"the SLOs differ ({o_slo or 'none'} -> {n_slo or 'none'}): goodput is not comparable")
    if limits and only_old:
        for k in only_old:
            changes.append(Change(k[0], load_label(k[1], k[2]), "missing in new run", None, None, None,
                                  failed=["a provider and load of the old run is missing"]))
    return Comparison(changes, groups, only_old, only_new, notes, rule, not missing, threshold_only, limits)


def to_json(cmp: Comparison) -> dict[str, Any]:
    def change(c: Change) -> dict[str, Any]:
        ch = c.change
        return {"provider": c.provider, "load": c.load, "figure": c.figure, "stat": c.stat, "old": c.old,
                "new": c.new, "change_pct": None if ch is None else round(ch, 2),
                "verdict": c.verdict, "p": None if c.judgement.p is None else round(c.judgement.p, 6),
                "requests": list(c.n) if c.n else None, "failed": c.failed, "not_failed": c.passed}
    return {"failed": cmp.failed, "rule": cmp.rule.text(), "alpha": cmp.rule.alpha,
            "min_effect_pct": cmp.rule.min_effect_pct, "judged": cmp.judged, "threshold_only": cmp.threshold_only,
            "notes": cmp.notes, "only_old": [list(k) for k in cmp.only_old], "only_new": [list(k) for k in cmp.only_new],
            "summary": [{"provider": g.provider, "load": g.load, "requests": list(g.requests), "verdict": g.verdict,
                         "worse": g.called("worse"), "better": g.called("better"),
                         "figures": {col: None if c is None else {"old": c.old, "new": c.new, "verdict": c.verdict}
                                     for (_, _, col), c in zip(SUMMARY, g.cells)}} for g in cmp.groups],
            "changes": [change(c) for c in cmp.changes]}
