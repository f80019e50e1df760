// The new-sweep page (`/sweeps/new`): the parameter form generated from the strategy's definitions
// (form.js builds each fixed input, as on the run page), each parameter fixed or swept over a range
// or a list; the cell and skipped counts come live from POST /api/sweeps/preview/ (debounced) while
// the form is edited; Start POSTs /api/sweeps/ and shows the sweep's view in place of the form (the
// address becomes the sweep's page, /sweeps/<id>/, which shows the same view when reloaded).
import { ApiError, getAll, postJSON } from "./api.js";
import { CoinPicker, intervalApply } from "./coins.js";
import { $, $$, el, fmtInt, show } from "./dom.js";
import {
  activeDefinitions, checkParameter, clearErrors, numberStep, paramKey, renderParameters, showErrors, showFormAlert,
} from "./form.js";
import { facts } from "./facts.js";
import { aggregateLabel, sweepOptions } from "./sweep_common.js";

const PREVIEW_DELAY_MS = 300;

const form = $("#sweep-form");
const options = sweepOptions();
const INTERVAL_ORDER = options.intervals; // market_data.models.INTERVALS, through the sweep-options block
const urls = {
  strategies: form.dataset.apiStrategies, coins: form.dataset.apiCoins,
  sweeps: form.dataset.apiSweeps, preview: form.dataset.apiPreview,
};
const state = {
  strategies: [], coins: [], strategy: null, previewTimer: null, previewAbort: null, previewOk: false,
  shownPath: window.location.pathname, // the address of what the page shows: the form's, then a sweep's
};
let sweepView = null; // import("./sweep_page.js"), begun once the form is ready (ECharts with it)
const sweepViewLoad = () => (sweepView ||= import("./sweep_page.js").catch(() => null));
const picker = new CoinPicker($("#coins-field"));

const gridKey = (name) => `grid.${name}`;
const isNumeric = (def) => def.type === "integer" || def.type === "number";

// --- One parameter: fixed, a range or a list ----------------------------------------------------

function defaultRange(def) {
  const d = Number(def.default ?? def.min ?? 1);
  const lo = Math.max(def.min ?? -Infinity, def.type === "integer" ? Math.max(1, Math.round(d / 2)) : d / 2);
  const hi = Math.min(def.max ?? Infinity, d * 2 || lo + 10);
  const raw = (hi - lo) / 5;
  const step = def.type === "integer" ? Math.max(1, Math.round(raw)) : Number(raw.toPrecision(2)) || Number(numberStep(def));
  return { from: lo, to: hi, step };
}

// A range's from, to or step: "from" on screen, "Fast MA period from" for a screen reader.
function numberInput(def, id, label, part, value) {
  const integer = def.type === "integer";
  return el("div", { class: "col-4" },
    el("label", { class: "form-label small mb-0", for: id }, el("span", { class: "visually-hidden", text: `${label} ` }), part),
    el("input", {
      class: "form-control form-control-sm", type: "number", id, value: value ?? "",
      min: def.min ?? undefined, max: def.max ?? undefined, step: integer ? "1" : "any",
      inputmode: integer ? "numeric" : "decimal",
    }));
}

function sweepRow(def, swept) {
  const name = def.name;
  const label = def.display_name || name;
  const fixed = el("div", { class: "row g-2 sweep-fixed" });
  renderParameters(fixed, { parameters: [def] });
  for (const wrapper of fixed.children) wrapper.className = "col-12";

  const mode = el("select", { class: "form-select form-select-sm sweep-mode", id: `mode-${name}`, "aria-label": `How ${label} is set` },
    el("option", { value: "fixed", text: "Fixed" }),
    isNumeric(def) ? el("option", { value: "range", text: "Swept: range" }) : null,
    el("option", { value: "list", text: "Swept: list" }));

  const range = defaultRange(def);
  const rangePart = el("div", { class: "row g-2 sweep-range" },
    numberInput(def, `range-${name}-from`, label, "from", range.from),
    numberInput(def, `range-${name}-to`, label, "to", range.to),
    numberInput(def, `range-${name}-step`, label, "step", range.step));

  let listPart;
  if (def.type === "select" || def.type === "boolean") {
    const values = def.type === "boolean" ? ["true", "false"] : def.options || [];
    listPart = el("div", { class: "sweep-list", role: "group", "aria-label": `${label}: values to sweep` },
      ...values.map((value, i) => {
        const id = `list-${name}-${i}`;
        const box = el("input", { class: "form-check-input", type: "checkbox", id, value });
        box.checked = true;
        return el("div", { class: "form-check form-check-inline" }, box,
          el("label", { class: "form-check-label small", for: id, text: value }));
      }));
  } else {
    const id = `list-${name}`;
    listPart = el("div", { class: "sweep-list" },
      el("label", { class: "form-label small mb-0", for: id, text: `${label}: values, comma separated` }),
      el("input", { class: "form-control form-control-sm", type: "text", id, value: def.default ?? "", inputmode: "decimal" }));
  }
  const feedback = el("div", { class: "invalid-feedback", id: `grid-${name}-error` });
  const sweepPart = el("div", { class: "sweep-part", dataset: { field: gridKey(name) } }, rangePart, listPart, feedback);

  const row = el("div", { class: "sweep-param border rounded p-2 bg-body", dataset: { param: name } },
    el("div", { class: "d-flex flex-wrap align-items-center gap-2 mb-1" },
      el("span", { class: "fw-semibold small me-auto", text: label }),
      el("span", { class: "badge text-bg-info sweep-badge", text: "swept" }),
      mode),
    fixed, sweepPart);
  const apply = () => {
    const m = mode.value;
    show(fixed, m === "fixed");
    show(sweepPart, m !== "fixed");
    show(rangePart, m === "range");
    show(listPart, m === "list");
    $(".sweep-badge", row).classList.toggle("invisible", m === "fixed");
  };
  mode.addEventListener("change", apply);
  mode.value = swept ? (isNumeric(def) ? "range" : "list") : "fixed";
  apply();
  return row;
}

function renderSweepParams() {
  const defs = activeDefinitions(state.strategy);
  let numeric = 0;
  $("#sweep-params").replaceChildren(...defs.map((def) => {
    const swept = isNumeric(def) && numeric < 2 && def.name !== "stop_loss_threshold";
    if (swept) numeric += 1;
    return sweepRow(def, swept);
  }));
}

// --- The body -----------------------------------------------------------------------------------

function numberOf(raw) {
  const text = String(raw).trim();
  if (text === "") return null;
  const value = Number(text);
  return Number.isFinite(value) ? value : null;
}

function listValues(def, row) {
  if (def.type === "boolean") return $$(".sweep-list input:checked", row).map((b) => b.value === "true");
  if (def.type === "select") return $$(".sweep-list input:checked", row).map((b) => b.value);
  return $(".sweep-list input", row).value.split(/[,;\s]+/).filter(Boolean).map((t) => (numberOf(t) ?? t));
}

export function collectSweep() {
  const errors = {};
  const body = {};
  if (!state.strategy) errors.strategy_id = ["choose a strategy"];
  else body.strategy_id = state.strategy.id;
  const parameters = {};
  const grid = {};
  for (const def of activeDefinitions(state.strategy)) {
    const row = $(`.sweep-param[data-param="${CSS.escape(def.name)}"]`);
    if (!row) continue;
    const mode = $(".sweep-mode", row).value;
    if (mode === "fixed") {
      const input = $(`#${CSS.escape(`param-${def.name}`)}`, row);
      const [value, error] = checkParameter(def, input);
      if (error) errors[paramKey(def.name)] = [error];
      else parameters[def.name] = value;
    } else if (mode === "range") {
      const [from, to, step] = ["from", "to", "step"].map((p) => numberOf($(`#range-${CSS.escape(def.name)}-${p}`, row).value));
      if (from === null || to === null || step === null) errors[gridKey(def.name)] = ["from, to and step must be numbers"];
      else grid[def.name] = { from, to, step };
    } else {
      const values = listValues(def, row);
      if (!values.length) errors[gridKey(def.name)] = ["give at least one value"];
      else grid[def.name] = values;
    }
  }
  if (state.strategy && !Object.keys(grid).length && !Object.keys(errors).length) {
    errors.grid = ["sweep at least one parameter (choose a range or a list)"];
  }
  body.parameters = parameters;
  body.grid = grid;

  if ($("#search-mode").value === "random") {
    body.search = { random: numberOf($("#random-n").value), seed: numberOf($("#random-seed").value) ?? 0 };
  } else body.search = "grid";
  body.objective = $("#objective").value;
  const testStart = $("#test_start").value;
  if (testStart) body.test_start = testStart;
  const folds = numberOf($("#wf-folds").value);
  if (folds) body.walk_forward = { folds, mode: $("#wf-mode").value };

  const start = $("#start_date").value;
  const end = $("#end_date").value;
  if (start) body.start_date = start;
  if (end) body.end_date = end;
  body.interval = $("#interval").value;
  body.fee_pct = numberOf($("#fee_pct").value) ?? 0;
  body.slippage_pct = numberOf($("#slippage_pct").value) ?? 0;
  body.fill = $("#fill").value;
  body.stop_mode = $("#stop_mode").value;
  const symbols = picker.selected();
  if (!symbols.length) errors.symbols = ["choose at least one coin"];
  else if (!picker.allSelected()) body.symbols = symbols;
  return { body, errors };
}

// --- Live counts --------------------------------------------------------------------------------

function setPreview(data, note = "") {
  const p = $("#preview");
  $("#preview-cells").textContent = data ? fmtInt(data.cells) : "–";
  $("#preview-skipped").textContent = data ? fmtInt(data.skipped) : "–";
  $("#preview-coins").textContent = data ? fmtInt(data.coins) : "–";
  $("#preview-note").textContent = data ? `${fmtInt(data.cells * data.coins)} backtests${note}` : note;
  p.dataset.cells = data ? String(data.cells) : "";
  p.dataset.skipped = data ? String(data.skipped) : "";
  state.previewOk = Boolean(data && data.cells > 0);
  $("#start-button").disabled = !state.previewOk;
}

function schedulePreview() {
  clearTimeout(state.previewTimer);
  state.previewTimer = setTimeout(preview, PREVIEW_DELAY_MS);
}

async function preview() {
  state.previewAbort?.abort();
  clearErrors(form);
  const { body, errors } = collectSweep();
  if (Object.keys(errors).length) {
    showErrors(form, errors);
    setPreview(null, "fix the fields marked in red");
    return;
  }
  const abort = new AbortController();
  state.previewAbort = abort;
  form.dataset.previewing = "true";
  try {
    const data = await postJSON(urls.preview, body, { signal: abort.signal });
    setPreview(data);
  } catch (err) {
    if (err.name === "AbortError") return;
    if (err instanceof ApiError && err.status === 400 && err.body?.errors) {
      showErrors(form, err.body.errors);
      setPreview(null, "fix the fields marked in red");
    } else setPreview(null, `counts unavailable: ${err.message}`);
  } finally {
    if (state.previewAbort === abort) form.dataset.previewing = "false";
  }
}

// --- Start ----------------------------------------------------------------------------------------

async function submit(event) {
  event.preventDefault();
  clearTimeout(state.previewTimer);
  state.previewAbort?.abort();
  clearErrors(form);
  const { body, errors } = collectSweep();
  if (Object.keys(errors).length) {
    showErrors(form, errors)?.focus();
    return;
  }
  const button = $("#start-button");
  button.disabled = true;
  button.textContent = "Starting…";
  try {
    const created = await postJSON(urls.sweeps, body);
    await showSweep(created);
  } catch (err) {
    button.disabled = false;
    button.textContent = "Start sweep";
    if (!(err instanceof ApiError)) throw err;
    if (err.status === 400 && err.body?.errors) showErrors(form, err.body.errors)?.focus();
    else if (err.status === 429) {
      const wait = Number.isFinite(err.retryAfter) && err.retryAfter > 0 ? Math.ceil(err.retryAfter) : 5;
      showFormAlert(form, `Too many runs and sweeps are in progress. Please try again in ${wait} s.`);
    } else showFormAlert(form, `The sweep could not be started: ${err.message}`);
  }
}

// The started sweep in place of the form: the view of /sweeps/<id>/ (the page's <template>), mounted
// with the POST's answer so that its stream is joined at once, and that page's address. Back (or
// anything the view cannot do here) loads the page the address names.
async function showSweep(created) {
  const pageUrl = created.page_url || `/sweeps/${created.id}/`;
  const view = await sweepViewLoad();
  if (!view) {
    window.location.assign(pageUrl);
    return;
  }
  const root = $("#sweep-view").content.firstElementChild.cloneNode(true);
  root.dataset.sweepId = created.id;
  root.dataset.apiSweep = created.url;
  form.replaceWith(root);
  history.pushState({ sweep: created.id }, "", pageUrl);
  state.shownPath = window.location.pathname;
  for (const [id, current] of [["#nav-sweep", false], ["#nav-sweeps", true]]) {
    $(id).classList.toggle("active", current); // as /sweeps/<id>/ shows the nav
    if (current) $(id).setAttribute("aria-current", "page");
    else $(id).removeAttribute("aria-current");
  }
  window.scrollTo(0, 0);
  const labels = Object.fromEntries((state.strategy?.parameters || []).map((p) => [p.name, p.display_name || p.name]));
  await view.mount(root, { created, labels });
}

// --- Setup ----------------------------------------------------------------------------------------

function applyInterval() {
  const interval = $("#interval").value;
  const { first, last } = intervalApply(picker, state.coins, interval);
  $("#test_start").min = first;
  $("#test_start").max = last;
}

function selectStrategy(id) {
  state.strategy = state.strategies.find((s) => String(s.id) === String(id)) || null;
  $("#strategy").value = state.strategy ? String(state.strategy.id) : "";
  $("#strategy-description").textContent = state.strategy?.description || "";
  renderSweepParams();
}

function fillSelect(select, values, labels = {}, selected = null) {
  select.replaceChildren(...values.map((v) => el("option", { value: v, text: labels[v] || v })));
  if (selected && values.includes(selected)) select.value = selected;
}

// The run page's "Sweep…" opens this page with its form in the query string: each parameter as
// p.<name> (its fixed value), dates, interval, fee, fill options and coins.
function prefillFromQuery(query) {
  for (const def of activeDefinitions(state.strategy)) {
    const raw = query.get(`p.${def.name}`);
    if (raw === null) continue;
    const input = $(`#${CSS.escape(`param-${def.name}`)}`, $("#sweep-params"));
    if (!input) continue;
    if (def.type === "boolean") input.checked = raw === "true";
    else input.value = raw;
    const list = $(`#${CSS.escape(`list-${def.name}`)}`);
    if (list && list.type === "text") list.value = raw;
  }
  const interval = query.get("interval");
  if (interval && [...$("#interval").options].some((o) => o.value === interval)) {
    $("#interval").value = interval;
    applyInterval();
  }
  for (const id of ["start_date", "end_date"]) {
    const value = query.get(id);
    if (value) {
      $(`#${id}`).value = value.slice(0, 10);
      $(`#${id}`).dataset.touched = "true";
    }
  }
  for (const id of ["fee_pct", "slippage_pct", "fill", "stop_mode"]) {
    const value = query.get(id);
    if (value !== null && $(`#${id}`)) $(`#${id}`).value = value;
  }
  const symbols = query.get("symbols");
  if (symbols) picker.select(symbols.split(",").filter(Boolean));
}

async function init() {
  const objectiveLabels = Object.fromEntries((options.aggregates || []).map((a) => [a, aggregateLabel(a)]));
  fillSelect($("#objective"), options.aggregates || [], objectiveLabels, options.objective);
  // The options' labels are the server's (runs.models FILL_LABELS, through the page facts).
  const labels = (name) => Object.fromEntries((facts.fill_options?.[name]?.options || []).map((o) => [o.value, o.label]));
  fillSelect($("#fill"), options.fill || ["close"], labels("fill"));
  fillSelect($("#stop_mode"), options.stop_mode || ["close"], labels("stop_mode"));
  try {
    [state.strategies, state.coins] = await Promise.all([getAll(urls.strategies), getAll(urls.coins)]);
  } catch (err) {
    showFormAlert(form, `Could not load the strategies and coins: ${err.message}`);
    return;
  }
  const strategySelect = $("#strategy");
  strategySelect.replaceChildren(...state.strategies.map((s) => el("option", { value: String(s.id), text: s.name })));
  strategySelect.disabled = false;
  const seen = new Set();
  for (const coin of state.coins) for (const s of coin.intervals || []) seen.add(s.interval);
  const intervals = INTERVAL_ORDER.filter((i) => seen.has(i));
  fillSelect($("#interval"), intervals.length ? intervals : ["1h"], {}, "1h");
  applyInterval();
  const query = new URLSearchParams(window.location.search);
  const wanted = query.get("strategy");
  const initial = state.strategies.find((s) => String(s.id) === wanted || s.key === wanted) || state.strategies[0];
  selectStrategy(initial?.id);
  prefillFromQuery(query);

  strategySelect.addEventListener("change", () => {
    selectStrategy(strategySelect.value);
    schedulePreview();
  });
  $("#interval").addEventListener("change", applyInterval);
  for (const id of ["start_date", "end_date"]) $(`#${id}`).addEventListener("change", () => { $(`#${id}`).dataset.touched = "true"; });
  $("#search-mode").addEventListener("change", () => show($("#random-fields"), $("#search-mode").value === "random"));
  form.addEventListener("input", schedulePreview);
  form.addEventListener("change", schedulePreview);
  $("#coins-all").addEventListener("click", schedulePreview);
  $("#coins-none").addEventListener("click", schedulePreview);
  form.addEventListener("submit", submit);
  // Back from a sweep shown here, or Forward to it after that: the page the address names, loaded
  // (a step between #anchors of what is shown stays).
  window.addEventListener("popstate", () => { if (window.location.pathname !== state.shownPath) window.location.reload(); });
  form.dataset.ready = "true";
  await preview();
  // Start shows the sweep here: its view's code (and ECharts) loaded, and warmed, while the form is edited.
  const view = await sweepViewLoad();
  view?.warm();
  form.dataset.viewReady = String(Boolean(view));
}

init();
