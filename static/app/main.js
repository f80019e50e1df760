// The backtest page (`/` and `/runs/<id>/`): set up a run, watch it arrive coin by coin, look closer.
//
// One code path for a new run and a stored one: starting a run only creates it (POST /api/runs/),
// moves the address to its shareable /runs/<id>/ and then loads it like any stored run:
//   1. GET /api/runs/<id>/ for what is already stored (rows, counts, summary);
//   2. if it is still running, join its event stream from event 0 (rows are keyed by coin, so
//      replayed results never double); if the stream cannot be held, poll the run instead;
//   3. at the end, the summary cards, and one more GET to settle the final state.
import { ApiError, getAll, getJSON, postJSON, sendJSON } from "./api.js";
import { CoinDetail } from "./coin_detail.js";
import { renderRunRules } from "./run_rules.js";
import { CoinPicker, intervalApply } from "./coins.js";
import { $, dateOnly, el, fmtDateTime, fmtInt, fmtNum, progressSet, show } from "./dom.js";
import { facts, IN_PROGRESS, statusClass, statusLabel } from "./facts.js";
import { FillPresets } from "./fills.js";
import {
  clearErrors, collectRun, formSnapshot, renderParameters, setParameterValues, showErrors, showFormAlert,
} from "./form.js";
import { PortfolioPanel } from "./portfolio.js";
import { Presets } from "./presets.js";
import { RunStream } from "./stream.js";
import { renderSummary } from "./summary.js";
import { COLUMNS, downloadText, ResultsTable, rowFrom, SORT_KEYS } from "./table.js";

const POLL_MS = 2000;
// While the stream is open, the stored run is checked now and then too: a run that ended without a
// `complete` event (its server was restarted and it became interrupted) must not look alive forever.
const WATCHDOG_MS = 15000;
// The sort of the results table lives in the address (?sort=total_return&dir=descending).
const urlSort = (() => {
  const q = new URLSearchParams(window.location.search);
  const key = q.get("sort");
  const dir = q.get("dir") === "ascending" ? "ascending" : "descending";
  return key && SORT_KEYS.has(key) ? { key, dir } : null;
})();

const page = $("#backtest-page");
const form = $("#run-form");
const urls = { strategies: page.dataset.apiStrategies, coins: page.dataset.apiCoins, runs: page.dataset.apiRuns };

const state = {
  strategies: [],
  coins: [],
  strategy: null,
  run: null, // the run detail being shown
  stream: null,
  pollTimer: null,
  watchdog: null,
  total: 0,
  completed: 0,
  finished: false,
  loadToken: 0, // a newer load makes an older one's late answers void
};

const picker = new CoinPicker($("#coins-field"));
const fills = new FillPresets(form);
const detail = new CoinDetail($("#detail-modal"));
const portfolio = new PortfolioPanel($("#portfolio"));
const table = new ResultsTable({
  table: $("#results-table"),
  head: $("#results-head"),
  body: $("#results-body"),
  empty: $("#results-empty"),
  count: $("#results-count"),
  fewNote: $("#few-trades-note"),
  onOpen: openDetail,
  onSort: (sort) => {
    const url = new URL(window.location.href);
    url.searchParams.set("sort", sort.key);
    url.searchParams.set("dir", sort.dir);
    history.replaceState(history.state, "", url.pathname + url.search);
  },
});

// --- Set up a run -----------------------------------------------------------------------------

// The interval's data range bounds the date inputs; untouched dates follow it.
function applyInterval() {
  const interval = $("#interval").value;
  const { first, last } = intervalApply(picker, state.coins, interval);
  state.dataRange = { first, last, interval };
  dateWarnings();
}

// A typed date outside the data is not refused (coins start and end at different times, and the
// server runs on the bars there are), but said next to its field before the run.
function dateWarnings() {
  const { first, last, interval } = state.dataRange || {};
  const start = $("#start_date").value;
  const end = $("#end_date").value;
  $("#start_date-warning").textContent = first && start && start < first
    ? `Before the data: the first ${interval} bar is on ${first}; the run will start there.` : "";
  $("#end_date-warning").textContent = last && end && end > last
    ? `After the data: the last ${interval} bar is on ${last}; the run will end there.` : "";
}

// The template lists every interval the site knows (facts.intervals); keep those with data.
function fillIntervals() {
  const seen = new Set();
  for (const coin of state.coins) for (const s of coin.intervals || []) seen.add(s.interval);
  const select = $("#interval");
  const first = select.options[0]?.value;
  if (seen.size) for (const option of [...select.options]) if (!seen.has(option.value)) option.remove();
  const intervals = [...select.options].map((o) => o.value);
  select.value = intervals.includes("1h") ? "1h" : intervals[0] || first;
}

function selectStrategy(id, values = null) {
  state.strategy = state.strategies.find((s) => String(s.id) === String(id)) || null;
  $("#strategy").value = state.strategy ? String(state.strategy.id) : "";
  $("#strategy-description").textContent = state.strategy?.description || "";
  renderParameters($("#parameter-fields"), state.strategy, values);
}

function resetDefaults() {
  clearErrors(form);
  selectStrategy($("#strategy").value);
  $("#fee_pct").value = String(facts.fee.default);
  fills.reset();
  $("#portfolio_slots").value = "";
  for (const id of ["start_date", "end_date"]) $(`#${id}`).dataset.touched = "false";
  applyInterval();
  picker.search.value = "";
  picker.select(null);
  picker.filter();
}

// A stored run's settings in the form, so it can be tweaked and run again.
function prefill(run) {
  if (!state.strategies.some((s) => s.id === run.strategy?.id)) return;
  selectStrategy(run.strategy.id);
  setParameterValues($("#parameter-fields"), state.strategy, run.parameters || {});
  const interval = $("#interval");
  if ([...interval.options].some((o) => o.value === run.interval)) interval.value = run.interval;
  for (const [id, value] of [["start_date", run.start_date], ["end_date", run.end_date]]) {
    const date = dateOnly(value);
    if (date) {
      $(`#${id}`).value = date;
      $(`#${id}`).dataset.touched = "true";
    }
  }
  applyInterval();
  $("#fee_pct").value = String(run.fee_pct ?? facts.fee.default);
  fills.set({ ...run, fill_preset: run.fill_preset?.key });
  $("#portfolio_slots").value = run.portfolio_slots ?? "";
  picker.select(run.symbols || null);
}

// The form as a snapshot left it (Back to a page, a saved preset).
function applySnapshot(snap) {
  if (!snap || !state.strategies.some((s) => String(s.id) === String(snap.strategy_id))) return;
  selectStrategy(snap.strategy_id);
  setParameterValues($("#parameter-fields"), state.strategy, snap.parameters || {});
  const interval = $("#interval");
  if (snap.interval && [...interval.options].some((o) => o.value === snap.interval)) interval.value = snap.interval;
  for (const id of ["start_date", "end_date"]) $(`#${id}`).dataset.touched = snap.dates_touched ? "true" : "false";
  applyInterval();
  if (snap.dates_touched) {
    $("#start_date").value = snap.start_date || "";
    $("#end_date").value = snap.end_date || "";
  }
  if (snap.fee_pct !== undefined) $("#fee_pct").value = snap.fee_pct;
  if (snap.fill) fills.set(snap);
  if (snap.portfolio_slots !== undefined) $("#portfolio_slots").value = snap.portfolio_slots;
  picker.select(snap.symbols || null);
  dateWarnings();
}

function snapshot() {
  return { ...formSnapshot({ form, strategy: state.strategy, coinPicker: picker }), ...fills.snapshot() };
}

// The current form in this history entry, so Back (and a reload) finds it as it was left.
function rememberForm() {
  history.replaceState({ ...(history.state || {}), form: snapshot() }, "");
}

// A change to the form after a run is shown: say that the results are the shown run's, not the form's.
function markStale() {
  if (!state.run) return;
  const note = $("#stale-note");
  const when = state.run.created_at ? new Date(state.run.created_at).toISOString().replace("T", " ").slice(0, 16) : "";
  note.textContent = `These results are of the run “${state.run.strategy?.name || "run"}”${when ? ` made ${when} UTC` : ""}, `
    + "not of the changed form. Press Run backtest for results of the new settings.";
  show(note, true);
  $("#results-table").classList.add("results-stale");
}

function clearStale() {
  show($("#stale-note"), false);
  $("#results-table").classList.remove("results-stale");
}

async function submitRun(event) {
  event.preventDefault();
  clearErrors(form);
  const { body, errors } = collectRun({ form, strategy: state.strategy, coinPicker: picker });
  fills.collect(body, errors);
  const name = $("#run_name").value.trim();
  if (name) body.name = name;
  if (Object.keys(errors).length) {
    showErrors(form, errors)?.focus();
    return;
  }
  const button = $("#run-button");
  button.disabled = true;
  button.textContent = "Starting…";
  let created;
  try {
    created = await postJSON(urls.runs, body);
  } catch (err) {
    button.disabled = false;
    handleCreateError(err); // a 429 disables the button again until Retry-After has passed
    return;
  } finally {
    button.textContent = "Run backtest";
  }
  button.disabled = false;
  rememberForm();
  history.pushState({ runId: created.id, form: snapshot() }, "", created.page_url || `/runs/${created.id}/`);
  page.dataset.runId = created.id;
  await loadRun(created.id, { prefillForm: false, focus: true });
  $("#run-panel").scrollIntoView({ behavior: "smooth", block: "start" });
}

function handleCreateError(err) {
  if (!(err instanceof ApiError)) throw err;
  if (err.status === 400 && err.body?.errors) {
    const errors = err.body.errors;
    if (["fill", "stop_mode", "slippage_pct"].some((k) => k in errors)) fills.set({ fill_preset: "custom" });
    showErrors(form, errors)?.focus();
  } else if (err.status === 429) {
    const wait = Number.isFinite(err.retryAfter) && err.retryAfter > 0 ? Math.ceil(err.retryAfter) : 5;
    showFormAlert(form, `Too many runs are in progress right now. Please try again in ${wait} second${wait === 1 ? "" : "s"}.`);
    const button = $("#run-button");
    button.disabled = true;
    setTimeout(() => { button.disabled = false; }, wait * 1000);
  } else {
    showFormAlert(form, `The run could not be started: ${err.message}`);
  }
}

// --- Watch it run ------------------------------------------------------------------------------

function stopWatching() {
  state.stream?.close();
  state.stream = null;
  clearTimeout(state.pollTimer);
  state.pollTimer = null;
  clearInterval(state.watchdog);
  state.watchdog = null;
}

function paramLabel(name) {
  const def = (state.strategies.find((s) => s.id === state.run?.strategy?.id)?.parameters || []).find((d) => d.name === name);
  return def?.display_name || name;
}

function renderRunPanel(run) {
  show($("#run-panel"), true);
  $("#run-title").textContent = run.strategy?.name || "Run";
  const params = Object.entries(run.parameters || {}).map(([k, v]) => `${paramLabel(k)} ${v}`).join(" · ");
  const period = `${dateOnly(run.start_date) || "first bar"} → ${dateOnly(run.end_date) || "last bar"}`;
  $("#run-meta").textContent = [params, `${period} · ${run.interval} bars · fee ${fmtNum(run.fee_pct ?? 0)}%`, coinsText(run)]
    .filter(Boolean).join(" | ");
  $("#run-fill-preset").textContent = run.fill_preset?.label || "";
  $("#run-fills-text").textContent = run.fills_text || "";
  renderBars(run);
  renderName(run);
  const link = $("#run-link");
  link.href = run.page_url || `/runs/${run.id}/`;
  link.title = new URL(link.href, window.location.origin).href;
  $("#copy-status").textContent = "";
  show($("#run-demo-badge"), (run.results || []).some((r) => r.is_demo));
  renderRunRules(run, state.strategies.find((s) => s.id === run.strategy?.id));
  setStatus(run.status);
}

// The coins by name (the first dozen, then how many more), not only a count.
function coinsText(run) {
  const symbols = run.coin_symbols?.length ? run.coin_symbols : run.symbols || [];
  if (!symbols.length) return "all coins";
  const shown = symbols.slice(0, 12).join(", ");
  const more = symbols.length > 12 ? ` and ${symbols.length - 12} more` : "";
  return `${symbols.length} coin${symbols.length === 1 ? "" : "s"}: ${shown}${more}`;
}

// The bars the run actually used, and a typed date outside them said as the server says it.
function renderBars(run) {
  $("#run-bars").textContent = run.first_bar
    ? `Bars used: ${fmtDateTime(run.first_bar)} → ${fmtDateTime(run.last_bar)}` : "";
  const warnings = Object.entries(run.warnings || {});
  const box = $("#run-warnings");
  box.replaceChildren(...warnings.map(([field, messages]) => el("div", { dataset: { field }, text: `${FIELD_LABELS[field] || field}: ${messages.join(" ")}` })));
  show(box, warnings.length > 0);
}

const FIELD_LABELS = { start_date: "From", end_date: "To" };

function renderName(run) {
  $("#run-name").textContent = run.name || "";
  $("#run-note").textContent = run.note || "";
  show($("#run-name-line"), Boolean(run.name || run.note));
  if (run.name) $("#run-title").textContent = `${run.name} · ${run.strategy?.name || "Run"}`;
  const finished = !IN_PROGRESS.has(run.status);
  $("#run-delete").disabled = !finished;
  $("#run-delete").title = finished ? "" : "A run in progress cannot be deleted: cancel it first";
  // Someone else's run: its controls would only answer 403, so they are not offered.
  const mine = run.controllable !== false;
  show($("#run-edit"), mine);
  show($("#run-delete"), mine);
  show($("#run-owner-note"), !mine);
}

function setStatus(status) {
  const badge = $("#run-status");
  badge.textContent = statusLabel(status);
  badge.dataset.status = status;
  badge.className = statusClass(status);
  show($("#cancel-button"), IN_PROGRESS.has(status) && state.run?.controllable !== false);
  $("#run-delete").disabled = IN_PROGRESS.has(status);
  if (state.run) state.run.status = status;
}

function setStreamStatus(text) {
  $("#stream-status").textContent = text;
}

function skippedCount() {
  let n = 0;
  for (const r of table.rows.values()) if (r.status === "skipped") n += 1;
  return n;
}

function updateProgress() {
  const done = table.rows.size - skippedCount();
  const completed = Math.max(state.completed, done);
  const total = Math.max(state.total, completed);
  const percent = progressSet(completed, total, state.finished);
  $("#progress-text").textContent = `${fmtInt(completed)} / ${fmtInt(total)} coins · ${percent.toFixed(0)}%`;
  $("#export-csv").disabled = table.rows.size === 0;
}

function upsertStored(run) {
  for (const result of run.results || []) {
    if (result.state === "pending" || (!result.state && result.success == null)) continue;
    table.upsert(rowFrom(result));
  }
}

async function loadRun(runId, { prefillForm = true, focus = false } = {}) {
  const token = ++state.loadToken;
  stopWatching();
  table.clear();
  clearStale();
  show($("#summary"), false);
  portfolio.clear();
  show($("#run-message"), false);
  Object.assign(state, { run: null, total: 0, completed: 0, finished: false });
  page.dataset.settled = "false"; // "true" once the shown run's final state is on the page
  setStreamStatus("Loading…");
  let run;
  try {
    run = await getJSON(`${urls.runs}${runId}/`);
  } catch (err) {
    if (token !== state.loadToken) return;
    show($("#run-panel"), true);
    showRunMessage(`This run could not be loaded: ${err.message}`);
    setStreamStatus("");
    return;
  }
  if (token !== state.loadToken) return;
  state.run = run;
  state.total = run.total || 0;
  state.completed = run.completed || 0;
  if (prefillForm) prefill(run);
  if (prefillForm && history.state?.form) applySnapshot(history.state.form); // Back: the form as it was left
  renderRunPanel(run);
  if (focus) $("#run-title").focus({ preventScroll: true });
  upsertStored(run);
  if (urlSort) table.sortBy(urlSort.key, urlSort.dir);
  updateProgress();
  portfolio.fromRun(run);
  if (IN_PROGRESS.has(run.status)) watch(run, token);
  else finish(run.summary, run.elapsed_time, { settle: false, status: run.status });
}

function watch(run, token) {
  setStreamStatus("Connecting…");
  state.stream = new RunStream({
    eventsUrl: run.events_url || `${urls.runs}${run.id}/events/`,
    runId: run.id,
    handlers: {
      start: (p) => {
        state.total = p.total ?? state.total;
        setStatus("running");
        updateProgress();
      },
      result: (p) => {
        table.upsert(rowFrom(p.data || {}));
        scheduleProgress();
      },
      error: (p) => {
        table.upsert(rowFrom({ ...p, success: false }));
        scheduleProgress();
      },
      progress: (p) => {
        state.completed = Math.max(state.completed, p.completed ?? 0);
        state.total = p.total ?? state.total;
        scheduleProgress();
      },
      portfolio: (p) => portfolio.fromEvent(p, run.id),
      complete: (p) => finish(p.summary, p.elapsed_time, { settle: true }),
      status: (s) => setStreamStatus(s === "live" ? "Live" : "Connection lost; reconnecting…"),
      reconnected: () => reconcile(token),
      lost: () => {
        if (token !== state.loadToken || state.finished) return;
        setStreamStatus("Live updates unavailable; checking every few seconds");
        poll(run.id, token);
      },
    },
  });
  state.stream.open();
  state.watchdog = setInterval(() => reconcile(token), WATCHDOG_MS);
}

// The stored run's counts on the page; the page finished, and true, when the run is over.
function storedApply(run) {
  state.total = run.total || state.total;
  state.completed = Math.max(state.completed, run.completed || 0);
  upsertStored(run);
  updateProgress();
  if (IN_PROGRESS.has(run.status)) return false;
  portfolio.fromRun(run);
  finish(run.summary, run.elapsed_time, { settle: false, status: run.status });
  return true;
}

// Bring the page in line with the stored run; end it there if the run is over.
async function reconcile(token) {
  if (token !== state.loadToken || state.finished || !state.run) return;
  try {
    const run = await getJSON(`${urls.runs}${state.run.id}/`);
    if (token !== state.loadToken || state.finished) return;
    storedApply(run);
  } catch {
    /* the stream or the next check will tell */
  }
}

async function poll(runId, token) {
  if (token !== state.loadToken || state.finished) return;
  try {
    const run = await getJSON(`${urls.runs}${runId}/`);
    if (token !== state.loadToken) return;
    state.run = { ...state.run, ...run };
    if (storedApply(run)) return;
  } catch {
    setStreamStatus("The server is not answering; still trying…");
  }
  state.pollTimer = setTimeout(() => poll(runId, token), POLL_MS);
}

// Progress at most once per animation frame, however many events arrive in it.
let progressFrame = 0;
function scheduleProgress() {
  if (!progressFrame) progressFrame = requestAnimationFrame(() => { progressFrame = 0; updateProgress(); });
}

// The results sorted by return when a run ends, unless the address or the trader chose a sort.
function sortAtEnd() {
  if (!table.sort.key && !table.userSorted) table.sortBy("total_return", "descending");
  else table.flush();
}

// Where the focus goes when a run ends: it stays where the trader put it, unless that is gone
// (the page body, the hidden Cancel button); then to the summary (or the run's title).
function keepFocus() {
  const active = document.activeElement;
  if (active && active !== document.body && active.isConnected && active.offsetParent !== null) return;
  const target = $("#summary").classList.contains("d-none") ? $("#run-title") : $("#summary-title");
  target.focus({ preventScroll: true });
}

function showRunMessage(text) {
  const box = $("#run-message");
  box.textContent = text;
  show(box, Boolean(text));
}

async function finish(summary, elapsed, { settle, status } = {}) {
  const token = state.loadToken;
  stopWatching();
  state.finished = true;
  setStreamStatus("Finished");
  setStatus(status || summary?.status || "completed");
  table.flush();
  // The sort waits for the next frame: the summary is on screen first, and neither makes a long task.
  requestAnimationFrame(() => { if (token === state.loadToken) sortAtEnd(); });
  if (summary) {
    renderSummary($("#summary-cards"), summary, elapsed ?? state.run?.elapsed_time, { skipped: skippedCount() });
    show($("#summary"), true);
    performance.mark("bt:summary-shown");
    if (summary.message) showRunMessage(summary.message);
    else if (summary.status === "cancelled") showRunMessage("The run was cancelled; coins not yet started were skipped.");
    else if (summary.status && summary.status !== "completed") {
      // a run that ended without its own `complete` (a server restart): the stream's final one says how
      showRunMessage(`The run ended as “${statusLabel(summary.status)}”.`);
    }
  } else if (status && status !== "completed") {
    showRunMessage(`The run ended as “${statusLabel(status)}”.`);
  }
  updateProgress();
  requestAnimationFrame(keepFocus); // after the frame: its check of what is visible forces no extra layout
  if (!settle) {
    page.dataset.settled = "true";
    return;
  }
  // The stored run is the final word (skipped coins of a cancelled run, anything the stream missed).
  try {
    const run = await getJSON(`${urls.runs}${state.run.id}/`);
    if (token !== state.loadToken) return;
    state.run = { ...state.run, ...run };
    upsertStored(run);
    setStatus(run.status);
    renderBars(run);
    show($("#run-demo-badge"), (run.results || []).some((r) => r.is_demo));
    table.flush();
    const skipped = skippedCount();
    if (skipped && run.summary) renderSummary($("#summary-cards"), run.summary, run.elapsed_time, { skipped });
    updateProgress();
    // The account panel starts in a task of its own: with hundreds of rows just re-stored above,
    // the two in one task would hold the main thread for too long.
    await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
    if (token !== state.loadToken) return;
    portfolio.fromRun(run);
    keepFocus();
  } catch {
    /* the rows from the stream stand */
  }
  if (token === state.loadToken) page.dataset.settled = "true";
}

async function cancelRun() {
  if (!state.run) return;
  const button = $("#cancel-button");
  button.disabled = true;
  try {
    await postJSON(`${urls.runs}${state.run.id}/cancel/`, {});
    showRunMessage("Cancelling: coins already running finish, the rest are skipped.");
  } catch (err) {
    showRunMessage(err.status === 409 ? "The run had already finished." : `Could not cancel: ${err.message}`);
  } finally {
    button.disabled = false;
  }
}

// --- Look closer --------------------------------------------------------------------------------

let lastOpener = null;

function modal() {
  return window.bootstrap ? window.bootstrap.Modal.getOrCreateInstance($("#detail-modal")) : null;
}

// Tab and Shift+Tab cycle inside the open dialog. Bootstrap's trap only pulls the focus back once
// it has landed outside, so the Tab after the last control left it on <body> for one step.
function trapFocus(event) {
  if (event.key !== "Tab") return;
  const dialog = $("#detail-modal");
  const stops = [...dialog.querySelectorAll('a[href], button:not([disabled]), input, select, [tabindex]:not([tabindex="-1"])')]
    .filter((e) => e.offsetParent !== null && !e.closest("[hidden]"));
  if (!stops.length) return;
  const first = stops[0];
  const last = stops.at(-1);
  if (event.shiftKey && (document.activeElement === first || document.activeElement === dialog)) {
    event.preventDefault();
    last.focus();
  } else if (!event.shiftKey && document.activeElement === last) {
    event.preventDefault();
    first.focus();
  }
}

function openDetail(row) {
  if (!state.run) return;
  lastOpener = table.trs.get(row.symbol)?.querySelector("button") || null;
  const dialog = $("#detail-modal");
  const visible = dialog.classList.contains("show")
    ? Promise.resolve()
    : new Promise((resolve) => dialog.addEventListener("shown.bs.modal", resolve, { once: true }));
  modal()?.show();
  detail.load(state.run, row, window.bootstrap ? visible : Promise.resolve());
}

// --- Name, note, delete ---------------------------------------------------------------------------

function openEdit(open) {
  show($("#run-edit-form"), open);
  $("#run-edit").setAttribute("aria-expanded", String(open));
  if (open) {
    $("#edit-name").value = state.run?.name || "";
    $("#edit-note").value = state.run?.note || "";
    $("#edit-name").focus();
  }
}

async function saveEdit(event) {
  event.preventDefault();
  if (!state.run) return;
  const editForm = $("#run-edit-form");
  for (const n of editForm.querySelectorAll(".is-invalid")) n.classList.remove("is-invalid");
  try {
    const run = await sendJSON("PATCH", `${urls.runs}${state.run.id}/`, { name: $("#edit-name").value, note: $("#edit-note").value });
    state.run = { ...state.run, name: run.name, note: run.note };
    renderName(state.run);
    openEdit(false);
    $("#run-edit-status").textContent = "Saved.";
    $("#run-edit").focus();
  } catch (err) {
    const errors = err.body?.errors || {};
    for (const [field, messages] of Object.entries(errors)) {
      const input = $(`#edit-${field}`);
      if (!input) continue;
      input.classList.add("is-invalid");
      $(`#edit-${field}-error`).textContent = [].concat(messages).join(" ");
    }
    if (!Object.keys(errors).length) $("#run-edit-status").textContent = `Could not save: ${err.message}`;
  }
}

// Delete asks once more on the page (no browser dialog), then goes to the list of runs.
async function deleteRun(confirmed) {
  if (!state.run) return;
  const confirm = $("#run-delete-confirm");
  if (!confirmed) {
    show(confirm, true);
    confirm.focus();
    $("#run-edit-status").textContent = "Deleting removes its results and events for good.";
    return;
  }
  try {
    await sendJSON("DELETE", `${urls.runs}${state.run.id}/`);
  } catch (err) {
    show(confirm, false);
    $("#run-edit-status").textContent = err.status === 409 ? "The run is in progress: cancel it first." : `Could not delete: ${err.message}`;
    return;
  }
  window.location.assign(`/runs/?deleted=${encodeURIComponent(state.run.name || state.run.id.slice(0, 8))}`);
}

// --- Sweep: this form as a new sweep ------------------------------------------------------------

// /sweeps/new with the form in its query string (strategy, each parameter as p.<name>, dates, interval,
// fee and fill options, coins); the sweep form reads the same names.
function sweepUrl() {
  const { body } = collectRun({ form, strategy: state.strategy, coinPicker: picker });
  fills.collect(body, {});
  const q = new URLSearchParams();
  if (body.strategy_id) q.set("strategy", String(body.strategy_id));
  for (const [name, value] of Object.entries(body.parameters || {})) q.set(`p.${name}`, String(value));
  for (const key of ["start_date", "end_date", "interval", "fee_pct", "fill", "stop_mode", "slippage_pct"]) {
    if (body[key] !== undefined && body[key] !== null && !Number.isNaN(body[key])) q.set(key, String(body[key]));
  }
  if (body.symbols?.length) q.set("symbols", body.symbols.join(","));
  return `${$("#sweep-button").dataset.url || "/sweeps/new"}?${q}`;
}

// --- Columns ---------------------------------------------------------------------------------------

function renderColumnChooser() {
  const list = $("#columns-list");
  list.replaceChildren(...COLUMNS.filter((c) => !c.fixed).map((col) => {
    const id = `col-${col.key}`;
    const box = el("input", { class: "form-check-input", type: "checkbox", id, value: col.key });
    box.checked = table.shown.has(col.key);
    box.addEventListener("change", () => {
      const keys = new Set([...list.querySelectorAll("input:checked")].map((b) => b.value));
      table.setColumns(keys);
    });
    return el("div", { class: "form-check small" }, box,
      el("label", { class: "form-check-label text-nowrap", for: id, text: col.label, title: col.title }));
  }));
}

// --- Wiring -------------------------------------------------------------------------------------

async function copyLink() {
  const url = new URL($("#run-link").href, window.location.origin).href;
  const status = $("#copy-status");
  try {
    await navigator.clipboard.writeText(url);
    status.textContent = "Link copied";
  } catch {
    status.textContent = `Copy this link: ${url}`;
  }
}

function exportCsv() {
  const name = state.run ? `backtest-${state.run.strategy?.key || "run"}-${state.run.id.slice(0, 8)}.csv` : "backtest.csv";
  downloadText(name, table.toCSV());
}

async function init() {
  form.addEventListener("submit", submitRun);
  $("#strategy").addEventListener("change", (e) => {
    clearErrors(form);
    selectStrategy(e.target.value);
  });
  $("#interval").addEventListener("change", applyInterval);
  for (const id of ["start_date", "end_date"]) {
    $(`#${id}`).addEventListener("change", (e) => { e.target.dataset.touched = "true"; });
  }
  $("#reset-defaults").addEventListener("click", () => { resetDefaults(); markStale(); rememberForm(); });
  $("#copy-link").addEventListener("click", copyLink);
  // Any change to the form: the shown results are marked as the shown run's, and Back will find it.
  for (const type of ["input", "change"]) {
    form.addEventListener(type, (event) => {
      if (event.target.closest("#presets") || event.target.id === "coin-search" || event.target.id === "run_name") return;
      markStale();
      rememberForm();
    });
  }
  const presets = new Presets({
    root: $("#presets"),
    snapshot,
    apply: (snap) => { clearErrors(form); applySnapshot(snap); markStale(); rememberForm(); },
    strategyName: (id) => state.strategies.find((s) => String(s.id) === String(id))?.name || "",
  });
  $("#export-csv").addEventListener("click", exportCsv);
  renderColumnChooser();
  $("#columns-reset").addEventListener("click", () => { table.setColumns(null); renderColumnChooser(); });
  $("#run-edit").addEventListener("click", () => openEdit($("#run-edit-form").classList.contains("d-none")));
  $("#run-edit-cancel").addEventListener("click", () => openEdit(false));
  $("#run-edit-form").addEventListener("submit", saveEdit);
  $("#run-delete").addEventListener("click", () => deleteRun(false));
  $("#run-delete-confirm").addEventListener("click", () => deleteRun(true));
  $("#sweep-button").addEventListener("click", () => window.location.assign(sweepUrl()));
  for (const id of ["start_date", "end_date"]) $(`#${id}`).addEventListener("input", dateWarnings);
  $("#cancel-button").addEventListener("click", cancelRun);
  const modalEl = $("#detail-modal");
  modalEl.addEventListener("keydown", trapFocus);
  modalEl.addEventListener("hidden.bs.modal", () => {
    detail.dispose();
    lastOpener?.focus();
  });
  window.addEventListener("popstate", () => window.location.reload());

  try {
    const [strategies, coins] = await Promise.all([
      getAll(urls.strategies),
      getAll(`${urls.coins}?page_size=10000`),
    ]);
    state.strategies = strategies.filter((s) => s.is_active !== false);
    state.coins = coins.filter((c) => c.is_active !== false);
  } catch (err) {
    showFormAlert(form, `The strategies and coins could not be loaded: ${err.message}`);
    return;
  }
  const select = $("#strategy");
  select.replaceChildren(...state.strategies.map((s) => el("option", { value: String(s.id), text: s.name })));
  select.disabled = state.strategies.length === 0;
  if (!state.strategies.length) showFormAlert(form, "No strategy is active; switch one on in the admin.");
  fillIntervals();
  presets.render(); // now with the strategies' names
  selectStrategy(state.strategies[0]?.id);
  applyInterval();
  $("#run-button").disabled = state.strategies.length === 0;
  $("#sweep-button").disabled = state.strategies.length === 0;
  if (page.dataset.runId) await loadRun(page.dataset.runId, { prefillForm: true });
  else if (history.state?.form) applySnapshot(history.state.form); // Back to the page: the form as it was left
  page.dataset.ready = "true";
}

init().catch((err) => showFormAlert(form, `Something went wrong: ${err.message}`));
