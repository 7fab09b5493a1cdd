// tokenrace dashboard: the prompt form, one run at a time over one EventSource, columns, chart, history.
import { Column } from "/static/columns.js";
import { RaceChart, renderBars } from "/static/chart.js";
import { History } from "/static/history.js";
import { RunStream } from "/static/stream.js";
import { formError, loadProviders, readParams, selectedProviders, setupTheme } from "/static/form.js";
import { PALETTE_SIZE, api, colorOf, copyText, downloadJSON, fmtMs, fmtRate, icon, toast } from "/static/util.js";

const $ = (role, root = document) => root.querySelector(`[data-role="${role}"]`);

const ui = {
  prompt: $("prompt"), run: $("run"), stop: $("stop"), maxTokens: $("max-tokens"), temperature: $("temperature"),
  runbar: $("runbar"), runStatus: $("run-status"),
  runPrompt: $("run-prompt"), runClock: $("run-clock"), race: $("race"), chart: $("chart"),
  raceSummary: $("race-summary"), barsTtft: $("bars-ttft"), barsRate: $("bars-rate"), columns: $("columns"),
  empty: $("empty"), copyLink: $("copy-link"), exportBtn: $("export"), replay: $("replay"),
};

const state = {
  providers: [],           // [{name, kind, model}] from /api/providers
  run: null,               // the run on screen, see newRun()
};

const chart = new RaceChart(ui.chart);
const history = new History($("history"), $("history-toggle"), (id) => openRun(id));

setupTheme(() => chart.rebuild());

// ---- runs --------------------------------------------------------------------------------------------------
function providerInfo(p) {
  const name = typeof p === "string" ? p : p.name;
  const known = state.providers.find((q) => q.name === name) || {};
  return { name, kind: (typeof p === "object" && p.kind) || known.kind || "", model: (typeof p === "object" && p.model) || known.model || "" };
}

function newRun(id, prompt, providers) {
  const old = state.run;
  if (old) { if (old.stream) old.stream.close(); clearInterval(old.ticker); old.replayTimers?.forEach(clearTimeout); }
  ui.columns.replaceChildren();
  const run = {
    id, prompt, columns: new Map(), order: [], stream: null, log: [], ended: false, endData: null,
    t0: performance.now(), ticker: 0, live: false, barsTimer: 0, replayTimers: [],
  };
  state.run = run;
  providers.map(providerInfo).forEach((p) => addColumn(run, p));
  ui.empty.hidden = true;
  ui.runbar.hidden = false;
  ui.race.hidden = false;
  chart.setColumns(run.order);
  ui.runPrompt.textContent = prompt || "";
  ui.runPrompt.title = prompt || "";
  ui.raceSummary.textContent = "";
  updateBars(run, false);
  history.markCurrent(id);
  return run;
}

function addColumn(run, p) {
  // a provider keeps its colour (its place in the configured list) in chips, columns, chart and bars
  // (or the next free one when two providers of this run would share it: the palette repeats after 16)
  let i = state.providers.findIndex((q) => q.name === p.name);
  if (i < 0) i = state.providers.length + run.order.length;
  const used = new Set(run.order.map((c) => c.color));
  for (let k = 0; k < PALETTE_SIZE && used.has(colorOf(i)); k++) i++;
  const col = new Column(p, colorOf(i), run.order.length);
  run.columns.set(p.name, col);
  run.order.push(col);
  ui.columns.append(col.root);
  ui.columns.dataset.count = String(run.order.length);
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

function setRunStatus(text, stateName) {
  ui.runStatus.textContent = text;
  ui.runStatus.dataset.state = stateName;
  document.title = stateName === "streaming" || stateName === "reconnecting"
    ? `● ${state.run?.prompt?.slice(0, 40) || "running"} — tokenrace` : "tokenrace — compare LLM providers live";
}

function setRunning(running) {
  ui.run.disabled = running;
  ui.stop.disabled = !running;
  ui.replay.disabled = running;
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
  const win = renderBars(ui.barsTtft, ui.barsRate, run.order, final);
  if (final) {
    for (const c of run.order) {
      const b = [];
      if (win.ttft === c) b.push(["bolt", "first token"]);
      if (win.rate === c) b.push(["trophy", "fastest"]);
      c.setBadges(b);
    }
    const parts = [];
    const part = (name, who, text) => {
      const span = document.createElement("span");
      span.className = "summary-item";
      const b = document.createElement("b");
      b.textContent = who;
      span.append(icon(name), b, ` ${text}`);
      return span;
    };
    if (win.ttft) parts.push(part("bolt", win.ttft.name, `first token in ${fmtMs(win.ttft.result.ttft_ms)}`));
    if (win.rate) parts.push(part("trophy", win.rate.name, `streams ${fmtRate(win.rate.result.tokens_per_s)}`));
    ui.raceSummary.replaceChildren(...parts);
  }
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
    case "delta": col.delta(d); chart.update(); break;
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
      else if (s === "live") setRunStatus(run.live ? "streaming" : "loading", "streaming");
      else if (s === "reconnecting") setRunStatus("reconnecting…", "reconnecting");
      else if (s === "failed") {
        setRunStatus("connection lost", "failed");
        setRunning(false);
        clearInterval(run.ticker);
      }
    },
  }).open();
}

async function startRun() {
  if (state.run && !state.run.ended && state.run.live) return;
  const prompt = ui.prompt.value;
  if (!prompt.trim()) { formError("Write a prompt first."); ui.prompt.focus(); return; }
  const names = selectedProviders();
  if (!names.length) { formError("Pick at least one provider."); return; }
  let params;
  try { params = readParams(); } catch (e) { formError(e.message); return; }
  formError("");
  setRunning(true);
  const body = { prompt, providers: names };
  if (Object.keys(params).length) body.params = params;
  let created;
  try {
    created = await api("POST", "/api/runs", body);
  } catch (e) {
    setRunning(false);
    formError(e.message);
    return;
  }
  const run = newRun(String(created.id), prompt, created.providers?.length ? created.providers : names);
  run.live = true;
  pushRunURL(run.id);
  setRunStatus("connecting…", "connecting");
  startTicker(run);
  connect(run);
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
    setRunStatus("streaming", "streaming");
  }
}

/** Open a stored (or still running) run: its summary from the API, then its events replayed by the server. */
async function openRun(id) {
  let info;
  try {
    info = await api("GET", `/api/runs/${encodeURIComponent(id)}`);
  } catch (e) {
    toast(e.status === 404 ? `Run ${id} does not exist (any more).` : e.message, "error");
    return;
  }
  const providers = info.provider_details?.length ? info.provider_details
    : info.providers?.length ? info.providers : (info.results || []).map((r) => r.provider);
  const run = newRun(String(info.id ?? id), info.prompt || "", providers);
  const running = info.status === "running" || info.status === "pending";
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
}

/** Play the run again in the page, at the speed it streamed (from the events the server sent). */
function replay() {
  const run = state.run;
  if (!run || !run.ended || !run.log.length) return;
  const log = run.log.slice();
  run.replayTimers.forEach(clearTimeout);
  run.replayTimers = [];
  for (const c of run.order) { c.clear(); c.setBadges([]); }
  chart.update();
  updateBars(run, false);
  ui.raceSummary.textContent = "";
  setRunStatus("replaying", "streaming");
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

async function exportRun() {
  const run = state.run;
  if (!run) return;
  let data;
  try {
    data = await api("GET", `/api/runs/${encodeURIComponent(run.id)}`);
  } catch {
    data = { id: run.id, prompt: run.prompt, results: run.order.map((c) => c.result).filter(Boolean) };
  }
  downloadJSON(`tokenrace-run-${run.id}.json`, data);
}

// ---- wiring -----------------------------------------------------------------------------------------------
ui.run.addEventListener("click", startRun);
ui.stop.addEventListener("click", stopRun);
ui.replay.addEventListener("click", replay);
ui.exportBtn.addEventListener("click", exportRun);
ui.copyLink.addEventListener("click", async () => {
  if (!state.run) return;
  const ok = await copyText(`${location.origin}/?run=${encodeURIComponent(state.run.id)}`);
  toast(ok ? "Link to this run copied" : "Copying is blocked by the browser", ok ? "ok" : "error");
});
document.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
    e.preventDefault();
    startRun();
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
  state.providers = await loadProviders();
  const id = url.searchParams.get("run");
  if (id) await openRun(id);
  document.documentElement.dataset.ready = "true";
}

// a hook for tests and scripts: read-only view of what is on screen
window.tokenrace = {
  get runId() { return state.run?.id ?? null; },
  get ended() { return !!state.run?.ended; },
  text(name) { return state.run?.columns.get(name)?.text ?? null; },
};

main();
