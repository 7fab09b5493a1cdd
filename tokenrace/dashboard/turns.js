// A conversation's earlier turns in one provider's column: each turn's prompt, then this provider's own answer
// to it (what the engine sends it back as its history), or a note that it had none (the turn is then left out
// of its history, prompt and all: README "Conversations").
import { renderMarkdown } from "/static/markdown.js";
import { fmtCost, fmtMs, fmtRate, fmtTokens } from "/static/util.js";

/** The prompt of turn n, as a bubble above the answers to it. */
export function promptBubble(prompt, turnNo) {
  const div = document.createElement("div");
  div.className = "turn-prompt";
  const no = document.createElement("span");
  no.className = "turn-no";
  no.textContent = String(turnNo);
  no.title = `turn ${turnNo}`;
  const text = document.createElement("span");
  text.className = "turn-text";
  text.dataset.role = "turn-text";
  text.textContent = prompt;
  div.title = prompt;
  div.append(no, text);
  return div;
}

/** "122 ms · 83.1 tok/s · 64 tok · $0.000120": a finished answer's figures in one line. */
export function figureLine(r) {
  const parts = [];
  if (r.ttft_ms !== null && r.ttft_ms !== undefined) parts.push(`TTFT ${fmtMs(r.ttft_ms)}`);
  if (r.tokens_per_s !== null && r.tokens_per_s !== undefined) parts.push(fmtRate(r.tokens_per_s));
  if (r.output_tokens !== null && r.output_tokens !== undefined) parts.push(`${fmtTokens(r.output_tokens, r.token_source)} tok`);
  const cost = fmtCost(r.cost_usd, r.cost_estimated);
  if (cost) parts.push(cost);
  return parts.join(" · ");
}

const CUT = { truncated: "cut off", cancelled: "stopped", error: "failed part-way" };

/** One earlier turn of `run` (a stored run view) as `provider` saw it; `raw` shows the text unrendered. */
export function pastTurn(run, turnNo, provider, raw) {
  const sec = document.createElement("section");
  sec.className = "turn";
  sec.dataset.turn = String(turnNo);
  sec.dataset.run = String(run.id);
  sec.append(promptBubble(run.prompt || "", turnNo));
  const r = (run.results || []).find((x) => x.provider === provider);
  if (r && r.text) {
    const answer = document.createElement(raw ? "pre" : "div");
    answer.className = raw ? "output-raw turn-answer" : "md turn-answer";
    answer.dataset.role = "turn-answer";
    if (raw) answer.textContent = r.text;
    else answer.append(renderMarkdown(r.text));
    const figs = document.createElement("p");
    figs.className = "turn-figs mono";
    figs.textContent = figureLine(r) + (CUT[r.status] ? ` · ${CUT[r.status]}` : "");
    sec.append(answer, figs);
  } else {
    const p = document.createElement("p");
    p.className = "turn-missing";
    p.dataset.role = "turn-missing";
    p.textContent = r ? "No answer in this turn (it failed): left out of its history."
      : "Not asked in this turn: left out of its history.";
    sec.append(p);
  }
  return sec;
}
