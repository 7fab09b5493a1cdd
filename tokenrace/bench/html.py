"""report.html: one self-contained page (inline CSS and SVG, no script, works offline)."""
from __future__ import annotations

from html import escape
from typing import Any, Mapping, Sequence

from . import svgplot
from .headline import Award, awards
from .noise import Rule
from .report import (COST_NOTE, errors_text, group_header, group_row, plan_line, priced, slo_text,
                     step_label)
from .summary import figure_values, workers_text
from .units import fmt

DASHES = ("", "6 3", "2 2", "8 3 2 3", "1 4")
CSS = """
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#222;margin:1.5em auto;max-width:1240px;
padding:0 1.5em}
h1{font-size:1.7em;margin-bottom:.2em}h2{margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.2em}
.meta{color:#666}.warn{background:#fff4e0;border-left:4px solid #f28e2b;padding:.5em .8em;margin:.6em 0}
.partial{background:#fde8e8;border-left-color:#e15759}
table{border-collapse:collapse;margin:.6em 0;font-variant-numeric:tabular-nums}
th,td{padding:.3em .55em;border-bottom:1px solid #eee;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}th{background:#f7f7f7}
figure{margin:1.4em 0;width:100%}svg{display:block;width:100%;height:auto}
.note{color:#666;font-size:.9em}.scroll{overflow-x:auto}td,th{font-size:14px}
.won{background:#f4f8fc;border:1px solid #d5e3f0;border-radius:6px;padding:.4em 1em .8em;margin:1em 0}
.won h2{border:0;margin:.3em 0 .2em}.won table{width:100%}.won td,.won th{text-align:left;white-space:normal}
.won .who{font-weight:700;font-size:1.05em}.won .tie{color:#666}.won .fig{color:#666;font-size:.9em}
.slo{color:#b3001b}table.text td,table.text th{text-align:left}
"""


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], cls: str = "") -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    attr = f' class="{cls}"' if cls else ""
    return f'<div class="scroll"><table{attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _series(records: Sequence[Mapping[str, Any]], doc: Mapping[str, Any]) -> list[tuple[str, list[dict], str]]:
    """(label, successful records, colour) per provider, and per step when there is a sweep."""
    sweep = len(doc["scenario"]["steps"]) > 1
    out: dict[tuple, list[dict]] = {}
    for r in records:
        if r.get("warmup") or r.get("status") != "ok":
            continue
        key = (r["provider"], r.get("step")) if sweep else (r["provider"],)
        out.setdefault(key, []).append(dict(r))
    names = [p["name"] for p in doc["providers"]]
    labels = []
    for key, recs in sorted(out.items(), key=lambda kv: (names.index(kv[0][0]) if kv[0][0] in names else 99,
                                                          kv[0][1:])):
        label = key[0] if not sweep else f"{key[0]} · {step_label(recs[0]['load_kind'], recs[0]['load_value'])}"
        labels.append((label, recs, svgplot.color(names.index(key[0]) if key[0] in names else len(names))))
    return labels


def slo_limits(slo: Mapping[str, float]) -> dict[str, svgplot.Limit]:
    """The SLO bounds that have a plot, by the record figure they bound."""
    words = {"ttft_ms": ("TTFT", "≤", "ms"), "e2e_ms": ("E2E", "≤", "ms"), "tokens_per_s": ("tok/s", "≥", ""),
             "itl_p99_ms": ("ITL p99", "≤", "ms")}
    return {k: svgplot.Limit(v, f"SLO {words[k][0]} {words[k][1]} {v:g}{' ' + words[k][2] if words[k][2] else ''}",
                             upper=words[k][1] == "≤")
            for k, v in slo.items() if k in words}


def plots(doc: Mapping[str, Any], records: Sequence[Mapping[str, Any]]) -> list[str]:
    series = _series(records, doc)
    colors = [c for _, _, c in series]
    limits = slo_limits(doc["scenario"]["slo"])
    # in a sweep each step of a provider gets its own dash pattern (same colour per provider)
    dashed = [DASHES[sum(1 for c2 in colors[:i] if c2 == c) % len(DASHES)] for i, c in enumerate(colors)]

    def box(figure: str, title: str, xlabel: str) -> str:
        return svgplot.box_plot([(lb, figure_values(rs, figure)) for lb, rs, _ in series], title, xlabel,
                                colors=colors, limit=limits.get(figure))

    figs = [
        box("ttft_ms", "Time to first token, per request", "TTFT (ms)"),
        box("tokens_per_s", "Output speed after the first token, per request", "tokens/s"),
        box("e2e_ms", "Whole answer (request sent → stream end), per request", "E2E (ms)"),
        svgplot.line_chart([(lb, svgplot.cdf_points(figure_values(rs, "itl_ms"))) for lb, rs, _ in series],
                           "Inter-token latency (CDF of every gap between content chunks)", "ITL (ms)",
                           "fraction of gaps ≤ x", markers=False, colors=colors, dashed=dashed,
                           xlimit=limits.get("itl_p99_ms")),
    ]
    steps = doc["scenario"]["steps"]
    if len(steps) > 1:
        kind = steps[0]["kind"]
        xlabel = ("concurrency (in flight per provider)" if kind == "concurrency"
                  else "offered rate (req/s per provider)")
        providers = list(dict.fromkeys(g["provider"] for g in doc["groups"]))
        names = [p["name"] for p in doc["providers"]]
        own = [svgplot.color(names.index(p) if p in names else len(names)) for p in providers]

        def by_load(figure: str, stat: str, provider: str) -> list[tuple[float, float]]:
            return [(g["load_value"], g["figures"][figure][stat]) for g in doc["groups"]
                    if g["provider"] == provider and g["figures"][figure][stat] is not None]

        lat = [(f"{p} TTFT {s}", by_load("ttft_ms", s, p)) for p in providers for s in ("p50", "p99")]
        figs.append(svgplot.line_chart(lat, "Latency against load", xlabel, "TTFT (ms)",
                                       dashed=[s == "p99" for _ in providers for s in ("p50", "p99")],
                                       colors=[c for c in own for _ in (0, 1)], ylimit=limits.get("ttft_ms")))
        thr = [(p, [(g["load_value"], g["request_throughput"]) for g in doc["groups"]
                    if g["provider"] == p and g["request_throughput"] is not None]) for p in providers]
        figs.append(svgplot.line_chart(thr, "Throughput against load", xlabel, "successful requests/s", colors=own))
    return figs


def _award_cell(a: Award | None) -> str:
    if a is None:
        return "<td>–</td>"
    if a.winner:
        return (f'<td><span class="who">{escape(a.winner)}</span> {escape(a.value_text())}<br>'
                f'<span class="fig">{escape(a.detail())}</span></td>')
    return f'<td><span class="tie">{escape(a.text())}</span></td>'


def headline(doc: Mapping[str, Any], records: Sequence[Mapping[str, Any]]) -> str:
    """The "who won" card: one row per category, one column per load step."""
    got = awards(doc, records)
    if not got:
        return ""
    steps = [s for s in doc["scenario"]["steps"] if any(a.step == s["step"] for a in got)]
    titles = list(dict.fromkeys((a.title, a.stat_label) for a in got))
    head = "<th></th>" + "".join(f"<th>{escape(step_label(s['kind'], s['value']))}</th>" for s in steps)
    rows = []
    for title, label in titles:
        cells = "".join(_award_cell(next((a for a in got if a.title == title and a.step == s["step"]), None))
                        for s in steps)
        rows.append(f'<tr><th>{escape(title)}<br><span class="fig">{escape(label)}</span></th>{cells}</tr>')
    return (f'<section class="won"><h2>Who won</h2><table><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}'
            f'</tbody></table><p class="note">{escape(Rule().contest())}</p></section>')


def render_html(doc: Mapping[str, Any], records: Sequence[Mapping[str, Any]]) -> str:
    sc = doc["scenario"]
    slo, cost = bool(sc["slo"]), priced(doc["groups"])
    parts = [f"<h1>Benchmark: {escape(doc['name'])}</h1>"]
    parts.append(f'<p class="meta">{escape(plan_line(doc))}<br>{escape(doc["started"])} → '
                 f'{escape(doc["finished"])} · {escape(doc["tool"])}</p>')
    if slo:
        parts.append(f'<p>SLO (goodput counts requests meeting all): <span class="slo">{escape(slo_text(sc["slo"]))}'
                     f'</span>; drawn in red on the plots it applies to.</p>')
    if doc["partial"]:
        parts.append('<div class="warn partial"><b>Partial results</b>: the run was interrupted; only finished '
                     'requests are counted.</div>')
    parts += [f'<div class="warn">⚠ {escape(w)}</div>' for w in doc["warnings"]]
    parts.append(headline(doc, records))
    provs = [[p["name"], p["kind"], p["model"]] for p in doc["providers"]]
    parts.append("<h2>Providers</h2>" + _table(["Name", "Kind", "Model"], provs, "text"))
    header = group_header(slo, cost)
    for step in sc["steps"]:
        mine = [g for g in doc["groups"] if g["step"] == step["step"]]
        if mine:
            parts.append(f"<h2>{escape(step_label(step['kind'], step['value']).capitalize())}</h2>"
                         + _table(header, [group_row(g, slo, cost) for g in mine]))
    parts.append("<h2>Plots</h2>")
    parts += [f"<figure>{svg}</figure>" for svg in plots(doc, records)]
    lag = doc["client"]["lag"]
    state = "saturated" if lag.get("saturated") else "not saturated"
    parts.append(f"<h2>Client</h2><p>Event-loop lag (sampled every {lag['interval_ms']:g} ms): p50 "
                 f"{fmt('lag_ms', lag['p50_ms'])} ms, p99 {fmt('lag_ms', lag['p99_ms'])} ms, max "
                 f"{fmt('lag_ms', lag['max_ms'])} ms — {state}.</p>")
    if who := workers_text(lag, records):
        parts.append(f"<p>{escape(who)}</p>")
    errs = [[g["provider"], step_label(g["load_kind"], g["load_value"]), errors_text(g["errors"])]
            for g in doc["groups"] if g["errors"]]
    if errs:
        parts.append("<h2>Errors</h2>" + _table(["Provider", "Step", "Errors by kind"], errs, "text"))
    parts.append('<p class="note">Times in ms. TTFT: request sent → first answer token. ITL: gaps between content '
                 'chunks. tok/s: (output tokens − 1) / (last − first token). Figures count successful requests. '
                 + (escape(COST_NOTE) if cost else "") + '</p>')
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>tokenrace bench: {escape(doc['name'])}</title><style>{CSS}</style></head><body>"
            + "\n".join(parts) + "</body></html>\n")
