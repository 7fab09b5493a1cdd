// The history drawer: past runs from /api/runs, newest first, each with its providers' figures; opening one
// shows its conversation and replays it from the server.
import { api, fmtCost, fmtMs, fmtRate, relTime, toDate } from "/static/util.js";

const MAX_ROWS = 6;     // figure rows per run; the rest are counted

const STATUS_ICON = { done: "✓", ok: "✓", running: "●", cancelled: "■", interrupted: "!", error: "!" };

export class History {
  constructor(root, toggle, onOpen, colorFor) {
    this.root = root;
    this.colorFor = colorFor;
    this.toggle = toggle;
    this.onOpen = onOpen;
    this.list = root.querySelector("[data-role=history-list]");
    this.current = null;
    toggle.addEventListener("click", () => (this.isOpen() ? this.close() : this.open()));
    root.querySelector("[data-role=history-close]").addEventListener("click", () => this.close(true));
    root.querySelector("[data-role=history-refresh]").addEventListener("click", () => this.refresh());
    root.addEventListener("keydown", (e) => { if (e.key === "Escape") { e.stopPropagation(); this.close(true); } });
  }

  isOpen() { return !this.root.hidden; }

  async open() {
    this.root.hidden = false;
    this.toggle.setAttribute("aria-expanded", "true");
    document.body.classList.add("drawer-open");
    await this.refresh();
    const first = this.list.querySelector("button");
    (first || this.root.querySelector("[data-role=history-close]")).focus();
  }

  close(focusToggle = false) {
    this.root.hidden = true;
    this.toggle.setAttribute("aria-expanded", "false");
    document.body.classList.remove("drawer-open");
    if (focusToggle) this.toggle.focus();
  }

  markCurrent(id) {
    this.current = id;
    for (const b of this.list.querySelectorAll("button[data-run]")) {
      b.setAttribute("aria-current", String(b.dataset.run === String(id)));
    }
  }

  async refresh() {
    let runs;
    try {
      runs = await api("GET", "/api/runs?limit=50&figures=1");
    } catch (e) {
      const li = document.createElement("li");
      li.className = "muted history-empty";
      li.textContent = e.message;
      this.list.replaceChildren(li);
      return;
    }
    if (!runs || !runs.length) {
      const li = document.createElement("li");
      li.className = "muted history-empty";
      li.textContent = "No runs yet. Your races appear here.";
      this.list.replaceChildren(li);
      return;
    }
    this.list.replaceChildren(...runs.map((r) => this._item(r)));
    this.markCurrent(this.current);
  }

  _item(r) {
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.type = "button";
    b.className = "history-item";
    b.dataset.run = String(r.id);
    const names = (r.providers || []).map((p) => (typeof p === "string" ? p : p.name));
    const prompt = document.createElement("span");
    prompt.className = "h-prompt";
    prompt.textContent = (r.prompt || "").trim() || "(empty prompt)";
    const meta = document.createElement("span");
    meta.className = "h-meta muted";
    const status = document.createElement("span");
    status.className = "h-status";
    status.dataset.status = r.status || "";
    status.textContent = `${STATUS_ICON[r.status] || "·"} ${r.status || ""}`;
    const when = relTime(toDate(r.created));
    meta.append(status, ` · ${when}${when ? " · " : ""}${names.length} provider${names.length === 1 ? "" : "s"}` +
      (r.parent ? " · follow-up" : ""));
    b.title = `${r.prompt || ""}\n\n${names.join(", ")}`;
    b.append(prompt, meta, this._figures(r, names));
    b.addEventListener("click", () => {
      this.onOpen(String(r.id));
      if (window.innerWidth < 900) this.close();
    });
    li.append(b);
    return li;
  }

  /** The run's figures, one row per provider (TTFT, speed, cost); its names alone while it runs. */
  _figures(r, names) {
    const figs = Array.isArray(r.figures) ? r.figures : [];
    if (!figs.length) {
      const who = document.createElement("span");
      who.className = "h-providers muted";
      who.textContent = names.join(", ");
      return who;
    }
    const table = document.createElement("span");
    table.className = "h-figures";
    table.dataset.role = "history-figures";
    for (const f of figs.slice(0, MAX_ROWS)) {
      const row = document.createElement("span");
      row.className = "h-row";
      row.dataset.figProvider = f.provider;
      if (f.status !== "ok") { row.classList.add("partial"); row.title = `${f.provider}: ${f.status}`; }
      row.style.setProperty("--c", this.colorFor(f.provider));
      const name = document.createElement("span");
      name.className = "h-name";
      name.textContent = f.provider;
      const cells = f.status === "error" && f.ttft_ms === null ? [["failed", "h-failed"]]
        : [[fmtMs(f.ttft_ms), "h-ttft"], [fmtRate(f.tokens_per_s), "h-rate"], [fmtCost(f.cost_usd, f.cost_estimated), "h-cost"]];
      row.append(name, ...cells.map(([text, cls]) => {
        const s = document.createElement("span");
        s.className = `mono ${cls}`;
        s.textContent = text;
        return s;
      }));
      table.append(row);
    }
    if (figs.length > MAX_ROWS) {
      const more = document.createElement("span");
      more.className = "h-more muted";
      more.textContent = `+ ${figs.length - MAX_ROWS} more`;
      table.append(more);
    }
    return table;
  }
}
