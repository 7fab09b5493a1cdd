"""``tokenrace compare``'s text output: the rule, a per-provider summary, then the figures that moved."""
from __future__ import annotations

from typing import Sequence

from .compare import SUMMARY, Change, Comparison, GroupSummary, load_label
from .noise import MIN_SAMPLES
from .units import fmt, fmt_change, fmt_p, unit

MARK = {"better": "better", "worse": "worse", "same": "~", "few": "?", "untested": "?"}
VERDICT = {"same": "within noise", "few": f"too few (< {MIN_SAMPLES})", "untested": "not judged"}


def _grid(rows: Sequence[Sequence[str]], left: int) -> list[str]:
    """Columns padded to width: the first ``left`` left-aligned, the rest right-aligned; a rule under the header."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for i, r in enumerate(rows):
        out.append("  ".join(c.ljust(w) if j < left or j == len(r) - 1 else c.rjust(w)
                             for j, (c, w) in enumerate(zip(r, widths))).rstrip())
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    return out


def _cell(c: Change | None) -> str:
    if c is None:
        return "–"
    return f"{fmt_change(c.figure, c.old, c.new)} {MARK.get(c.verdict, '?')}"


def _requests(n: tuple[int | None, int | None]) -> str:
    return f"{n[0] if n[0] is not None else '?'} → {n[1] if n[1] is not None else '?'}"


def _name(c: Change) -> str:
    u = unit(c.figure)
    return f"{c.name} ({u})" if u and u != "%" and u not in c.name and u != "USD" else c.name


def _verdict(g: GroupSummary) -> str:
    if g.verdict in ("worse", "better", "mixed"):
        return "; ".join(f"{v} ({', '.join(g.called(v))})" for v in ("worse", "better") if g.called(v))
    return VERDICT.get(g.verdict, g.verdict)


def _limit(c: Change) -> str:
    if c.failed:
        return "FAIL " + ", ".join(c.failed)
    return "crossed, not failed" if c.passed else ""


def format_comparison(cmp: Comparison, old_name: str, new_name: str, *, show_all: bool = False) -> str:
    lines = [f"compare {old_name} -> {new_name}", "", f"Noise rule: {cmp.rule.text()}"]
    if cmp.limits:
        lines.append("Limits (--fail-on): " + (
            "plain thresholds (--threshold-only): a crossed limit fails whatever the noise." if cmp.threshold_only
            else f"a crossed limit fails only when the change is also beyond noise (the same test, p < "
                 f"{cmp.rule.alpha:g}; the limit is the effect size). Req/s, output tok/s and goodput req/s have "
                 f"one value per run: their limits are plain thresholds."))
    lines += [f"Note: {n}" for n in cmp.notes]
    if cmp.groups:
        lines += ["", "Per provider: change of the new run against the old (~ within noise, ? not judged)"]
        rows = [["provider", "load", "requests", *(col for _, _, col in SUMMARY), "verdict"]]
        rows += [[g.provider, g.load, _requests(g.requests), *(_cell(c) for c in g.cells),
                  _verdict(g)] for g in cmp.groups]
        lines += _grid(rows, left=2)
    shown = [c for c in cmp.changes if show_all or c.judgement.called or c.failed or c.passed]
    title = "Every figure" if show_all else "Figures that moved beyond noise, or crossed a limit"
    lines += ["", f"{title} (--all shows every figure)" if not show_all else title]
    if shown:
        rows = [["provider", "load", "figure", "old", "new", "change", "p", "verdict", "limit"]]
        rows += [[c.provider, c.load, _name(c), fmt(c.figure, c.old), fmt(c.figure, c.new),
                  fmt_change(c.figure, c.old, c.new), fmt_p(c.judgement.p),
                  c.verdict if c.judgement.called else VERDICT.get(c.verdict, c.verdict), _limit(c)]
                 for c in shown]
        lines += _grid(rows, left=3)
    else:
        lines.append("none")
    for c in cmp.changes:
        lines += [f"{c.provider} at {c.load}: {why}" for why in c.passed]
    lines += [f"only in old: {k[0]} at {load_label(k[1], k[2])}" for k in cmp.only_old]
    lines += [f"only in new: {k[0]} at {load_label(k[1], k[2])}" for k in cmp.only_new]
    failed = [c for c in cmp.changes if c.failed]
    lines.append("")
    if cmp.limits:
        lines.append(f"FAILED: {len(failed)} limit(s) crossed" + ("" if cmp.threshold_only else " beyond noise")
                     if failed else "passed: no limit crossed" + ("" if cmp.threshold_only else " beyond noise"))
    else:
        lines.append("no limits given (--fail-on)")
    return "\n".join(lines)
