// tokenrace dashboard: the prompt form, one run at a time over one EventSource, a conversation's turns in the
// columns, the race chart and bars, history.
import { Column } from "/static/columns.js";
import { RaceChart } from "/static/chart.js";
import { renderBars, showVerdicts } from "/static/bars.js";
import { History } from "/static/history.js";
import { RunStream } from "/static/stream.js";
import { FollowUp, loadThread, threadSystem } from "/static/thread.js";
import { setRunStatus, showRunbar } from "/static/runbar.js";
import { formError, loadLimits, loadProviders, readParams, readSystem, requestError, selectProviders,
         selectedProviders, setSystem, setupSystem, setupTheme } from "/static/form.js";
import { PALETTE, colorOf, dashOf } from "/static/palette.js";
import { api, copyText, fmtMs, toast } from "/static/util.js";

const $ = (role, root = document) => root.querySelector(`[data-role="${role}"]`);

const ui = {
  prompt: $("prompt"), run: $("run"), stop: $("stop"), maxTokens: $("max-tokens"), temperature: $("temperature"),
  runbar: $("runbar"), runClock: $("run-clock"), race: $("race"), raceSummary: $("race-summary"),
  barsTtft: $("bars-ttft"), barsRate: $("bars-rate"), barsNote: $("bars-note"), columns: $("columns"),
  empty: $("empty"), copyLink: $("copy-link"), replay: $("replay"),
};

const state = {
  providers: [],           // [{name, kind, model}] from /api/providers
  run: null,               // the run on screen, see newRun()
};

const chart = new RaceChart($("chart"), $("legend"));
const history = new History($("history"), $("history-toggle"), (id) => openRun(id), (name) => colorFor(name));
const followUp = new FollowUp({ onAsk: () => ask(followUp.value, true), onNew: () => newConversation() });
const system = setupSystem();

setupTheme(() => chart.rebuild());

// ---- runs --------------------------------------------------------------------------------------------------
function providerInfo(p) {
  const name = typeof p === "string" ? p : p.name;
  const known = state.providers.find((q) => q.name === name) || {};
  return { name, kind: (typeof p === "object" && p.kind) || known.kind || "", model: (typeof p === "object" && p.model) || known.model || "" };
}

/** A provider keeps its colour (its place in the configured list) in chips, columns, chart, bars, history;
 * a name the config no longer has takes the first place after them that this run leaves free. */
function colorIndex(name, taken = new Set()) {
  let i = state.providers.findIndex((q) => q.name === name);
  if (i >= 0) return i;
  for (i = state.providers.length; taken.has(i); i++);
  return i;
}
const colorFor = (name) => colorOf(colorIndex(name));

function newRun(id, prompt, providers, past = [], systemText = null) {
  const old = state.run;
  if (old) { if (old.stream) old.stream.close(); clearInterval(old.ticker); old.replayTimers?.forEach(clearTimeout); }
  ui.columns.replaceChildren();
  const run = {
    id, prompt, past, turnNo: past.length + 1, columns: new Map(), order: [], stream: null, log: [], ended: false,
    endData: null, t0: performance.now(), ticker: 0, live: false, barsTimer: 0, replayTimers: [],
  };
  state.run = run;
  ui.columns.dataset.count = String(providers.length);
  providers.map(providerInfo).forEach((p) => addColumn(run, p));
  for (const c of run.order) c.scrollToLatest();     // now that every column has its final height
  ui.empty.hidden = true;
  ui.runbar.hidden = false;
  ui.race.hidden = false;
  ui.race.classList.toggle("many", providers.length > 8);      // more bars than a fixed height holds
  followUp.hide();
  chart.setColumns(run.order);
  showRunbar(id, prompt, run.turnNo, systemText);
  ui.raceSummary.textContent = "";
  updateBars(run, false);
  history.markCurrent(id);
  return run;
}

function addColumn(run, p) {
  // two providers of this run never share a colour and line style (names unknown to the config come last)
  const used = new Set(run.order.map((c) => c.colorIndex));
  let i = colorIndex(p.name, used);
  while (used.has(i)) i += PALETTE.length;
  const col = new Column(p, colorOf(i), dashOf(i));
  col.colorIndex = i;
  col.setThread(run.past, run.prompt);
  run.columns.set(p.name, col);
  run.order.push(col);
  ui.columns.append(col.root);
  ui.columns.dataset.count = String(Math.max(run.order.length, Number(ui.columns.dataset.count) || 0));
  return col;
}

function columnFor(run, name) {
  let col = run.columns.get(name);
  if (!col) {
    col = addColumn(run, providerInfo(name));
    chart.setColumns(run.order);
  }
  return col;
}

function setRunning(running) {
  ui.run.disabled = running;
  ui.stop.disabled = !running;
  ui.replay.disabled = running;
  followUp.setBusy(running);
}

function startTicker(run) {
  clearInterval(run.ticker);
  run.ticker = setInterval(() => {
    const ms = performance.now() - run.t0;
    ui.runClock.textContent = fmtMs(ms);
    for (const c of run.order) c.tick(ms);
  }, 100);
}

function updateBars(run, final) {
  const win = renderBars(ui.barsTtft, ui.barsRate, ui.barsNote, run.order, final);
  showVerdicts(ui.raceSummary, run.order, win);
}

function scheduleBars(run) {
  if (run.barsTimer) return;
  run.barsTimer = setTimeout(() => { run.barsTimer = 0; if (state.run === run && !run.ended) updateBars(run, false); }, 250);
}

/** Apply one protocol event to the page (live, resumed or replayed). */
function dispatch(run, name, d) {
  if (!d || !d.provider) return;
  const col = columnFor(run, d.provider);
  switch (name) {
    case "start": col.start(d); break;
    case "delta": col.delta(d); chart.update(); if (d.reasoning) chart.legend.refreshKeys(); break;
    case "metrics": col.metrics(d); scheduleBars(run); break;
    case "notice": col.notice(d); break;
    case "error": col.fail(d); break;
    case "done": col.done(d); chart.update(); scheduleBars(run); break;
    default: break;
  }
}

function finish(run, endData) {
  run.ended = true;
  run.endData = endData;
  clearInterval(run.ticker);
  setRunning(false);
  const cols = run.order;
  const failed = cols.filter((c) => c.status === "error").length;
  const stopped = cols.filter((c) => c.status === "cancelled").length;
  const total = Math.max(0, ...cols.map((c) => c.result?.e2e_ms || 0));
  let text = "finished";
  if (stopped) text = "stopped";
  if (failed) text += ` · ${failed} failed`;
  setRunStatus(text, stopped ? "stopped" : failed ? "partial" : "finished");
  ui.runClock.textContent = total ? fmtMs(total) : "";
  updateBars(run, true);
  chart.update();
  followUp.show(run.turnNo + 1, selectedProviders().length);
  if (history.isOpen()) history.refresh();
}

function connect(run) {
  const url = `/api/runs/${encodeURIComponent(run.id)}/events`;
  run.stream = new RunStream(url, {
    event: (name, d) => { run.log.push([name, d]); if (state.run === run) dispatch(run, name, d); },
    reset: () => {
      // the server did not know where we were: the whole history follows, start the columns over
      run.log = [];
      for (const c of run.order) c.clear();
    },
    end: (d) => { if (state.run === run) finish(run, d); },
    state: (s) => {
      if (state.run !== run || run.ended) return;
      if (s === "connecting") setRunStatus("connecting…", "connecting");
      else if (s === "live") setRunStatus(run.live ? "streaming" : "loading", "streaming", run.prompt);
      else if (s === "reconnecting") setRunStatus("reconnecting…", "reconnecting", run.prompt);
      else if (s === "failed") {
        setRunStatus("connection lost", "failed");
        setRunning(false);
        clearInterval(run.ticker);
      }
    },
  }).open();
}

/** Start a race: a new conversation from the prompt box, or a follow-up in the conversation on screen. */
async function ask(prompt, isFollowUp) {
  const current = state.run;
  if (current && !current.ended && current.live) return;
  const fail = isFollowUp ? (m) => followUp.error(m) : formError;
  if (!prompt.trim()) { fail("Write a prompt first."); (isFollowUp ? followUp.input : ui.prompt).focus(); return; }
  const names = selectedProviders();
  if (!names.length) { fail("Pick at least one provider (the chips at the top)."); return; }
  let params;
  try { params = readParams(); } catch (e) { fail(e.message); return; }
  const sys = readSystem();
  if (sys !== null) params.system = sys;
  const body = { prompt, providers: names };
  if (Object.keys(params).length) body.params = params;
  if (isFollowUp && current) body.parent = current.id;
  const tooBig = requestError(body);
  if (tooBig) { fail(tooBig); return; }
  fail("");
  setRunning(true);
  let created;
  let past = [];
  try {
    created = await api("POST", "/api/runs", body);
    // the conversation so far, as the server recorded it (what each provider's history was made of)
    if (body.parent) past = await loadThread(body.parent);
  } catch (e) {
    setRunning(false);
    fail(e.message);
    return;
  }
  if (isFollowUp) followUp.clear();
  const run = newRun(String(created.id), prompt, created.providers?.length ? created.providers : names, past,
                     sys ?? threadSystem(past));
  run.live = true;
  pushRunURL(run.id);
  setRunStatus("connecting…", "connecting");
  startTicker(run);
  connect(run);
  showRace();
}

/** Bring the run into view: the run bar under the top bar, then the race and the columns' figures. */
function showRace() {
  ui.runbar.scrollIntoView({ block: "start", behavior: "instant" });
}

async function stopRun() {
  const run = state.run;
  if (!run || run.ended) return;
  ui.stop.disabled = true;
  setRunStatus("stopping…", "stopping");
  try {
    await api("DELETE", `/api/runs/${encodeURIComponent(run.id)}`);
  } catch (e) {
    if (run.ended || e.status === 409) return;     // it ended on its own meanwhile
    toast(e.message, "error");
    ui.stop.disabled = false;
    setRunStatus("streaming", "streaming", run.prompt);
  }
}

/** Open a stored (or still running) run with its conversation; its events are replayed by the server. */
async function openRun(id) {
  let runs;
  try {
    runs = await loadThread(id);
  } catch (e) {
    toast(e.status === 404 ? `Run ${id} does not exist (any more).` : e.message, "error");
    return;
  }
  const info = runs[runs.length - 1];
  if (!info) { toast(`Run ${id} does not exist (any more).`, "error"); return; }
  const past = runs.slice(0, -1);
  const providers = info.provider_details?.length ? info.provider_details
    : info.providers?.length ? info.providers : (info.results || []).map((r) => r.provider);
  const names = providers.map((p) => (typeof p === "string" ? p : p.name));
  selectProviders(names);
  const sys = threadSystem(runs);
  setSystem(sys);
  if (sys) system.show(true);
  const run = newRun(String(info.id ?? id), info.prompt || "", providers, past, sys);
  const running = ["running", "pending", "waiting", "streaming"].includes(info.status);
  run.live = running;
  setRunning(running);
  if (running) startTicker(run);
  if (info.prompt) ui.prompt.value = info.prompt;
  if (info.params) {
    ui.maxTokens.value = info.params.max_tokens ?? "";
    ui.temperature.value = info.params.temperature ?? "";
  }
  pushRunURL(run.id);
  setRunStatus(running ? "connecting…" : "loading…", "connecting");
  connect(run);
  showRace();
}

/** Clear the page for a new conversation (the run stays in History). */
function newConversation() {
  const run = state.run;
  if (run) { if (run.stream) run.stream.close(); clearInterval(run.ticker); run.replayTimers.forEach(clearTimeout); }
  state.run = null;
  ui.columns.replaceChildren();
  chart.setColumns([]);
  ui.runbar.hidden = true;
  ui.race.hidden = true;
  followUp.hide();
  followUp.clear();
  ui.empty.hidden = false;
  setRunning(false);
  history.markCurrent(null);
  const url = new URL(location.href);
  url.searchParams.delete("run");
  window.history.pushState(null, "", url);
  ui.prompt.value = "";
  ui.prompt.focus();
  window.scrollTo(0, 0);
}

/** Play the run again in the page, at the speed it streamed (from the events the server sent). */
function replay() {
  const run = state.run;
  if (!run || !run.ended || !run.log.length) return;
  const log = run.log.slice();
  run.replayTimers.forEach(clearTimeout);
  run.replayTimers = [];
  for (const c of run.order) c.clear();
  chart.update();
  updateBars(run, false);
  ui.raceSummary.textContent = "";
  followUp.hide();
  setRunStatus("replaying", "streaming", run.prompt);
  setRunning(true);
  ui.stop.disabled = true;
  run.ended = false;
  run.t0 = performance.now();
  startTicker(run);
  let t = 0;
  log.forEach(([name, d], i) => {
    if (typeof d.t_ms === "number") t = Math.max(t, d.t_ms);
    run.replayTimers.push(setTimeout(() => {
      if (state.run !== run) return;
      dispatch(run, name, d);
      if (i === log.length - 1) finish(run, run.endData);
    }, t));
  });
}

function pushRunURL(id) {
  const url = new URL(location.href);
  url.searchParams.set("run", id);
  url.searchParams.delete("token");
  if (url.href !== location.href) window.history.pushState({ run: id }, "", url);
}

// ---- wiring -----------------------------------------------------------------------------------------------
ui.run.addEventListener("click", () => ask(ui.prompt.value, false));
ui.stop.addEventListener("click", stopRun);
ui.replay.addEventListener("click", replay);
ui.copyLink.addEventListener("click", async () => {
  if (!state.run) return;
  const ok = await copyText(`${location.origin}/?run=${encodeURIComponent(state.run.id)}`);
  toast(ok ? "Link to this run copied" : "Copying is blocked by the browser", ok ? "ok" : "error");
});
document.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
    e.preventDefault();
    if (followUp.isActive()) ask(followUp.value, true);
    else ask(ui.prompt.value, false);
  }
});
ui.prompt.addEventListener("input", () => formError(""));
window.addEventListener("popstate", () => {
  const id = new URL(location.href).searchParams.get("run");
  if (id && id !== state.run?.id) openRun(id);
});

async function main() {
  const url = new URL(location.href);
  if (url.searchParams.has("token")) {
    // the server has set its cookie for this visit: keep the token out of the address bar and copied links
    url.searchParams.delete("token");
    window.history.replaceState(null, "", url);
  }
  [state.providers] = await Promise.all([loadProviders(), loadLimits()]);
  const id = url.searchParams.get("run");
  if (id) await openRun(id);
  document.documentElement.dataset.ready = "true";
}

// a hook for tests and scripts: read-only view of what is on screen
window.tokenrace = {
  get runId() { return state.run?.id ?? null; },
  get ended() { return !!state.run?.ended; },
  get turn() { return state.run?.turnNo ?? null; },
  text(name) { return state.run?.columns.get(name)?.text ?? null; },
  chart() { return chart.snapshot(); },
};

main();
