// The form: theme switch, provider chips, max tokens and temperature, form errors.
import { api, colorOf, icon } from "/static/util.js";

const $ = (role) => document.querySelector(`[data-role="${role}"]`);

// ---- theme: follows the system; the button cycles auto → light → dark ----------------------------------------
const THEMES = ["auto", "light", "dark"];

function applyTheme(t) {
  document.documentElement.dataset.theme = t;
  $("theme-label").textContent = t[0].toUpperCase() + t.slice(1);
  $("theme-icon").replaceChildren(icon(t));
  $("theme").title = t === "auto" ? "Theme: follows the system (click to change)" : `Theme: ${t} (click to change)`;
}

/** Apply the saved theme and wire the button; onChange runs after each switch (the chart recolours). */
export function setupTheme(onChange) {
  let saved = "auto";
  try { saved = localStorage.getItem("tokenrace.theme") || "auto"; } catch { /* storage off */ }
  applyTheme(THEMES.includes(saved) ? saved : "auto");
  $("theme").addEventListener("click", () => {
    const next = THEMES[(THEMES.indexOf(document.documentElement.dataset.theme) + 1) % THEMES.length];
    try { localStorage.setItem("tokenrace.theme", next); } catch { /* storage off */ }
    applyTheme(next);
    onChange();
  });
}

// ---- providers ------------------------------------------------------------------------------------------------
/** The configured providers as chips (all ticked); returns [{name, kind, model}] (empty on error). */
export async function loadProviders() {
  const box = $("providers");
  let providers;
  try {
    providers = await api("GET", "/api/providers");
  } catch (e) {
    $("providers-loading").textContent = e.message;
    $("providers-loading").classList.add("error-text");
    return [];
  }
  box.querySelectorAll(".chip, [data-role=providers-loading], .chip-all").forEach((n) => n.remove());
  providers.forEach((p, i) => {
    const label = document.createElement("label");
    label.className = "chip";
    label.style.setProperty("--c", colorOf(i));
    label.title = `${p.kind} · ${p.model}`;
    const input = document.createElement("input");
    input.type = "checkbox";
    input.checked = true;
    input.value = p.name;
    input.dataset.providerToggle = p.name;
    const dot = document.createElement("span");
    dot.className = "dot";
    dot.setAttribute("aria-hidden", "true");
    const name = document.createElement("span");
    name.textContent = p.name;
    label.append(input, dot, name);
    box.append(label);
  });
  if (providers.length > 1) {
    const all = document.createElement("button");
    all.type = "button";
    all.className = "btn ghost small chip-all";
    all.textContent = "all / none";
    all.addEventListener("click", () => {
      const boxes = [...box.querySelectorAll("input[type=checkbox]")];
      const on = !boxes.every((b) => b.checked);
      boxes.forEach((b) => { b.checked = on; });
    });
    box.append(all);
  }
  if (!providers.length) {
    const span = document.createElement("span");
    span.className = "muted";
    span.dataset.role = "providers-loading";
    span.textContent = "No providers configured: run `tokenrace init` and edit tokenrace.yaml.";
    box.append(span);
  }
  return providers;
}

export function selectedProviders() {
  return [...$("providers").querySelectorAll("input[type=checkbox]:checked")].map((i) => i.value);
}

export function formError(msg) {
  const el = $("form-error");
  el.textContent = msg || "";
  el.hidden = !msg;
}

/** {max_tokens?, temperature?} from the form; throws an Error with a message for people. */
export function readParams() {
  const params = {};
  const mt = $("max-tokens").value.trim();
  if (mt) {
    const n = Number(mt);
    if (!Number.isInteger(n) || n < 1) throw new Error("Max tokens must be a whole number of at least 1.");
    params.max_tokens = n;
  }
  const t = $("temperature").value.trim();
  if (t) {
    const n = Number(t);
    if (!Number.isFinite(n) || n < 0 || n > 2) throw new Error("Temperature must be a number from 0 to 2.");
    params.temperature = n;
  }
  return params;
}
