// One column per provider: its earlier turns in the conversation, the streaming answer (markdown or raw),
// reasoning apart, errors in words, and its figures at the top (TTFT, speed, tokens, time, cost).
import { describeError } from "/static/errors.js";
import { renderMarkdown } from "/static/markdown.js";
import { pastTurn, promptBubble } from "/static/turns.js";
import { copyText, estimateTokens, fmtCost, fmtMs, fmtRate, fmtTokens, icon, toast } from "/static/util.js";

const STATUS_TEXT = {
  waiting: "waiting", streaming: "streaming", ok: "done", error: "failed", truncated: "cut off", cancelled: "stopped",
};
const TERMINAL = new Set(["ok", "error", "truncated", "cancelled"]);
const ESTIMATE_TIP = "estimated: the provider reported no token count (about 4 characters a token)";

export class Column {
  constructor(provider, color, dash) {
    this.name = provider.name;
    this.kind = provider.kind || "";
    this.model = provider.model || "";
    this.color = color;
    this.dash = dash;              // the chart's line dash: [] (solid) unless colours had to repeat
    this.past = [];                  // earlier turns: stored run views
    this.prompt = "";
    this.turnNo = 1;
    this.raw = false;
    this.reset();
    const root = document.getElementById("column-template").content.firstElementChild.cloneNode(true);
    this.root = root;
    root.dataset.provider = this.name;
    root.style.setProperty("--c", color);
    if (dash.length) root.classList.add("dashed");
    this.$ = (role) => root.querySelector(`[data-role="${role}"]`);
    this.$("name").textContent = this.name;
    root.setAttribute("aria-label", `Answers of ${this.name}`);
    this._meta();
    this.$("raw-toggle").addEventListener("click", () => this.setRaw(!this.raw));
    this.$("copy").addEventListener("click", async () => {
      const ok = await copyText(this.text);
      toast(ok ? `Copied the answer of ${this.name}` : "Copying is blocked by the browser", ok ? "ok" : "error");
    });
    this.$("reasoning").querySelector("summary").addEventListener("click", () => { this.reasoningTouched = true; });
    this._paintFigures();
  }

  reset() {
    this.text = "";
    this.reasoning = "";
    this.status = "waiting";
    this.ttft = null;
    this.rate = null;
    this.tokens = null;
    this.tokenSource = null;
    this.elapsed = null;
    this.elapsedAt = 0;            // performance.now() when `elapsed` was last set by the server
    this.result = null;
    this.error = null;
    this.notices = [];
    this.wins = new Set();
    // the race chart's data, in seconds since THIS provider's request was sent (its `start` t_ms), as TTFT
    // counts: answer tokens (estimated while streaming) and the span of reasoning before and between them
    this.t0 = null;
    this.estAnswer = 0;
    this.series = { t: [], y: [] };
    this.reasoningSpan = null;     // [from, to] in seconds
    this.reasoningTouched = false;
    this.dirty = true;
    this.lastRender = 0;
    this.renderTimer = 0;
  }

  /** Back to an empty answer (a reset from the server, a replay); earlier turns and the DOM are kept. */
  clear() {
    clearTimeout(this.renderTimer);
    this.reset();
    delete this.root.dataset.mismatch;
    this.$("output").replaceChildren();
    this.$("raw").textContent = "";
    this.$("reasoning").hidden = true;
    this.$("reasoning-text").textContent = "";
    this.$("notices").hidden = true;
    this.$("notices").replaceChildren();
    this.$("error").hidden = true;
    this.$("placeholder").hidden = false;
    this._setStatus("waiting");
    this._paintFigures();
  }

  /** The conversation so far: `past` runs (oldest first) and this turn's prompt. */
  setThread(past, prompt) {
    this.past = past;
    this.prompt = prompt;
    this.turnNo = past.length + 1;
    this._paintTurns();
    const current = this.$("current-prompt");
    current.replaceChildren(...(past.length ? [promptBubble(prompt, this.turnNo)] : []));
    current.hidden = !past.length;
    this.scrollToLatest();
  }

  /** Show the latest turn (call once the column is in the document). */
  scrollToLatest() {
    const body = this.$("body");
    body.scrollTop = body.scrollHeight;
  }

  _paintTurns() {
    this.$("turns").replaceChildren(...this.past.map((run, i) => pastTurn(run, i + 1, this.name, this.raw)));
  }

  _meta() {
    this.$("kind").textContent = this.kind;
    this.$("kind").hidden = !this.kind;
    this.$("model").textContent = this.model;
    this.$("model").title = this.model;
  }

  setRaw(raw) {
    this.raw = raw;
    const btn = this.$("raw-toggle");
    btn.setAttribute("aria-pressed", String(raw));
    btn.textContent = raw ? "TXT" : "MD";
    btn.title = raw ? "Show rendered markdown" : "Show the raw text";
    this.$("output").hidden = raw;
    this.$("raw").hidden = !raw;
    this._paintTurns();
    this.dirty = true;
    this._renderNow();
  }

  // ---- protocol events --------------------------------------------------------------------------------
  start(d) {
    if (d.model) this.model = d.model;
    if (d.kind) this.kind = d.kind;
    this._meta();
    // each attempt's request is a new zero (a retry happens only before any output)
    if (typeof d.t_ms === "number") this.t0 = d.t_ms;
    if (!TERMINAL.has(this.status)) this._setStatus("waiting");
  }

  delta(d) {
    const isText = d.text !== undefined && d.text !== null;
    const piece = isText ? d.text : (d.reasoning ?? "");
    if (!piece) return;
    const t = typeof d.t_ms === "number" ? (d.t_ms - (this.t0 ?? 0)) / 1000 : null;
    if (isText) {
      this.text += piece;
      this.estAnswer += estimateTokens(piece);
      // TTFT shows the moment the first answer token does (the engine's own figure follows, equal to it)
      if (this.ttft === null && t !== null && this.t0 !== null) { this.ttft = t * 1000; this._paintFigures(); }
      if (t !== null) {
        const s = this.series;
        if (s.t.length && s.t[s.t.length - 1] >= t) s.y[s.y.length - 1] = this.estAnswer;
        else { s.t.push(t); s.y.push(this.estAnswer); }
      }
    } else {
      this.reasoning += piece;
      if (t !== null) this.reasoningSpan = this.reasoningSpan ? [this.reasoningSpan[0], t] : [t, t];
    }
    if (this.status === "waiting") this._setStatus("streaming");
    this._schedule();
  }

  metrics(d) {
    if (TERMINAL.has(this.status) && this.result) return;   // the final figures already came
    if (d.status && d.status !== this.status) this._setStatus(d.status);
    if (d.ttft_ms !== undefined && d.ttft_ms !== null) this.ttft = d.ttft_ms;
    if (d.tokens_per_s !== undefined) this.rate = d.tokens_per_s;
    if (d.tokens !== undefined) { this.tokens = d.tokens; this.tokenSource = d.token_source || null; }
    if (typeof d.elapsed_ms === "number") { this.elapsed = d.elapsed_ms; this.elapsedAt = performance.now(); }
    this._paintFigures();
  }

  notice(d) {
    if (!d.message) return;
    this.notices.push(d.message);
    const box = this.$("notices");
    box.hidden = false;
    const p = document.createElement("p");
    p.textContent = d.message.replace(this.name + ": ", "");
    box.append(p);
  }

  fail(d) {
    this.error = { kind: d.kind, http_status: d.http_status, message: d.message };
    this._showError(d.kind, d.http_status, d.message);
    this._setStatus("error");
  }

  done(r) {
    this.result = r;
    if (r.model) { this.model = r.model; this._meta(); }
    // The stored text is the truth. The deltas must already add up to it (a test checks that no column ever
    // carries data-mismatch); should they not, the page still ends up showing what the server kept.
    if ((typeof r.text === "string" && r.text !== this.text) ||
        (typeof r.reasoning === "string" && r.reasoning !== this.reasoning)) {
      this.root.dataset.mismatch = "true";
      console.warn(`tokenrace: ${this.name}: streamed text differs from the final result; showing the result`);
      if (typeof r.text === "string") this.text = r.text;
      if (typeof r.reasoning === "string") this.reasoning = r.reasoning;
    }
    this.ttft = r.ttft_ms;
    this.rate = r.tokens_per_s;
    this.tokens = r.output_tokens;
    this.tokenSource = r.token_source || null;
    this.elapsed = r.e2e_ms;
    this._setStatus(r.status);
    if (r.status !== "ok" && r.error) {
      const kind = r.status === "error" ? (r.error_kind || "internal") : r.status;
      this._showError(kind, r.http_status, r.error);
    }
    // The chart ends at the provider's own count when it reported one and it is all answer (with reasoning
    // in the count, which part is answer is not known: the line stays our estimate).
    const s = this.series;
    if (s.y.length && r.token_source === "usage" && r.output_tokens && !r.reasoning_tokens && !this.reasoning &&
        this.estAnswer > 0) {
      const k = r.output_tokens / this.estAnswer;
      for (let i = 0; i < s.y.length; i++) s.y[i] = Math.round(s.y[i] * k * 10) / 10;
    }
    this.dirty = true;
    this._renderNow();
    this._paintFigures();
  }

  /** The Time figure between the server's updates, from the client clock. */
  tick(runElapsedMs) {
    if (TERMINAL.has(this.status)) return;
    const ms = this.elapsed !== null ? this.elapsed + (performance.now() - this.elapsedAt) : runElapsedMs;
    if (ms !== null && ms !== undefined) this._set("elapsed", null, fmtMs(ms), false);
  }

  /** Which of its figures won the race ("ttft", "rate"), by the noise rule (noise.js). */
  setWins(wins, why = {}) {
    this.wins = new Set(wins);
    for (const key of ["ttft", "rate"]) {
      const cell = this.root.querySelector(`[data-fig="${key}"]`);
      const won = this.wins.has(key);
      cell.classList.toggle("win", won);
      if (won) { cell.dataset.win = "true"; cell.title = why[key] || ""; } else { delete cell.dataset.win; cell.title = ""; }
      cell.querySelector(".win-icon")?.remove();
      if (won) {
        const i = icon(key === "ttft" ? "bolt" : "trophy");
        i.classList.add("win-icon");
        cell.querySelector("dt").prepend(i);
      }
    }
    this.root.classList.toggle("winner", this.wins.size > 0);
  }

  // ---- painting -----------------------------------------------------------------------------------------
  _setStatus(status) {
    this.status = status;
    const el = this.$("status");
    el.textContent = STATUS_TEXT[status] || status;
    el.dataset.status = status;
    this.root.dataset.status = status;
  }

  _showError(kind, httpStatus, message) {
    const [head, detail] = describeError(kind, httpStatus, message, this.name);
    const box = this.$("error");
    const strong = document.createElement("strong");
    strong.append(icon("alert"), head);
    const small = document.createElement("span");
    small.className = "detail";
    small.textContent = detail;
    box.replaceChildren(strong, small);
    box.dataset.kind = kind || "";
    box.hidden = false;
    this.$("placeholder").hidden = true;
  }

  /** One figure: "214 ms" with its unit smaller (the text stays "214 ms"); data-value holds the number. */
  _set(role, value, text, setValue = true) {
    const el = this.$(role);
    const cut = text.lastIndexOf(" ");
    if (cut > 0) {
      const unit = document.createElement("span");
      unit.className = "unit";
      unit.textContent = text.slice(cut);
      el.replaceChildren(text.slice(0, cut), unit);
    } else {
      el.textContent = text;
    }
    if (!setValue) return;
    if (value === null || value === undefined) el.removeAttribute("data-value");
    else el.dataset.value = String(value);
  }

  _paintFigures() {
    this._set("ttft", this.ttft, fmtMs(this.ttft));
    this._set("rate", this.rate, fmtRate(this.rate));
    const estimated = this.tokenSource === "estimate";
    this._set("tokens", this.tokens, fmtTokens(this.tokens, this.tokenSource));
    this.$("tokens").title = estimated ? ESTIMATE_TIP : "";
    this.$("rate").title = estimated ? `from ${ESTIMATE_TIP}` : "";
    this._set("elapsed", this.elapsed, fmtMs(this.elapsed));
    const r = this.result;
    const cost = r ? fmtCost(r.cost_usd, r.cost_estimated) : "";
    this.root.querySelector('[data-fig="cost"]').hidden = !cost;     // no price: no cost at all
    this._set("cost", r?.cost_usd ?? null, cost);
    this.$("cost").title = cost && r.cost_estimated ? "rests on estimated token counts" : "";
  }

  _schedule() {
    this.dirty = true;
    if (this.renderTimer) return;
    const n = this.text.length + this.reasoning.length;
    const every = n < 8000 ? 70 : n < 40000 ? 160 : 400;   // ms between renders: ~14 fps is smooth for text
    const wait = Math.max(0, every - (performance.now() - this.lastRender));
    this.renderTimer = setTimeout(() => {
      this.renderTimer = 0;
      requestAnimationFrame(() => this._renderNow());
    }, wait);
  }

  _renderNow() {
    if (!this.dirty) return;
    this.dirty = false;
    this.lastRender = performance.now();
    const body = this.$("body");
    const stick = body.scrollHeight - body.scrollTop - body.clientHeight < 32;
    if (this.reasoning) {
      const det = this.$("reasoning");
      det.hidden = false;
      this.$("reasoning-text").textContent = this.reasoning;
      this.$("reasoning-size").textContent = `· ~${fmtTokens(estimateTokens(this.reasoning))} tokens`;
      if (!this.reasoningTouched) det.open = !this.text && !TERMINAL.has(this.status);
    }
    if (this.text || this.reasoning) this.$("placeholder").hidden = true;
    this.$("raw").textContent = this.text;
    if (!this.raw) this.$("output").replaceChildren(renderMarkdown(this.text));
    this.root.classList.toggle("has-text", !!this.text);
    if (stick && !TERMINAL.has(this.status)) body.scrollTop = body.scrollHeight;
  }
}
