// The form: theme switch, provider chips, max tokens, temperature and system prompt, the server's limits on a
// request (checked before sending, so a too-long prompt gets words, not a byte count), form errors.
import { colorOf } from "/static/palette.js";
import { api, codePoints, fmtInt, icon } from "/static/util.js";

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

/** Tick exactly these providers (an opened conversation's), so a follow-up asks the same ones. */
export function selectProviders(names) {
  const want = new Set(names);
  const boxes = [...$("providers").querySelectorAll("input[type=checkbox]")];
  if (!boxes.some((b) => want.has(b.value))) return;     // none of them is configured now: leave the choice
  for (const b of boxes) b.checked = want.has(b.value);
}

// ---- system prompt ------------------------------------------------------------------------------------------
export function setupSystem() {
  const toggle = $("system-toggle");
  const show = (open) => {
    $("system-box").hidden = !open;
    toggle.setAttribute("aria-expanded", String(open));
  };
  toggle.addEventListener("click", () => {
    const open = $("system-box").hidden;
    show(open);
    if (open) $("system").focus();
  });
  $("system").addEventListener("input", () => markSystem());
  return { show };
}

function markSystem() {
  $("system-toggle").classList.toggle("set", !!$("system").value.trim());
}

export function readSystem() {
  const v = $("system").value;
  return v.trim() ? v : null;
}

export function setSystem(text) {
  $("system").value = text || "";
  markSystem();
}

// ---- the server's limits --------------------------------------------------------------------------------------
let limits = null;

export async function loadLimits() {
  try { limits = await api("GET", "/api/limits"); } catch { limits = null; }   // an older server: it checks
  if (limits?.max_tokens) $("max-tokens").max = String(limits.max_tokens);
  return limits;
}

/** What the server would refuse about this request, in words, before it is sent ("" when nothing). */
export function requestError(body) {
  if (!limits) return "";
  const max = limits.max_prompt_chars;
  for (const [what, text] of [["prompt", body.prompt], ["system prompt", body.params?.system]]) {
    const n = typeof text === "string" ? codePoints(text) : 0;
    if (max && n > max) {
      return `The ${what} has ${fmtInt(n)} characters; the limit is ${fmtInt(max)}. Shorten it ` +
        "(or start the server with a higher tokenrace serve --max-prompt-chars).";
    }
  }
  const bytes = new TextEncoder().encode(JSON.stringify(body)).length;
  if (limits.max_body_bytes && bytes > limits.max_body_bytes) {
    return `The request is ${fmtInt(bytes)} bytes (prompt and system prompt as UTF-8); the server takes at most ` +
      `${fmtInt(limits.max_body_bytes)}. Shorten the prompt.`;
  }
  return "";
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
    if (limits?.max_tokens && n > limits.max_tokens) throw new Error(`Max tokens can be at most ${fmtInt(limits.max_tokens)}.`);
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
