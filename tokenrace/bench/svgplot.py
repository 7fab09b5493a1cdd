"""Small static SVG charts for report.html: no JavaScript, no fonts, no network.

Two shapes cover the report: distributions per provider (a box plot in two panels: every row on one
shared scale to compare, and every row on its own scale so a narrow spread is still a box, not a
sliver) and line charts (CDFs, figures against load). A limit (the scenario's SLO) is drawn as a red
dashed line. Output is a string of inline ``<svg>`` that scales to the width of the page.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape
from typing import Sequence

from ..metrics import percentile

PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
           "#9c755f", "#bab0ac")
WIDTH = 1000                 # viewBox units; the SVG itself is 100 % of the page's width
SLO_COLOR = "#b3001b"          # the line and its label; the side that misses the SLO is shaded
SLO_SHADE = 'fill="#d62728" fill-opacity="0.08"'
HALO = 'stroke="#fff" stroke-width="4" paint-order="stroke"'     # a label stays readable across lines
FONT = 'font-family="system-ui,-apple-system,Segoe UI,Roboto,sans-serif" font-size="13"'


@dataclass(frozen=True)
class Limit:
    """An SLO bound drawn on a chart: ``value`` in the chart's unit; ``label`` such as "SLO ≤ 900 ms";
    ``upper``: values above it miss the SLO (a latency), else values below it do (a speed)."""

    value: float
    label: str
    upper: bool = True


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if not math.isfinite(lo) or not math.isfinite(hi):
        return [0.0]
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    ticks, t = [], start
    while t <= hi + step * 1e-9:
        ticks.append(round(t, 10))
        t += step
    if ticks[-1] < hi:
        ticks.append(round(t, 10))
    return ticks


def fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1000:
        return f"{v / 1000:g}k" if abs(v) >= 10_000 else f"{v:,.0f}"
    return f"{v:.3g}"


def value_label(v: float) -> str:
    """A data value as the tables write it (one decimal)."""
    return f"{v:,.1f}"


class _Frame:
    """Plot area and linear scales."""

    def __init__(self, width: float, height: float, left: float, right: float, top: float, bottom: float,
                 x_ticks: list[float], y_ticks: list[float] | None) -> None:
        self.w, self.h, self.l, self.r, self.t, self.b = width, height, left, right, top, bottom
        self.xt, self.yt = x_ticks, y_ticks or []          # no y ticks: a chart with no y scale

    def x(self, v: float) -> float:
        lo, hi = self.xt[0], self.xt[-1]
        return self.l + (v - lo) / ((hi - lo) or 1) * (self.w - self.l - self.r)

    def y(self, v: float) -> float:
        lo, hi = self.yt[0], self.yt[-1]
        return self.h - self.b - (v - lo) / ((hi - lo) or 1) * (self.h - self.t - self.b)

    def axes(self, xlabel: str, ylabel: str = "") -> list[str]:
        out = []
        for v in self.xt:
            x = self.x(v)
            out.append(f'<line x1="{x:.1f}" y1="{self.t}" x2="{x:.1f}" y2="{self.h - self.b}" stroke="#e5e5e5"/>')
            out.append(f'<text x="{x:.1f}" y="{self.h - self.b + 16}" text-anchor="middle" fill="#555">{fmt(v)}</text>')
        for v in self.yt:
            y = self.y(v)
            out.append(f'<line x1="{self.l}" y1="{y:.1f}" x2="{self.w - self.r}" y2="{y:.1f}" stroke="#e5e5e5"/>')
            out.append(f'<text x="{self.l - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#555">{fmt(v)}</text>')
        out.append(f'<text x="{(self.l + self.w - self.r) / 2:.0f}" y="{self.h - self.b + 34}" '
                   f'text-anchor="middle" fill="#333">{escape(xlabel)}</text>')
        if ylabel:
            cy = (self.t + self.h - self.b) / 2
            out.append(f'<text transform="translate(16 {cy:.0f}) rotate(-90)" text-anchor="middle" '
                       f'fill="#333">{escape(ylabel)}</text>')
        return out

    def vline(self, limit: Limit) -> list[str]:
        """A vertical bound; the side that misses it shaded, the label on the side that meets it."""
        x, right = self.x(limit.value), self.w - self.r
        x0, x1 = (x, right) if limit.upper else (self.l, x)
        anchor, tx = ("end", x - 5) if limit.upper else ("start", x + 5)
        return [f'<rect class="slo-miss" x="{x0:.1f}" y="{self.t}" width="{max(x1 - x0, 0):.1f}" '
                f'height="{self.h - self.b - self.t}" {SLO_SHADE}/>',
                f'<line class="slo" x1="{x:.1f}" y1="{self.t}" x2="{x:.1f}" y2="{self.h - self.b}" '
                f'stroke="{SLO_COLOR}" stroke-width="1.5" stroke-dasharray="8 3 2 3"/>',
                f'<text x="{tx:.1f}" y="{self.t + 12}" text-anchor="{anchor}" fill="{SLO_COLOR}" font-size="12" '
                f'font-weight="600" {HALO}>{escape(limit.label)}</text>']

    def hline(self, limit: Limit) -> list[str]:
        """A horizontal bound; the side that misses it shaded."""
        y = self.y(limit.value)
        y0, y1 = (self.t, y) if limit.upper else (y, self.h - self.b)
        return [f'<rect class="slo-miss" x="{self.l}" y="{y0:.1f}" width="{self.w - self.r - self.l}" '
                f'height="{max(y1 - y0, 0):.1f}" {SLO_SHADE}/>',
                f'<line class="slo" x1="{self.l}" y1="{y:.1f}" x2="{self.w - self.r}" y2="{y:.1f}" '
                f'stroke="{SLO_COLOR}" stroke-width="1.5" stroke-dasharray="8 3 2 3"/>',
                f'<text x="{self.w - self.r - 4}" y="{y + (14 if limit.upper else -5):.1f}" text-anchor="end" '
                f'fill="{SLO_COLOR}" font-size="12" font-weight="600" {HALO}>{escape(limit.label)}</text>']


def _svg(height: float, title: str, body: list[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height:.0f}" width="100%" '
            f'preserveAspectRatio="xMidYMin meet" role="img" aria-label="{escape(title)}" {FONT}>'
            f'<title>{escape(title)}</title><text x="{WIDTH / 2:.0f}" y="18" text-anchor="middle" '
            f'font-weight="600" font-size="15" fill="#222">{escape(title)}</text>' + "".join(body) + "</svg>")


def empty(title: str, message: str = "no data") -> str:
    return _svg(64, title, [f'<text x="{WIDTH / 2}" y="46" text-anchor="middle" fill="#888">{escape(message)}</text>'])


def _quartiles(v: Sequence[float]) -> dict[int, float]:
    return {k: percentile(v, k) or 0.0 for k in (25, 50, 75, 90, 99)}     # v is never empty: never None


def tukey(v: Sequence[float]) -> tuple[float, float]:
    """The whisker ends: the furthest values within 1.5 × IQR of the box (``v`` sorted)."""
    q = _quartiles(v)
    iqr = q[75] - q[25]
    lo = next(x for x in v if x >= q[25] - 1.5 * iqr)
    hi = next(x for x in reversed(v) if x <= q[75] + 1.5 * iqr)
    return min(lo, q[25]), max(hi, q[75])      # the box itself always fits (p75 may lie past every value inside)


def _box(f: _Frame, v: Sequence[float], cy: float, c: str, half: float, max_points: int, *,
         ends: tuple[float, float], dots: bool) -> list[str]:
    """Whiskers to ``ends``, box p25–p75, p50, p90 and p99 ticks (where inside the scale), the requests as dots;
    values beyond the scale are drawn as open circles at its edge."""
    q = _quartiles(v)
    lo_s, hi_s = f.xt[0], f.xt[-1]
    out = [f'<line x1="{f.x(ends[0]):.1f}" y1="{cy:.1f}" x2="{f.x(ends[1]):.1f}" y2="{cy:.1f}" stroke="{c}"/>']
    for end in ends:
        out.append(f'<line x1="{f.x(end):.1f}" y1="{cy - half / 2:.1f}" x2="{f.x(end):.1f}" y2="{cy + half / 2:.1f}" '
                   f'stroke="{c}"/>')
    if dots:
        step = max(1, len(v) // max_points)
        for j, val in enumerate(v[::step]):
            dy = ((j * 7919) % 17 - 8) * half / 9
            if lo_s <= val <= hi_s:
                out.append(f'<circle cx="{f.x(val):.1f}" cy="{cy + dy:.1f}" r="2.2" fill="{c}" fill-opacity="0.45"/>')
            else:                   # further out than the scale: pinned to its edge
                out.append(f'<circle class="beyond" cx="{f.x(min(max(val, lo_s), hi_s)):.1f}" cy="{cy + dy:.1f}" '
                           f'r="3" fill="none" stroke="{c}"/>')
    x25, x75 = f.x(q[25]), f.x(q[75])
    out.append(f'<rect x="{x25:.1f}" y="{cy - half:.1f}" width="{max(x75 - x25, 2):.1f}" height="{2 * half:.1f}" '
               f'fill="{c}" fill-opacity="0.25" stroke="{c}"/>')
    out.append(f'<line x1="{f.x(q[50]):.1f}" y1="{cy - half - 3:.1f}" x2="{f.x(q[50]):.1f}" y2="{cy + half + 3:.1f}" '
               f'stroke="#222" stroke-width="2.5"/>')
    for k in (90, 99):
        if lo_s <= q[k] <= hi_s:
            x = f.x(q[k])
            out.append(f'<line x1="{x:.1f}" y1="{cy - half * .6:.1f}" x2="{x:.1f}" y2="{cy + half * .6:.1f}" '
                       f'stroke="#222" stroke-dasharray="2 2"/>')
    return out


def box_plot(rows: Sequence[tuple[str, Sequence[float]]], title: str, xlabel: str, max_points: int = 400,
             colors: Sequence[str] | None = None, limit: Limit | None = None) -> str:
    """One row per series, in two panels. Left: every row on one scale (from 0), with ``limit``.
    Right: each row on its own scale, its whiskers (1.5 × IQR, Tukey), so the box takes at least a
    quarter of it however far out a single request was; the min, p50 and max are written beside it."""
    colors = [c for c, (_, v) in zip(colors or [color(i) for i in range(len(rows))], rows) if v]
    rows = [(label, sorted(v)) for label, v in rows if v]
    if not rows:
        return empty(title)
    bound = [limit.value] if limit else []
    lo = min([v[0] for _, v in rows] + bound)
    hi = max([v[-1] for _, v in rows] + bound)
    left = min(250, 20 + 7.5 * max(len(label) for label, _ in rows))
    row_h, top, bottom = 52, 50, 76
    height = top + row_h * len(rows) + bottom
    split = left + (WIDTH - left) * 0.42
    shared = _Frame(split - 10, height, left, 0, top, bottom,
                    nice_ticks(0.0 if lo >= 0 and lo < hi * 0.5 else lo, hi), None)
    body = shared.axes(xlabel) + (shared.vline(limit) if limit else [])
    body.append(f'<text x="{(left + split) / 2:.0f}" y="{top - 12}" text-anchor="middle" fill="#666" font-size="12">'
                f'all on one scale</text>')
    body.append(f'<text x="{(split + 20 + WIDTH - 30) / 2:.0f}" y="{top - 12}" text-anchor="middle" fill="#666" '
                f'font-size="12">each on its own scale (min · p50 · max)</text>')
    body.append(f'<line x1="{split + 5:.1f}" y1="{top - 6}" x2="{split + 5:.1f}" y2="{height - bottom}" stroke="#ccc"/>')
    for i, (label, v) in enumerate(rows):
        cy, c = top + row_h * i + row_h / 2, colors[i]
        q = _quartiles(v)
        body.append(f'<text x="{left - 10}" y="{cy + 4:.1f}" text-anchor="end" fill="#222">{escape(label)}</text>')
        body += _box(shared, v, cy, c, 9, max_points, ends=(v[0], v[-1]), dots=False)
        body.append(f'<circle cx="{shared.x(q[50]):.1f}" cy="{cy:.1f}" r="4" fill="{c}" stroke="#222"/>')
        w_lo, w_hi = tukey(v)
        pad = (w_hi - w_lo) * 0.04 or max(abs(w_lo) * 0.01, 0.5)
        own = _Frame(WIDTH - 70, height, split + 70, 0, top, bottom, [w_lo - pad, w_hi + pad], None)
        body += _box(own, v, cy, c, 12, max_points, ends=(w_lo, w_hi), dots=True)
        body.append(f'<text x="{split + 64:.1f}" y="{cy + 4:.1f}" text-anchor="end" fill="#555" '
                    f'font-size="11">{value_label(v[0])}</text>')
        body.append(f'<text x="{WIDTH - 64}" y="{cy + 4:.1f}" fill="#555" font-size="11">{value_label(v[-1])}</text>')
        body.append(f'<text x="{own.x(q[50]):.1f}" y="{cy - 17:.1f}" text-anchor="middle" fill="#222" '
                    f'font-size="11">{value_label(q[50])}</text>')
        if limit and own.xt[0] <= limit.value <= own.xt[-1]:
            x = own.x(limit.value)
            body.append(f'<line class="slo" x1="{x:.1f}" y1="{cy - row_h / 2 + 4:.1f}" x2="{x:.1f}" '
                        f'y2="{cy + row_h / 2 - 4:.1f}" stroke="{SLO_COLOR}" stroke-width="1.5" '
                        f'stroke-dasharray="8 3 2 3"/>')
        body.append(f'<title>{escape(label)}: p50 {q[50]:.1f}, p90 {q[90]:.1f}, p99 {q[99]:.1f}, n={len(v)}</title>')
    for j, legend in enumerate(("left: box p25–p75, whiskers min–max, ● p50 · right: box p25–p75, thick line p50, "
                                "dashed p90 and p99,",
                                "whiskers to 1.5 × IQR, dots the requests, ○ further out (pinned to the edge)")):
        body.append(f'<text x="{WIDTH - 20}" y="{height - 22 + 14 * j}" text-anchor="end" fill="#888" '
                    f'font-size="11">{legend}</text>')
    return _svg(height, title, body)


def line_chart(series: Sequence[tuple[str, Sequence[tuple[float, float]]]], title: str, xlabel: str,
               ylabel: str, *, dashed: Sequence[bool | str] | None = None, markers: bool = True,
               y_from_zero: bool = True, colors: Sequence[str] | None = None,
               xlimit: Limit | None = None, ylimit: Limit | None = None) -> str:
    """Lines through (x, y) points, one colour per series, with a legend; ``xlimit``/``ylimit`` draw
    a bound across the chart (the axis extends to show it).

    ``dashed[i]``: True for a dashed line, or an SVG dash pattern such as ``"2 3"``."""
    series = [(label, list(pts)) for label, pts in series if pts]
    if not series:
        return empty(title)
    xs = [x for _, pts in series for x, _ in pts] + ([xlimit.value] if xlimit else [])
    ys = [y for _, pts in series for _, y in pts] + ([ylimit.value] if ylimit else [])
    longest = max(len(label[:30]) for label, _ in series)
    per_row = max(1, min(4, int((WIDTH - 94) // (40 + 7.5 * longest))))
    legend_h = 20 * ((len(series) + per_row - 1) // per_row)
    height = 380 + legend_h
    yt = nice_ticks(0.0 if y_from_zero else min(ys), max(ys))
    f = _Frame(WIDTH, height, 70, 24, 34, 50 + legend_h, nice_ticks(min(xs), max(xs)), yt)
    body = f.axes(xlabel, ylabel) + (f.vline(xlimit) if xlimit else []) + (f.hline(ylimit) if ylimit else [])
    for i, (label, pts) in enumerate(series):
        c = colors[i] if colors else color(i)
        d = " ".join(f"{'M' if j == 0 else 'L'}{f.x(x):.1f},{f.y(y):.1f}" for j, (x, y) in enumerate(pts))
        pattern = dashed[i] if dashed else False
        dash = f' stroke-dasharray="{"5 4" if pattern is True else pattern}"' if pattern else ""
        body.append(f'<path d="{d}" fill="none" stroke="{c}" stroke-width="2.2"{dash}><title>{escape(label)}'
                    f'</title></path>')
        if markers and len(pts) <= 30:
            body.extend(f'<circle cx="{f.x(x):.1f}" cy="{f.y(y):.1f}" r="3.5" fill="{c}"><title>{escape(label)}: '
                        f'{fmt(x)}, {y:.4g}</title></circle>' for x, y in pts)
        lx = 70 + (i % per_row) * ((WIDTH - 94) / per_row)
        ly = height - legend_h + 10 + 20 * (i // per_row)
        body.append(f'<line x1="{lx:.0f}" y1="{ly}" x2="{lx + 22:.0f}" y2="{ly}" stroke="{c}" stroke-width="2.2"'
                    f'{dash}/><text x="{lx + 28:.0f}" y="{ly + 4}" fill="#222">{escape(label[:30])}</text>')
    return _svg(height, title, body)


def cdf_points(values: Sequence[float], max_points: int = 200) -> list[tuple[float, float]]:
    v = sorted(values)
    if not v:
        return []
    n, k = len(v), min(len(v), max_points)
    idx = sorted(set(round(i * (n - 1) / max(k - 1, 1)) for i in range(k)))     # first to last, evenly
    return [(v[i], (i + 1) / n) for i in idx]
