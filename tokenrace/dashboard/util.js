// Small shared helpers: the HTTP API, number formats, clipboard, toasts, icons.

export class ApiError extends Error {
  constructor(message, status) { super(message); this.status = status; }
}

/** fetch JSON from the server's API; errors become ApiError with the server's own message. */
export async function api(method, path, body) {
  const init = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (e) {
    throw new ApiError("The tokenrace server cannot be reached. Is `tokenrace serve` still running?", 0);
  }
  let data = null;
  const text = await resp.text();
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!resp.ok) {
    let msg = (data && data.error) || `${resp.status} ${resp.statusText}`;
    if (resp.status === 401 || resp.status === 403) {
      msg = "This server needs its access token: open the link `tokenrace serve` printed (it ends in ?token=…) once.";
    }
    throw new ApiError(msg, resp.status);
  }
  return data;
}

export function fmtMs(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(2)} s`;
  const m = Math.floor(ms / 60000);
  return `${m} m ${Math.round((ms % 60000) / 1000)} s`;
}

export function fmtRate(r) {
  if (r === null || r === undefined || !Number.isFinite(r)) return "—";
  return `${r >= 100 ? Math.round(r) : r.toFixed(1)} tok/s`;
}

export function fmtInt(n) {
  if (n === null || n === undefined || !Number.isFinite(n)) return "—";
  return Math.round(n).toLocaleString("en-US");
}

/** A token count; "~" when it is our estimate (the provider reported none), as everywhere in tokenrace. */
export function fmtTokens(n, source) {
  const text = fmtInt(n);
  return text !== "—" && source === "estimate" ? `~${text}` : text;
}

/** USD as `tokenrace run` prints it ($0.0123, $0.000123), "~" when it rests on estimated tokens; "" without a
 * price (the page then shows no cost at all). */
export function fmtCost(usd, estimated) {
  if (usd === null || usd === undefined || !Number.isFinite(usd)) return "";
  const text = usd >= 0.01 ? `$${usd.toFixed(4)}` : `$${usd.toFixed(6)}`;
  return (estimated ? "~" : "") + text;
}

/** Characters as Python counts them (code points), for the server's prompt-length limit. */
export const codePoints = (s) => { let n = 0; for (const _ of s) n++; return n; };

/** A run's "created" (epoch seconds, epoch ms or an ISO string) as a Date, or null. */
export function toDate(v) {
  if (v === null || v === undefined || v === "") return null;
  if (typeof v === "number") return new Date(v < 1e12 ? v * 1000 : v);
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? null : d;
}

export function relTime(date) {
  if (!date) return "";
  const s = (Date.now() - date.getTime()) / 1000;
  if (s < 45) return "just now";
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return date.toLocaleDateString(undefined, { month: "short", day: "numeric" }) + " " +
    date.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
}

/** The engine's tokenizer-free estimate (tokenrace/metrics.py estimate_tokens), additive over pieces. */
export function estimateTokens(text) {
  let n = 0;
  for (const ch of text) {
    const o = ch.codePointAt(0);
    if (o < 128) n += 0.25;
    else if ((o >= 0x2E80 && o <= 0x9FFF) || (o >= 0xAC00 && o <= 0xD7AF) || (o >= 0xF900 && o <= 0xFAFF) ||
             (o >= 0x1F000 && o <= 0x1FAFF)) n += 1;
    else if ((o >= 0xFE00 && o <= 0xFE0F) || (o >= 0x1F3FB && o <= 0x1F3FF) || o === 0x200D) { /* rides along */ }
    else n += 0.5;
  }
  return n;
}

export async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try { await navigator.clipboard.writeText(text); return true; } catch { /* fall back below */ }
  }
  const ta = document.createElement("textarea");
  ta.value = text;
  ta.setAttribute("readonly", "");
  ta.style.position = "fixed";
  ta.style.opacity = "0";
  document.body.appendChild(ta);
  ta.select();
  let ok = false;
  try { ok = document.execCommand("copy"); } catch { ok = false; }
  ta.remove();
  return ok;
}

let toastTimer = 0;
export function toast(message, kind = "info") {
  const el = document.querySelector("[data-role=toast]");
  el.textContent = message;
  el.dataset.kind = kind;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, 2600);
}

const SVG_NS = "http://www.w3.org/2000/svg";
/** An icon from the page's sprite (index.html), e.g. icon("bolt"). */
export function icon(name) {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("class", "i");
  svg.setAttribute("aria-hidden", "true");
  const use = document.createElementNS(SVG_NS, "use");
  use.setAttribute("href", `#i-${name}`);
  svg.append(use);
  return svg;
}
