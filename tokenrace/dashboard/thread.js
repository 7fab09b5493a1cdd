// Conversations: the thread a run ends (GET /api/runs/{id}/thread), its system prompt, its downloads, and the
// follow-up box under the last turn.
import { api } from "/static/util.js";

const $ = (role) => document.querySelector(`[data-role="${role}"]`);

/** The runs of the conversation that ends with run `id`, first turn first (each a stored run view). */
export async function loadThread(id) {
  const doc = await api("GET", `/api/runs/${encodeURIComponent(id)}/thread`);
  return Array.isArray(doc?.runs) ? doc.runs : [];
}

/** The system prompt in force: the last one set in the conversation (the engine's rule, thread.py). */
export function threadSystem(runs) {
  for (let i = runs.length - 1; i >= 0; i--) {
    const s = runs[i]?.params?.system;
    if (typeof s === "string" && s.trim()) return s;
  }
  return null;
}

/** The follow-up box: shown under the columns once a run has ended. */
export class FollowUp {
  constructor({ onAsk, onNew }) {
    this.box = $("followup");
    this.input = $("followup-prompt");
    this.err = $("followup-error");
    this.button = $("followup-run");
    this.button.addEventListener("click", () => onAsk());
    $("new-conversation").addEventListener("click", () => onNew());
    this.input.addEventListener("input", () => this.error(""));
  }

  /** Offer turn `turnNo` to `count` providers (the ones ticked above). */
  show(turnNo, count) {
    $("followup-hint").textContent =
      `turn ${turnNo} · ${count} provider${count === 1 ? "" : "s"} (ticked above), each with its own earlier answers`;
    this.box.hidden = false;
    this.setBusy(false);
  }

  hide() { this.box.hidden = true; }

  setBusy(busy) { this.button.disabled = busy; }

  isActive() { return !this.box.hidden && document.activeElement === this.input; }

  get value() { return this.input.value; }

  clear() { this.input.value = ""; this.error(""); }

  error(msg) {
    this.err.textContent = msg || "";
    this.err.hidden = !msg;
  }
}
