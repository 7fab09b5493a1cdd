"""report.html: one self-contained page (inline CSS and SVG, no script, works offline)."""
from __future__ import annotations

from html import escape
from typing import Any, Mapping, Sequence

from . import svgplot
from .report import GROUP_HEADER, errors_text, group_row, plan_line, step_label
from .summary import figure_values

DASHES = ("", "6 3", "2 2", "8 3 2 3", "1 4")
CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#222;margin:2em auto;max-width:1100px;
padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.2em}
.meta{color:#666}.warn{background:#fff4e0;border-left:4px solid #f28e2b;padding:.5em .8em;margin:.6em 0}
.partial{background:#fde8e8;border-left-color:#e15759}
table{border-collapse:collapse;margin:.6em 0;font-variant-numeric:tabular-nums}
th,td{padding:.25em .45em;border-bottom:1px solid #eee;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}th{background:#f7f7f7}
figure{margin:1.2em 0}svg{max-width:100%;height:auto}
.note{color:#666;font-size:.9em}.scroll{overflow-x:auto}td,th{font-size:13px}
"""


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


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


def plots(doc: Mapping[str, Any], records: Sequence[Mapping[str, Any]]) -> list[str]:
    series = _series(records, doc)
    colors = [c for _, _, c in series]
    # in a sweep each step of a provider gets its own dash pattern (same colour per provider)
    dashed = [DASHES[sum(1 for c2 in colors[:i] if c2 == c) % len(DASHES)] for i, c in enumerate(colors)]
    figs = [
        svgplot.box_plot([(lb, figure_values(rs, "ttft_ms")) for lb, rs, _ in series],
                         "Time to first token, per request", "TTFT (ms)", colors=colors),
        svgplot.box_plot([(lb, figure_values(rs, "tokens_per_s")) for lb, rs, _ in series],
                         "Output speed after the first token, per request", "tokens/s", colors=colors),
        svgplot.line_chart([(lb, svgplot.cdf_points(figure_values(rs, "itl_ms"))) for lb, rs, _ in series],
                           "Inter-token latency (CDF of every gap between content chunks)", "ITL (ms)",
                           "fraction of gaps ≤ x", markers=False, colors=colors, dashed=dashed),
    ]
    steps = doc["scenario"]["steps"]
    if len(steps) > 1:
        kind = steps[0]["kind"]
        xlabel = ("concurrency (in flight per provider)" if kind == "concurrency"
                  else "offered rate (req/s per provider)")
        providers = list(dict.fromkeys(g["provider"] for g in doc["groups"]))
        colors = [svgplot.color(i) for i in range(len(providers)) for _ in (0, 1)]

        def by_load(figure: str, stat: str, provider: str) -> list[tuple[float, float]]:
            return [(g["load_value"], g["figures"][figure][stat]) for g in doc["groups"]
                    if g["provider"] == provider and g["figures"][figure][stat] is not None]

        lat = [(f"{p} TTFT {s}", by_load("ttft_ms", s, p)) for p in providers for s in ("p50", "p99")]
        figs.append(svgplot.line_chart(lat, "Latency against load", xlabel, "TTFT (ms)",
                                       dashed=[s == "p99" for _ in providers for s in ("p50", "p99")], colors=colors))
        thr = [(p, [(g["load_value"], g["request_throughput"]) for g in doc["groups"]
                    if g["provider"] == p and g["request_throughput"] is not None]) for p in providers]
        figs.append(svgplot.line_chart(thr, "Throughput against load", xlabel, "successful requests/s"))
    return figs


def render_html(doc: Mapping[str, Any], records: Sequence[Mapping[str, Any]]) -> str:
    sc = doc["scenario"]
    slo = bool(sc["slo"])
    parts = [f"<h1>Benchmark: {escape(doc['name'])}</h1>"]
    parts.append(f'<p class="meta">{escape(plan_line(doc))}<br>{escape(doc["started"])} → '
                 f'{escape(doc["finished"])} · {escape(doc["tool"])}</p>')
    if doc["partial"]:
        parts.append('<div class="warn partial"><b>Partial results</b>: the run was interrupted; only finished '
                     'requests are counted.</div>')
    parts += [f'<div class="warn">⚠ {escape(w)}</div>' for w in doc["warnings"]]
    provs = [[p["name"], p["kind"], p["model"]] for p in doc["providers"]]
    parts.append("<h2>Providers</h2>" + _table(["Name", "Kind", "Model"], provs))
    header = GROUP_HEADER + (["goodput req/s", "met SLO"] if slo else [])
    for step in sc["steps"]:
        mine = [g for g in doc["groups"] if g["step"] == step["step"]]
        if mine:
            parts.append(f"<h2>{escape(step_label(step['kind'], step['value']).capitalize())}</h2>"
                         + _table(header, [group_row(g, slo) for g in mine]))
    parts.append("<h2>Plots</h2>")
    parts += [f"<figure>{svg}</figure>" for svg in plots(doc, records)]
    lag = doc["client"]["lag"]
    state = "saturated" if lag.get("saturated") else "not saturated"
    parts.append(f"<h2>Client</h2><p>Event-loop lag (sampled every {lag['interval_ms']:g} ms): p50 "
                 f"{lag['p50_ms']} ms, p99 {lag['p99_ms']} ms, max {lag['max_ms']} ms — {state}.</p>")
    errs = [[g["provider"], step_label(g["load_kind"], g["load_value"]), errors_text(g["errors"])]
            for g in doc["groups"] if g["errors"]]
    if errs:
        parts.append("<h2>Errors</h2>" + _table(["Provider", "Step", "Errors by kind"], errs))
    parts.append('<p class="note">Times in ms. TTFT: request sent → first answer token. ITL: gaps between content '
                 'chunks. tok/s: (output tokens − 1) / (last − first token). Figures count successful requests.</p>')
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>tokenrace bench: {escape(doc['name'])}</title><style>{CSS}</style></head><body>"
            + "\n".join(parts) + "</body></html>\n")
