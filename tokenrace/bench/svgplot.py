"""Small static SVG charts for report.html: no JavaScript, no fonts, no network.

Two shapes cover the report: horizontal box plots with the individual points (distributions per
provider) and line charts (CDFs, figures against load). Output is a string of inline ``<svg>``.
"""
from __future__ import annotations

import math
from html import escape
from typing import Sequence

from ..metrics import percentile

PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
           "#9c755f", "#bab0ac")
WIDTH = 760
FONT = 'font-family="system-ui,-apple-system,Segoe UI,Roboto,sans-serif" font-size="12"'


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


class _Frame:
    """Plot area and linear scales."""

    def __init__(self, width: int, height: int, left: int, right: int, top: int, bottom: int,
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
            out.append(f'<text x="{x:.1f}" y="{self.h - self.b + 15}" text-anchor="middle" fill="#555">{fmt(v)}</text>')
        for v in self.yt:
            y = self.y(v)
            out.append(f'<line x1="{self.l}" y1="{y:.1f}" x2="{self.w - self.r}" y2="{y:.1f}" stroke="#e5e5e5"/>')
            out.append(f'<text x="{self.l - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#555">{fmt(v)}</text>')
        out.append(f'<text x="{(self.l + self.w - self.r) / 2:.0f}" y="{self.h - self.b + 32}" '
                   f'text-anchor="middle" fill="#333">{escape(xlabel)}</text>')
        if ylabel:
            cy = (self.t + self.h - self.b) / 2
            out.append(f'<text transform="translate(14 {cy:.0f}) rotate(-90)" text-anchor="middle" '
                       f'fill="#333">{escape(ylabel)}</text>')
        return out


def _svg(width: int, height: int, title: str, body: list[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
            f'height="{height}" role="img" aria-label="{escape(title)}" {FONT}>'
            f'<title>{escape(title)}</title><text x="{width / 2:.0f}" y="16" text-anchor="middle" '
            f'font-weight="600" fill="#222">{escape(title)}</text>' + "".join(body) + "</svg>")


def empty(title: str, message: str = "no data") -> str:
    return _svg(WIDTH, 60, title, [f'<text x="{WIDTH / 2}" y="42" text-anchor="middle" fill="#888">'
                                    f'{escape(message)}</text>'])


def box_plot(rows: Sequence[tuple[str, Sequence[float]]], title: str, xlabel: str, max_points: int = 400,
             colors: Sequence[str] | None = None) -> str:
    """One horizontal box per row: whiskers min-max, box p25-p75, median line, points jittered."""
    colors = [c for c, (_, v) in zip(colors or [color(i) for i in range(len(rows))], rows) if v]
    rows = [(label, sorted(v)) for label, v in rows if v]
    if not rows:
        return empty(title)
    lo = min(v[0] for _, v in rows)
    hi = max(v[-1] for _, v in rows)
    left = min(260, 16 + 7 * max(len(label) for label, _ in rows))
    row_h, top = 34, 28
    height = top + row_h * len(rows) + 58
    f = _Frame(WIDTH, height, left, 20, top, 58, nice_ticks(min(0.0, lo) if lo >= 0 and lo < hi * 0.25 else lo, hi),
               None)
    body = f.axes(xlabel)
    for i, (label, v) in enumerate(rows):
        cy, c = top + row_h * i + row_h / 2, colors[i]
        q = {k: percentile(v, k) or 0.0 for k in (25, 50, 75, 90, 99)}     # v is never empty: never None
        body.append(f'<text x="{left - 8}" y="{cy + 4:.1f}" text-anchor="end" fill="#222">{escape(label)}</text>')
        body.append(f'<line x1="{f.x(v[0]):.1f}" y1="{cy:.1f}" x2="{f.x(v[-1]):.1f}" y2="{cy:.1f}" stroke="{c}"/>')
        step = max(1, len(v) // max_points)
        for j, val in enumerate(v[::step]):
            dy = ((j * 7919) % 17 - 8) * 0.9
            body.append(f'<circle cx="{f.x(val):.1f}" cy="{cy + dy:.1f}" r="1.8" fill="{c}" fill-opacity="0.35"/>')
        x25, x75 = f.x(q[25]), f.x(q[75])
        body.append(f'<rect x="{x25:.1f}" y="{cy - 9:.1f}" width="{max(x75 - x25, 1):.1f}" height="18" '
                    f'fill="{c}" fill-opacity="0.25" stroke="{c}"/>')
        body.append(f'<line x1="{f.x(q[50]):.1f}" y1="{cy - 11:.1f}" x2="{f.x(q[50]):.1f}" y2="{cy + 11:.1f}" '
                    f'stroke="#222" stroke-width="2"/>')
        for k in (90, 99):
            x = f.x(q[k])
            body.append(f'<line x1="{x:.1f}" y1="{cy - 6:.1f}" x2="{x:.1f}" y2="{cy + 6:.1f}" stroke="#222" '
                        f'stroke-dasharray="2 2"/>')
        body.append(f'<title>{escape(label)}: p50 {q[50]:.3g}, p90 {q[90]:.3g}, p99 {q[99]:.3g}, '
                    f'n={len(v)}</title>')
    legend = "box: p25–p75 · thick line: p50 · dashed: p90, p99 · whiskers: min–max · dots: requests"
    body.append(f'<text x="{WIDTH - 20}" y="{height - 6}" text-anchor="end" fill="#888" font-size="10">'
                f'{legend}</text>')
    return _svg(WIDTH, height, title, body)


def line_chart(series: Sequence[tuple[str, Sequence[tuple[float, float]]]], title: str, xlabel: str,
               ylabel: str, *, dashed: Sequence[bool | str] | None = None, markers: bool = True,
               y_from_zero: bool = True, colors: Sequence[str] | None = None) -> str:
    """Lines through (x, y) points, one colour per series, with a legend.

    ``dashed[i]``: True for a dashed line, or an SVG dash pattern such as ``"2 3"``."""
    series = [(label, list(pts)) for label, pts in series if pts]
    if not series:
        return empty(title)
    xs = [x for _, pts in series for x, _ in pts]
    ys = [y for _, pts in series for _, y in pts]
    legend_h = 18 * ((len(series) + 2) // 3)
    height = 300 + legend_h
    yt = nice_ticks(0.0 if y_from_zero else min(ys), max(ys))
    f = _Frame(WIDTH, height, 64, 20, 28, 46 + legend_h, nice_ticks(min(xs), max(xs)), yt)
    body = f.axes(xlabel, ylabel)
    for i, (label, pts) in enumerate(series):
        c = colors[i] if colors else color(i)
        d = " ".join(f"{'M' if j == 0 else 'L'}{f.x(x):.1f},{f.y(y):.1f}" for j, (x, y) in enumerate(pts))
        pattern = dashed[i] if dashed else False
        dash = f' stroke-dasharray="{"5 4" if pattern is True else pattern}"' if pattern else ""
        body.append(f'<path d="{d}" fill="none" stroke="{c}" stroke-width="2"{dash}><title>{escape(label)}'
                    f'</title></path>')
        if markers and len(pts) <= 30:
            body.extend(f'<circle cx="{f.x(x):.1f}" cy="{f.y(y):.1f}" r="3" fill="{c}"><title>{escape(label)}: '
                        f'{fmt(x)}, {y:.4g}</title></circle>' for x, y in pts)
        lx, ly = 64 + (i % 3) * 230, height - legend_h + 8 + 18 * (i // 3)
        body.append(f'<line x1="{lx}" y1="{ly}" x2="{lx + 18}" y2="{ly}" stroke="{c}" stroke-width="2"{dash}/>'
                    f'<text x="{lx + 24}" y="{ly + 4}" fill="#222">{escape(label[:32])}</text>')
    return _svg(WIDTH, height, title, body)


def cdf_points(values: Sequence[float], max_points: int = 200) -> list[tuple[float, float]]:
    v = sorted(values)
    if not v:
        return []
    n = len(v)
    idx = sorted(set(round(i * (n - 1) / max(max_points - 1, 1)) for i in range(min(n, max_points))))
    return [(v[i], (i + 1) / n) for i in idx]
