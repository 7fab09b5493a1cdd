// The race chart (uPlot: cumulative output tokens against seconds, one line per provider, live) and the bars
// of TTFT and tokens/s with each winner highlighted.
import uPlot from "/static/vendor/uPlot.esm.js";
import { fmtMs, fmtRate, icon } from "/static/util.js";

const stepped = uPlot.paths.stepped({ align: 1 });
const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

export class RaceChart {
  constructor(container) {
    this.container = container;
    this.columns = [];
    this.plot = null;
    this.pending = false;
    this.lastDraw = 0;
    this.ro = new ResizeObserver(() => this._resize());
    this.ro.observe(container);
    // a theme change (system or the toggle) recolours axes: rebuild the plot
    matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => this.rebuild());
  }

  /** A new set of columns (a new run). */
  setColumns(columns) {
    this.columns = columns;
    this.rebuild();
  }

  rebuild() {
    if (this.plot) { this.plot.destroy(); this.plot = null; }
    this.container.replaceChildren();
    if (!this.columns.length) return;
    const text = css("--muted") || "#888";
    const grid = css("--grid") || "rgba(128,128,128,.2)";
    const font = `12px ${css("--font-ui") || "system-ui, sans-serif"}`;
    const axis = (size, fmt) => ({
      stroke: text, font, size, gap: 4,
      grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1, size: 4 }, values: fmt,
    });
    const opts = {
      ...this._size(),
      padding: [10, 12, 0, 0],
      scales: {
        x: { time: false, range: (u, min, max) => [0, Math.max(0.5, (max ?? 0) * 1.02)] },
        y: { range: (u, min, max) => [0, Math.max(10, Math.ceil((max ?? 0) * 1.08))] },
      },
      axes: [
        axis(28, (u, vals) => vals.map((v) => `${+v.toFixed(2)} s`)),
        axis(40, (u, vals) => vals.map((v) => `${Math.round(v)}`)),
      ],
      series: [
        { label: "time", value: (u, v) => (v === null || v === undefined ? "—" : `${v.toFixed(2)} s`) },
        ...this.columns.map((c) => ({
          // step-after: a count holds until the next tokens arrive (an honest picture of bursts)
          label: c.name, stroke: c.color, width: 2, spanGaps: true, paths: stepped,
          points: { show: false }, value: (u, v) => (v === null || v === undefined ? "—" : `${Math.round(v)}`),
        })),
      ],
      legend: { show: true, live: true },
      cursor: { drag: { x: false, y: false, setScale: false }, points: { size: 7 } },
    };
    this.plot = new uPlot(opts, this._data(), this.container);
    this._resize();   // now that the legend's height is known
  }

  /** The plot fills the container; uPlot's legend (below the plot) takes what it needs. */
  _size() {
    const legend = this.plot ? this.plot.root.querySelector(".u-legend") : null;
    const lh = legend ? legend.offsetHeight + 4 : 26;
    return {
      width: Math.max(200, Math.floor(this.container.clientWidth)),
      height: Math.max(140, Math.floor(this.container.clientHeight) - lh),
    };
  }

  _data() {
    const tables = this.columns.map((c) => {
      // the line starts at 0 tokens at t=0 so the TTFT shows as a flat start
      const t = [0, ...c.series.t];
      const y = [0, ...c.series.y];
      return [t, y];
    });
    if (!tables.length) return [[]];
    return uPlot.join(tables);
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

  _resize(again = 3) {
    if (!this.plot) return;
    const size = this._size();
    if (Math.abs(size.width - this.plot.width) > 1 || Math.abs(size.height - this.plot.height) > 1) {
      this.plot.setSize(size);
      // the legend wraps differently at the new width: measure again once it has been laid out
      if (again > 0) requestAnimationFrame(() => this._resize(again - 1));
    }
  }
}

/** The winners among the finished columns: {ttft: Column|null, rate: Column|null}. */
export function winners(columns) {
  const ok = columns.filter((c) => c.result && c.result.status === "ok");
  const best = (key, lower) => {
    let win = null;
    for (const c of ok) {
      const v = c.result[key];
      if (v === null || v === undefined) continue;
      if (!win || (lower ? v < win.result[key] : v > win.result[key])) win = c;
    }
    return win;
  };
  return { ttft: best("ttft_ms", true), rate: best("tokens_per_s", false) };
}

/** The bars: live figures while streaming, final ones with the winners marked after the run. */
export function renderBars(ttftList, rateList, columns, final) {
  const win = final ? winners(columns) : { ttft: null, rate: null };
  const rows = (key, fmt, winner) => {
    const items = columns.map((c) => ({ c, v: key === "ttft" ? c.ttft : c.rate }));
    const max = Math.max(...items.map((i) => i.v || 0), 1e-9);
    // complete answers first (only they can win), then cut-off or stopped ones, then failures
    const rank = ({ c, v }) => (v === null || v === undefined ? 3 : !final || c.status === "ok" ? 0 : 1);
    const sorted = items.slice().sort((a, b) => rank(a) - rank(b) ||
      (rank(a) === 3 ? 0 : key === "ttft" ? a.v - b.v : b.v - a.v));
    return sorted.map(({ c, v }) => {
      const li = document.createElement("li");
      li.dataset.barProvider = c.name;   // not data-provider: that names the columns only
      li.style.setProperty("--c", c.color);
      if (winner === c) li.classList.add("win");
      const failed = c.status === "error" && (v === null || v === undefined);
      if (failed) li.classList.add("failed");
      else if (final && c.status !== "ok") {
        li.classList.add("partial");
        li.title = `${c.name}: ${c.status === "truncated" ? "cut off" : c.status} (not ranked)`;
      }
      const name = document.createElement("span");
      name.className = "bar-name";
      name.textContent = c.name;
      const val = document.createElement("span");
      val.className = "bar-value mono";
      val.textContent = failed ? "failed" : fmt(v);
      if (winner === c) val.prepend(icon(key === "ttft" ? "bolt" : "trophy"));
      const track = document.createElement("span");
      track.className = "bar-track";
      const fill = document.createElement("span");
      fill.className = "bar-fill";
      fill.style.width = v ? `${Math.max(2, (100 * v) / max)}%` : "0";
      track.append(fill);
      li.append(name, val, track);
      return li;
    });
  };
  ttftList.replaceChildren(...rows("ttft", fmtMs, win.ttft));
  rateList.replaceChildren(...rows("rate", fmtRate, win.rate));
  return win;
}
