// One column per provider: header (name, kind, model), the streaming answer (markdown or raw), reasoning apart,
// errors in words, and live figures in the footer.
import { renderMarkdown } from "/static/markdown.js";
import { copyText, estimateTokens, fmtInt, fmtMs, fmtRate, icon, toast } from "/static/util.js";

const STATUS_TEXT = {
  waiting: "waiting", streaming: "streaming", ok: "done", error: "failed", truncated: "cut off", cancelled: "stopped",
};
const TERMINAL = new Set(["ok", "error", "truncated", "cancelled"]);

/** A failure in words a user understands: [headline, detail]. */
export function describeError(kind, httpStatus, message, provider) {
  let detail = String(message || "");
  if (provider && detail.startsWith(provider + ": ")) detail = detail.slice(provider.length + 2);
  const s = Number(httpStatus) || 0;
  let head;
  if (kind === "http" || s >= 400) {
    if (s === 401 || s === 403) head = "The provider refused the API key. Check the key this provider's config reads.";
    else if (s === 404) head = "The provider does not know this model or endpoint.";
    else if (s === 408) head = "The provider timed out on its side.";
    else if (s === 429) head = "Rate limited: the provider asks to slow down. Try again in a moment.";
    else if (s >= 500) head = `The provider had a server error (HTTP ${s}). It is on their side; try again later.`;
    else if (s >= 400) head = `The provider rejected the request (HTTP ${s}).`;
    else head = "The provider answered with an error.";
  } else if (kind === "connect") head = "Could not reach the provider (network, DNS or wrong base URL).";
  else if (kind === "timeout") head = "The provider took too long to answer.";
  else if (kind === "stream") head = "The provider reported an error in the middle of its answer.";
  else if (kind === "protocol") head = "The provider's reply could not be understood.";
  else if (kind === "config") head = "This provider is not set up correctly.";
  else if (kind === "truncated") head = "The answer was cut off: the stream ended before its end marker. The text so far is kept.";
  else if (kind === "cancelled") head = "Stopped before the answer was complete.";
  else head = "Something went wrong with this provider.";
  return [head, detail];
}

export class Column {
  constructor(provider, color, index) {
    this.name = provider.name;
    this.kind = provider.kind || "";
    this.model = provider.model || "";
    this.color = color;
    this.index = index;
    this.reset();
    const tpl = document.getElementById("column-template");
    const root = tpl.content.firstElementChild.cloneNode(true);
    this.root = root;
    root.dataset.provider = this.name;
    root.style.setProperty("--c", color);
    this.$ = (role) => root.querySelector(`[data-role="${role}"]`);
    this.$("name").textContent = this.name;
    root.setAttribute("aria-label", `Answer of ${this.name}`);
    this._meta();
    this.$("raw-toggle").addEventListener("click", () => this.setRaw(!this.raw));
    this.$("copy").addEventListener("click", async () => {
      const ok = await copyText(this.text);
      toast(ok ? `Copied the answer of ${this.name}` : "Copying is blocked by the browser", ok ? "ok" : "error");
    });
    const details = this.$("reasoning");
    details.querySelector("summary").addEventListener("click", () => { this.reasoningTouched = true; });
    this.raw = false;
    this._paintFigures();
  }

  reset() {
    this.text = "";
    this.reasoning = "";
    this.status = "waiting";
    this.ttft = null;
    this.rate = null;
    this.tokens = null;
    this.elapsed = null;
    this.elapsedAt = 0;            // performance.now() when `elapsed` was last set by the server
    this.result = null;
    this.error = null;
    this.notices = [];
    this.estTokens = 0;
    this.series = { t: [], y: [] };   // cumulative output tokens (estimated live, scaled at the end) over seconds
    this.attempt = 1;
    this.badges = [];
    this.reasoningTouched = false;
    this.dirty = true;
    this.lastRender = 0;
    this.renderTimer = 0;
  }

  /** Back to an empty column (a reset from the server); the DOM is kept. */
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
    this.setBadges([]);
    this._paintFigures();
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
    this.dirty = true;
    this._renderNow();
  }

  // ---- protocol events --------------------------------------------------------------------------------
  start(d) {
    if (d.model) this.model = d.model;
    if (d.kind) this.kind = d.kind;
    this.attempt = d.attempt || 1;
    this._meta();
    if (!TERMINAL.has(this.status)) this._setStatus("waiting");
  }

  delta(d) {
    const piece = d.text ?? d.reasoning ?? "";
    if (!piece) return;
    if (d.reasoning !== undefined && d.text === undefined) this.reasoning += piece;
    else this.text += piece;
    this.estTokens += estimateTokens(piece);
    if (typeof d.t_ms === "number") {
      const t = d.t_ms / 1000;
      const s = this.series;
      if (s.t.length && s.t[s.t.length - 1] >= t) s.y[s.y.length - 1] = this.estTokens;
      else { s.t.push(t); s.y.push(this.estTokens); }
    }
    if (this.status === "waiting") this._setStatus("streaming");
    this._schedule();
  }

  metrics(d) {
    if (TERMINAL.has(this.status) && this.result) return;   // the final figures already came
    if (d.status && d.status !== this.status) this._setStatus(d.status);
    if (d.ttft_ms !== undefined) this.ttft = d.ttft_ms;
    if (d.tokens_per_s !== undefined) this.rate = d.tokens_per_s;
    if (d.tokens !== undefined) this.tokens = d.tokens;
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
    this.elapsed = r.e2e_ms;
    this._setStatus(r.status);
    if (r.status !== "ok" && r.error) {
      const kind = r.status === "error" ? (r.error_kind || "internal") : r.status;
      this._showError(kind, r.http_status, r.error);
    }
    // the chart ends at the real count when the provider reported usage
    const s = this.series;
    const total = r.output_tokens;
    if (s.y.length && total && this.estTokens > 0 && r.token_source === "usage") {
      const k = total / this.estTokens;
      for (let i = 0; i < s.y.length; i++) s.y[i] = Math.round(s.y[i] * k * 10) / 10;
    }
    this.dirty = true;
    this._renderNow();
    this._paintFigures();
  }

  /** Seconds since the run started, from the client clock (the elapsed counter between server updates). */
  tick(runElapsedMs) {
    if (TERMINAL.has(this.status)) return;
    const el = this.$("elapsed");
    const ms = this.elapsed !== null ? this.elapsed + (performance.now() - this.elapsedAt) : runElapsedMs;
    if (ms !== null && ms !== undefined) {
      const text = fmtMs(ms);
      const cut = text.lastIndexOf(" ");
      const unit = document.createElement("span");
      unit.className = "unit";
      unit.textContent = text.slice(cut);
      el.replaceChildren(text.slice(0, cut), unit);
    }
  }

  setBadges(list) {
    this.badges = list;
    const box = this.$("badges");
    box.replaceChildren(...list.map(([name, text]) => {
      const s = document.createElement("span");
      s.className = "badge win";
      s.append(icon(name), text);
      return s;
    }));
    this.root.classList.toggle("winner", list.length > 0);
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

  _paintFigures() {
    const set = (role, value, text) => {
      const el = this.$(role);
      const cut = text.lastIndexOf(" ");
      if (cut > 0) {          // "214 ms": the unit smaller (the text stays "214 ms")
        const unit = document.createElement("span");
        unit.className = "unit";
        unit.textContent = text.slice(cut);
        el.replaceChildren(text.slice(0, cut), unit);
      } else {
        el.textContent = text;
      }
      if (value === null || value === undefined) el.removeAttribute("data-value");
      else el.dataset.value = String(value);
    };
    set("ttft", this.ttft, fmtMs(this.ttft));
    set("rate", this.rate, fmtRate(this.rate));
    set("tokens", this.tokens, fmtInt(this.tokens));
    set("elapsed", this.elapsed, fmtMs(this.elapsed));
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
      const words = Math.round(estimateTokens(this.reasoning));
      this.$("reasoning-size").textContent = `· ~${fmtInt(words)} tokens`;
      if (!this.reasoningTouched) det.open = !this.text && !TERMINAL.has(this.status);
    }
    if (this.text || this.reasoning) this.$("placeholder").hidden = true;
    this.$("raw").textContent = this.text;
    if (!this.raw) this.$("output").replaceChildren(renderMarkdown(this.text));
    this.root.classList.toggle("has-text", !!this.text);
    if (stick && !TERMINAL.has(this.status)) body.scrollTop = body.scrollHeight;
  }
}
