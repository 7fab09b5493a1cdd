// The history drawer: past runs from /api/runs, newest first; opening one replays it from the server.
import { api, relTime, toDate } from "/static/util.js";

const STATUS_ICON = { done: "✓", ok: "✓", running: "●", cancelled: "■", interrupted: "!", error: "!" };

export class History {
  constructor(root, toggle, onOpen) {
    this.root = root;
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
      runs = await api("GET", "/api/runs?limit=50");
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
    meta.append(status, ` · ${when}${when ? " · " : ""}${names.length} provider${names.length === 1 ? "" : "s"}`);
    const who = document.createElement("span");
    who.className = "h-providers muted";
    who.textContent = names.join(", ");
    b.title = `${r.prompt || ""}\n\n${names.join(", ")}`;
    b.append(prompt, meta, who);
    b.addEventListener("click", () => {
      this.onOpen(String(r.id));
      if (window.innerWidth < 900) this.close();
    });
    li.append(b);
    return li;
  }
}
