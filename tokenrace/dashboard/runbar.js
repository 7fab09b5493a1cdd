// The run bar: the run's status, its turn in the conversation, its prompt and system prompt, and the
// conversation's downloads.
const $ = (role) => document.querySelector(`[data-role="${role}"]`);

export function setRunStatus(text, stateName, prompt = "") {
  const el = $("run-status");
  el.textContent = text;
  el.dataset.state = stateName;
  document.title = stateName === "streaming" || stateName === "reconnecting"
    ? `● ${prompt.slice(0, 40) || "running"} — tokenrace` : "tokenrace — compare LLM providers live";
}

/** The bar for run `id`: turn n of its conversation, its prompt, the system prompt in force. */
export function showRunbar(id, prompt, turnNo, system) {
  $("run-prompt").textContent = prompt || "";
  $("run-prompt").title = prompt || "";
  $("run-turn").hidden = turnNo < 2;
  $("run-turn").textContent = `turn ${turnNo}`;
  $("run-system").hidden = !system;
  $("run-system").textContent = system ? `system: ${system}` : "";
  $("run-system").title = system || "";
  exportLinks(id);
}

/** Download links of the conversation ending with run `id` (the server names the files). */
function exportLinks(id) {
  const base = `/api/runs/${encodeURIComponent(id)}/thread`;
  $("export").href = `${base}?format=json`;
  $("export-md").href = `${base}?format=md`;
}

