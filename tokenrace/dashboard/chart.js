// The race chart (uPlot): answer tokens against seconds since EACH provider's own request was sent, which is
// where its TTFT counts from, so a line starts exactly at its TTFT. The first answer token is a dot; reasoning
// is never part of a line (a line climbs only once TTFT has a value): it is a dashed lane along the bottom,
// from the first to the last reasoning token. Every line carries its provider's name at its end.
import uPlot from "/static/vendor/uPlot.esm.js";
import { resolveColor } from "/static/palette.js";
import { ChartLegend } from "/static/legend.js";

const stepped = uPlot.paths.stepped({ align: 1 });
const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
const LANE = 5;        // px between reasoning lanes

export class RaceChart {
  constructor(container, legendBox) {
    this.container = container;
    this.legend = new ChartLegend(legendBox);
    this.columns = [];
    this.plot = null;
    this.pending = false;
    this.lastDraw = 0;
    this.labels = null;
    this.ro = new ResizeObserver(() => this._resize());
    this.ro.observe(container);
    // a theme change (system or the toggle) recolours axes and the ink colour: rebuild the plot
    matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => this.rebuild());
  }

  /** A new set of columns (a new run). */
  setColumns(columns) {
    this.columns = columns;
    this.legend.setColumns(columns);
    this.rebuild();
  }

  rebuild() {
    if (this.plot) { this.plot.destroy(); this.plot = null; }
    this.container.replaceChildren();
    if (!this.columns.length) return;
    this.colors = this.columns.map((c) => resolveColor(c.color));
    const text = css("--muted") || "#888";
    const grid = css("--grid") || "rgba(128,128,128,.2)";
    const font = `12px ${css("--font-ui") || "system-ui, sans-serif"}`;
    const axis = (size, fmt, label) => ({
      stroke: text, font, size, gap: 4, label, labelFont: font, labelSize: 16, labelGap: 0,
      grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1, size: 4 }, values: fmt,
    });
    const opts = {
      ...this._size(),
      padding: [12, 14, 0, 0],
      scales: {
        x: { time: false, range: () => [0, Math.max(0.5, this._xMax() * 1.03)] },
        y: { range: (u, min, max) => [0, Math.max(10, Math.ceil((max ?? 0) * 1.1))] },
      },
      axes: [
        axis(30, (u, vals) => vals.map((v) => `${+v.toFixed(2)} s`)),
        axis(44, (u, vals) => vals.map((v) => `${Math.round(v)}`), "answer tokens"),
      ],
      series: [
        {},
        ...this.columns.map((c, i) => ({
          // step-after: a count holds until the next tokens arrive (an honest picture of bursts)
          label: c.name, stroke: this.colors[i], width: 2, spanGaps: true, paths: stepped,
          dash: c.dash, points: { show: false },
        })),
      ],
      legend: { show: false },
      cursor: { drag: { x: false, y: false, setScale: false }, points: { size: 7 } },
      hooks: {
        draw: [(u) => this._drawMarks(u)],
        setCursor: [(u) => this.legend.showValues(this._valuesAt(u, u.cursor.idx))],
      },
    };
    this.plot = new uPlot(opts, this._data(), this.container);
    this.labels = document.createElement("div");
    this.labels.className = "line-labels";
    this.plot.over.append(this.labels);
    this._resize();
  }

  _size() {
    return {
      width: Math.max(160, Math.floor(this.container.clientWidth)),
      height: Math.max(120, Math.floor(this.container.clientHeight)),
    };
  }

  _xMax() {
    let m = 0;
    for (const c of this.columns) {
      const t = c.series.t;
      if (t.length) m = Math.max(m, t[t.length - 1]);
      if (c.reasoningSpan) m = Math.max(m, c.reasoningSpan[1]);
    }
    return m;
  }

  _data() {
    if (!this.columns.length) return [[]];
    // every line begins at its first answer token: before that a provider has no TTFT, so no line
    return uPlot.join(this.columns.map((c) => [[0, ...c.series.t], [null, ...c.series.y]]));
  }

  /** Redraw soon (at most ~7 times a second while tokens stream). */
  update() {
    if (!this.plot || this.pending) return;
    this.pending = true;
    const wait = Math.max(0, 150 - (performance.now() - this.lastDraw));
    setTimeout(() => requestAnimationFrame(() => {
      this.pending = false;
      this.lastDraw = performance.now();
      if (this.plot) this.plot.setData(this._data());
    }), wait);
  }

  /** What the chart holds now, per provider (for tests and scripts): its first point, points drawn, lanes. */
  snapshot() {
    const out = {};
    if (!this.plot) return out;
    const [xs, ...ys] = this.plot.data;
    this.columns.forEach((c, i) => {
      const y = ys[i] || [];
      const idx = y.findIndex((v) => v !== null && v !== undefined);
      out[c.name] = {
        x0: idx < 0 ? null : xs[idx], y0: idx < 0 ? null : y[idx],
        points: y.filter((v) => v !== null && v !== undefined).length,
        reasoning: c.reasoningSpan, color: this.colors[i], dash: c.dash.length > 0,
      };
    });
    return out;
  }

  _valuesAt(u, idx) {
    if (idx === null || idx === undefined) return null;
    return this.columns.map((c, i) => {
      const ys = u.data[i + 1];
      for (let k = idx; k >= 0; k--) if (ys[k] !== null && ys[k] !== undefined) return ys[k];
      return null;
    });
  }

  _drawMarks(u) {
    const ctx = u.ctx;
    const dpr = uPlot.pxRatio;
    const { left, top, width, height } = u.bbox;
    const panel = css("--panel") || "#fff";
    ctx.save();
    ctx.beginPath();
    ctx.rect(left, top, width, height);
    ctx.clip();
    let lane = 0;
    this.columns.forEach((c, i) => {
      const color = this.colors[i];
      if (c.reasoningSpan) {       // reasoning: a dashed lane along the bottom, never a climbing line
        const [a, b] = c.reasoningSpan;
        const y = top + height - (3 + LANE * lane++) * dpr;
        const x0 = u.valToPos(a, "x", true);
        const x1 = Math.max(x0 + 3 * dpr, u.valToPos(b, "x", true));
        ctx.strokeStyle = color;
        ctx.lineWidth = 3 * dpr;
        ctx.setLineDash([5 * dpr, 3 * dpr]);
        ctx.beginPath();
        ctx.moveTo(x0, y);
        ctx.lineTo(x1, y);
        ctx.stroke();
      }
      const ys = u.data[i + 1] || [];
      const k = ys.findIndex((v) => v !== null && v !== undefined);
      if (k >= 0) {                // the first answer token: a dot where the line (and TTFT) starts
        const x = u.valToPos(u.data[0][k], "x", true);
        const y = u.valToPos(ys[k], "y", true);
        ctx.setLineDash([]);
        ctx.beginPath();
        ctx.arc(x, y, 4 * dpr, 0, 2 * Math.PI);
        ctx.fillStyle = color;
        ctx.fill();
        ctx.lineWidth = 1.5 * dpr;
        ctx.strokeStyle = panel;
        ctx.stroke();
      }
    });
    ctx.restore();
    this._placeLabels(u);
    this.container.dispatchEvent(new CustomEvent("tokenrace:chart-drawn"));
  }

  /** Each line's name at its end, nudged apart so no two overlap. */
  _placeLabels(u) {
    if (!this.labels) return;
    const items = [];
    this.columns.forEach((c, i) => {
      const ys = u.data[i + 1];
      let k = ys.length - 1;
      while (k >= 0 && (ys[k] === null || ys[k] === undefined)) k--;
      if (k < 0) return;
      items.push({ c, i, x: u.valToPos(u.data[0][k], "x"), y: u.valToPos(ys[k], "y") });
    });
    const els = items.map(({ c, i }) => {
      const el = document.createElement("span");
      el.className = "line-label";
      el.dataset.lineLabel = c.name;
      el.style.setProperty("--c", this.colors[i]);
      el.textContent = c.name;
      return el;
    });
    this.labels.replaceChildren(...els);
    const h = 15;
    const W = u.over.clientWidth;
    const H = u.over.clientHeight;
    const placed = items.map((it, n) => ({ ...it, el: els[n], top: it.y - h - 2 })).sort((a, b) => a.top - b.top);
    for (let n = 0; n < placed.length; n++) {
      placed[n].top = Math.max(0, placed[n].top, n ? placed[n - 1].top + h : 0);
    }
    const over = placed.length ? placed[placed.length - 1].top + h - H : 0;
    if (over > 0) for (const p of placed) p.top = Math.max(0, p.top - over);
    for (const p of placed) {
      const w = p.el.offsetWidth;
      const left = p.x - w - 4 >= 0 ? p.x - w - 4 : Math.min(p.x + 6, W - w);
      p.el.style.transform = `translate(${Math.round(left)}px, ${Math.round(p.top)}px)`;
    }
  }

  _resize() {
    if (!this.plot) return;
    const size = this._size();
    if (Math.abs(size.width - this.plot.width) > 1 || Math.abs(size.height - this.plot.height) > 1) {
      this.plot.setSize(size);
    }
  }
}
