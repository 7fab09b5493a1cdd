// The bars of TTFT and tokens/s, sorted, with a winner marked only when it leads beyond noise (noise.js).
import { RULE_SHORT, RULE_TEXT, verdict } from "/static/noise.js";
import { fmtMs, fmtRate, icon } from "/static/util.js";

const FIG = { ttft: { fmt: fmtMs, what: "first token" }, rate: { fmt: fmtRate, what: "speed" } };

/** The verdicts among the finished columns: {ttft, rate}, each as noise.verdict returns it (names → columns). */
export function winners(columns) {
  const ok = columns.filter((c) => c.result && c.result.status === "ok");
  const of = (key, field) => {
    const v = verdict(ok.map((c) => ({ name: c.name, value: c.result[field], c })), key);
    return { ...v, winner: v.winner?.c ?? null, first: v.first?.c ?? null, second: v.second?.c ?? null };
  };
  return { ttft: of("ttft", "ttft_ms"), rate: of("rate", "tokens_per_s") };
}

/** Why a verdict is what it is, in words (the bars' note and the winner's tooltip). */
export function verdictText(key, v) {
  if (!v.first || !v.second) return "";
  const { fmt, what } = FIG[key];
  const pct = 100 * v.leadRel;
  const lead = `${pct < 10 ? pct.toFixed(1) : Math.round(pct)} %, ${fmt(v.lead)}`;
  const a = `${v.first.name} ${fmt(key === "ttft" ? v.first.result.ttft_ms : v.first.result.tokens_per_s)}`;
  const b = `${v.second.name} ${fmt(key === "ttft" ? v.second.result.ttft_ms : v.second.result.tokens_per_s)}`;
  return v.winner ? `fastest ${what}: ${a} against ${b} (lead ${lead})`
    : `no clear winner on ${what}: ${a} against ${b} (lead ${lead}, within noise)`;
}

/** The bars: live figures while streaming, final ones with the verdicts after the run. */
export function renderBars(ttftList, rateList, note, columns, final) {
  const win = final ? winners(columns) : null;
  const rows = (key) => {
    const items = columns.map((c) => ({ c, v: key === "ttft" ? c.ttft : c.rate }));
    const max = Math.max(...items.map((i) => i.v || 0), 1e-9);
    // complete answers first (only they can win), then cut-off or stopped ones, then failures
    const rank = ({ c, v }) => (v === null || v === undefined ? 3 : !final || c.status === "ok" ? 0 : 1);
    const sorted = items.slice().sort((a, b) => rank(a) - rank(b) ||
      (rank(a) === 3 ? 0 : key === "ttft" ? a.v - b.v : b.v - a.v));
    const winner = win ? win[key].winner : null;
    return sorted.map(({ c, v }) => {
      const li = document.createElement("li");
      li.dataset.barProvider = c.name;   // not data-provider: that names the columns only
      li.style.setProperty("--c", c.color);
      if (winner === c) { li.classList.add("win"); li.title = verdictText(key, win[key]); }
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
      val.textContent = failed ? "failed" : FIG[key].fmt(v);
      if (winner === c) val.prepend(icon(key === "ttft" ? "bolt" : "trophy"));
      const track = document.createElement("span");
      track.className = "bar-track";
      const fill = document.createElement("span");
      fill.className = "bar-fill";
      fill.style.width = v ? `${Math.max(2, (100 * v) / max)}%` : "0";
      track.append(fill);
      li.append(name, track, val);
      return li;
    });
  };
  ttftList.replaceChildren(...rows("ttft"));
  rateList.replaceChildren(...rows("rate"));
  // the rule, stated where the crowns are; after a run, each figure's verdict (one line, in full on hover)
  for (const key of ["ttft", "rate"]) {
    const line = document.querySelector(`[data-role="verdict-${key}"]`);
    line.textContent = win ? verdictText(key, win[key]) : "";
    line.title = line.textContent;
    line.classList.toggle("none", !!win && !win[key].winner);
  }
  note.textContent = RULE_SHORT;
  note.title = RULE_TEXT;
  return win;
}

/** After a run: each column's winning figures marked, and the race's headline (who won what, or nobody). */
export function showVerdicts(summary, columns, win) {
  if (!win) {
    for (const c of columns) c.setWins([]);
    summary.replaceChildren();
    return;
  }
  const why = { ttft: verdictText("ttft", win.ttft), rate: verdictText("rate", win.rate) };
  for (const c of columns) c.setWins(["ttft", "rate"].filter((k) => win[k].winner === c), why);
  const item = (iconName, who, what) => {
    const span = document.createElement("span");
    span.className = "summary-item";
    const b = document.createElement("b");
    b.textContent = who;
    span.append(icon(iconName), b, ` ${what}`);
    return span;
  };
  const parts = [];
  if (win.ttft.winner) parts.push(item("bolt", win.ttft.winner.name, `first token in ${fmtMs(win.ttft.winner.result.ttft_ms)}`));
  if (win.rate.winner) parts.push(item("trophy", win.rate.winner.name, "streams fastest"));
  if (!parts.length && win.ttft.second) {
    const none = document.createElement("span");
    none.className = "summary-item muted";
    none.textContent = "no clear winner";
    parts.push(none);
  }
  summary.replaceChildren(...parts);
}
