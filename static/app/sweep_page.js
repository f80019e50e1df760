// One sweep (`/sweeps/<id>/`): the heatmap filling cell by cell, the top cells, one cell's coins,
// the best cell's deflated Sharpe, the walk-forward folds and their stitched out-of-sample curve.
//
// One code path for a new sweep and a stored one (`mount`):
//   1. GET /api/sweeps/<id>/ (sorted by n, every page) draws what is stored;
//   2. if the sweep is still going, its event stream is joined from event 0: `cell` events are keyed
//      by n, so the replay never doubles a cell; if the stream cannot be held, the sweep is polled;
//   3. at `complete` (or when a poll sees it finished) one more GET settles the summary and robustness.
// /sweeps/<id>/ mounts its own view on load. /sweeps/new imports this module while the form is edited
// and, when a sweep starts, mounts the view in place of the form (sweep_form.js) with the POST's
// answer: the stream is joined at once, beside step 1, so the first cell is drawn without a page load.
//
// The coin picker: the stored and streamed cells carry only the aggregates across coins, so a coin's
// values are fetched lazily from GET /cells/<n>/ for the cells the current view shows (cached; a few
// requests at a time), and mapped from the aggregate to that coin's own metric (see COIN_METRIC).
import * as echarts from "../vendor/echarts/echarts.esm.min.mjs";
import { ApiError, getAll, getJSON, postJSON, withQuery } from "./api.js";
import { $, $$, dateOnly, el, fmtDateTime, fmtInt, fmtNum, fmtPct, fmtSeconds, isNum, progressSet, show, signClass } from "./dom.js";
import { IN_PROGRESS, METRICS, RESUMABLE, aggregateLabel, fmtAggregate, paramsText, statusClass, sweepOptions } from "./sweep_common.js";

const POLL_MS = 2000;
const WATCHDOG_MS = 15000;
const RENDER_MS = 120;
const TABLE_REFRESH_MS = 2500;
const PAGE_SIZE = 1000;
const TOP_SIZE = 25;
const COIN_FETCHES = 4;
const HEATMAP_BOTTOM = 108; // px under the grid: x labels, axis name, the colour scale and its handles' labels
const COLOURS = ["#d73027", "#fc8d59", "#fee08b", "#d9ef8b", "#91cf60", "#1a9850"];

// A coin's value for an aggregate: its own metric (a share of coins becomes 100 or 0 for one coin).
const COIN_METRIC = {
  avg_total_return: (m) => m.total_return,
  median_total_return: (m) => m.total_return,
  avg_sharpe_ratio: (m) => m.sharpe_ratio,
  avg_max_drawdown: (m) => m.max_drawdown,
  avg_win_rate: (m) => m.win_rate,
  total_trades: (m) => m.total_trades,
  positive_pct: (m) => (m.total_return > 0 ? 100 : 0),
  beat_buy_hold_pct: (m) => (m.total_return > m.buy_hold_return ? 100 : 0),
};

const options = sweepOptions();
let root = null; // the view's element, and its sweep's id and API address (set by mount)
let sweepId = null;
let sweepUrl = null;
let eventsUrl = null;

const state = {
  sweep: null,
  cells: new Map(), // n -> {n, coordinate, parameters, aggregates, test_aggregates, robustness}
  details: new Map(), // n -> GET /cells/<n>/ answer (per-coin metrics), or a pending Promise
  labels: {},
  completed: 0,
  total: 0,
  source: null,
  pollTimer: null,
  watchdog: null,
  renderTimer: null,
  tableTimer: null,
  tableNext: null,
  selected: null,
  fetchQueue: [],
  fetching: 0,
  finished: false,
  mounted: false, // the controls are built: events before that only collect cells
  pendingFinish: false,
  lastRender: 0,
  drawn: false,
};

let chart = null;
let wfChart = null;

const label = (name) => state.labels[name] || name;
// ECharts sets a tooltip formatter's string as HTML: every line (names, symbols, values) is escaped first.
const tip = (lines) => lines.map((line) => echarts.format.encodeHTML(String(line))).join("<br>");
const axes = () => state.sweep?.axes || [];
const hasTest = () => Boolean(state.sweep?.test_start);

// --- The header: status, progress, cancel and resume -----------------------------------------------

function setStatus(status) {
  const badge = $("#sweep-status");
  badge.textContent = status;
  badge.className = statusClass(status);
  root.dataset.status = status;
  // Someone else's sweep: cancel and resume would only answer 403, so they are not offered.
  const mine = state.sweep?.controllable !== false;
  show($("#cancel-button"), mine && IN_PROGRESS.has(status));
  show($("#resume-button"), mine && RESUMABLE.has(status));
  show($("#sweep-owner-note"), !mine && (IN_PROGRESS.has(status) || RESUMABLE.has(status))); // nothing to control once done
  if (state.sweep) state.sweep.status = status;
  const message = $("#sweep-message");
  if (RESUMABLE.has(status)) {
    message.textContent = "The server stopped while this sweep ran. Resume runs only its missing cells.";
    show(message, true);
  } else show(message, false);
}

function renderHeader(sweep) {
  $("#sweep-title").textContent = `${sweep.strategy?.name || "Sweep"}: ${axes().map((a) => label(a.name)).join(" × ")}`;
  document.title = `Sweep · ${sweep.strategy?.name || ""} · Crypto backtester`;
  const period = `${dateOnly(sweep.start_date) || "first bar"} → ${dateOnly(sweep.end_date) || "last bar"}`;
  const search = typeof sweep.search === "object" && sweep.search?.random
    ? `random ${fmtInt(sweep.search.random)} (seed ${sweep.search.seed ?? 0})` : "every combination";
  const parts = [
    `${period} · ${sweep.interval} bars · fee ${fmtNum(sweep.fee_pct ?? 0)}% · slippage ${fmtNum(sweep.slippage_pct ?? 0)}% · fills ${sweep.fill} · stops on ${sweep.stop_mode}`,
    `${fmtInt((sweep.coins || []).length)} coins`,
    `${search} · objective ${aggregateLabel(sweep.objective)}`,
  ];
  if (Object.keys(sweep.fixed || {}).length) parts.push(`fixed: ${paramsText(sweep.fixed, state.labels)}`);
  if (sweep.test_start) parts.push(`out-of-sample from ${dateOnly(sweep.test_start)}`);
  if (sweep.walk_forward) parts.push(`walk-forward ${sweep.walk_forward.folds} folds, ${sweep.walk_forward.mode}`);
  $("#sweep-meta").textContent = parts.join(" | ");
  setStatus(sweep.status);
}

function updateProgress() {
  const completed = Math.max(state.completed, state.cells.size);
  const total = Math.max(state.total, completed);
  const percent = progressSet(completed, total, state.finished);
  const skipped = state.sweep?.skipped ? ` · ${fmtInt(state.sweep.skipped)} skipped` : "";
  const elapsed = isNum(state.sweep?.elapsed_time) ? ` · ${fmtSeconds(state.sweep.elapsed_time)}` : "";
  $("#progress-text").textContent = `${fmtInt(completed)} / ${fmtInt(total)} cells · ${percent.toFixed(0)}%${skipped}${elapsed}`;
}

async function cancel() {
  $("#cancel-button").disabled = true;
  try {
    const answer = await postJSON(`${sweepUrl}cancel/`, {});
    setStatus(answer.status);
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 409)) throw err;
  } finally {
    $("#cancel-button").disabled = false;
  }
  await reload();
}

async function resume() {
  $("#resume-button").disabled = true;
  try {
    const answer = await postJSON(`${sweepUrl}resume/`, {});
    setStatus(answer.status);
    state.finished = false;
    watch();
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    $("#sweep-message").textContent = `Could not resume: ${err.message}`;
    show($("#sweep-message"), true);
  } finally {
    $("#resume-button").disabled = false;
  }
}

// --- The heatmap -------------------------------------------------------------------------------------

function view() {
  const ax = axes();
  const x = Number($("#x-axis").value || 0);
  let y = Number($("#y-axis").value || (ax.length > 1 ? 1 : 0));
  const fixed = {};
  for (const input of $$("#sliders input[type=range]")) fixed[Number(input.dataset.axis)] = Number(input.value);
  return {
    metric: $("#metric").value,
    coin: $("#coin").value,
    window: hasTest() ? $("#window").value : "train",
    x, y, others: $("input[name=others]:checked").value, fixed,
  };
}

// The value a cell shows in the current view, or undefined when it is not known (yet).
function cellValue(cell, v) {
  if (!v.coin) {
    const values = v.window === "test" ? cell.test_aggregates : cell.aggregates;
    return values ? values[v.metric] : null;
  }
  const detail = state.details.get(cell.n);
  if (!detail || detail instanceof Promise) {
    requestDetail(cell.n);
    return undefined;
  }
  const coin = (detail.coins || []).find((c) => c.crypto_symbol === v.coin);
  const metrics = coin && (v.window === "test" ? coin.test : coin.train);
  return metrics ? COIN_METRIC[v.metric](metrics) : null;
}

function requestDetail(n) {
  if (state.details.has(n)) return;
  state.details.set(n, Promise.resolve(null)); // queued
  state.fetchQueue.push(n);
  pumpDetails();
}

function pumpDetails() {
  while (state.fetching < COIN_FETCHES && state.fetchQueue.length) {
    const n = state.fetchQueue.shift();
    state.fetching += 1;
    getJSON(`${sweepUrl}cells/${n}/`)
      .then((detail) => state.details.set(n, detail))
      .catch(() => state.details.set(n, { coins: [] })) // shown as no value, not asked again
      .finally(() => {
        state.fetching -= 1;
        pumpDetails();
        scheduleRender();
      });
  }
}

// At most one render every RENDER_MS, the first one at once (the first cell is drawn as it arrives).
function scheduleRender() {
  if (state.renderTimer || !state.mounted) return;
  const wait = Math.max(0, state.lastRender + RENDER_MS - performance.now());
  state.renderTimer = setTimeout(() => {
    state.renderTimer = null;
    render();
  }, wait);
}

function axisLabels(axis) {
  return (axis?.values || []).map((value) => String(value));
}

// The heatmap's ECharts option: X and Y the axes ({name, values}), data [x, y, value, n] rows.
function heatmapOption({ X, Y, data, lo, hi, fmt, aria, tooltip }) {
  return {
    aria,
    tooltip: { trigger: "item", formatter: tooltip },
    grid: { left: 64, right: 16, top: 16, bottom: HEATMAP_BOTTOM, containLabel: false },
    xAxis: { type: "category", data: axisLabels(X), name: label(X.name), nameLocation: "middle", nameGap: 26, splitArea: { show: true } },
    yAxis: { type: "category", data: axisLabels(Y), name: label(Y.name), nameLocation: "middle", nameGap: 46, splitArea: { show: true } },
    // dimension 2, the value: ECharts' default is the rows' last one, here the cell's number.
    visualMap: {
      dimension: 2, min: lo, max: hi === lo ? lo + 1 : hi, calculable: true, orient: "horizontal", left: "center", bottom: 0,
      itemHeight: 160, inRange: { color: COLOURS }, text: ["high", "low"], formatter: (value) => fmt(value),
    },
    series: [{
      type: "heatmap", data, encode: { x: 0, y: 1, value: 2 }, progressive: 0,
      emphasis: { itemStyle: { borderColor: "#000", borderWidth: 2 } },
    }],
  };
}

// The first heatmap ECharts draws costs it 60 to 100 ms more than the next ones (its code compiled,
// its components built): /sweeps/new draws one off screen while the form is edited, so that a
// sweep started there draws its first cell at once.
export function warm() {
  const box = el("div", { style: "position:fixed;left:-10000px;top:0;width:640px;height:400px", "aria-hidden": "true" });
  document.body.append(box);
  const offscreen = echarts.init(box, null, { renderer: "canvas" });
  const axis = (name) => ({ name, values: [1, 2] });
  offscreen.setOption(heatmapOption({
    X: axis("x"), Y: axis("y"), data: [[0, 0, 1, 0], [1, 1, 2, 1]], lo: 1, hi: 2, fmt: String,
    aria: { enabled: true, label: { description: "warm-up" } }, tooltip: () => "",
  }));
  requestAnimationFrame(() => {
    offscreen.dispose();
    box.remove();
  });
}

function render() {
  const ax = axes();
  const box = $("#heatmap");
  if (!ax.length || !state.mounted) return;
  state.lastRender = performance.now();
  const v = view();
  const metricLabel = `${aggregateLabel(v.metric)}${v.coin ? ` · ${v.coin}` : ""}${v.window === "test" ? " · test" : ""}`;
  let missing = 0;
  const fmt = (value) => fmtAggregate(v.metric, value);
  // ECharts writes the chart's aria-label from this (its default lists raw data, which helps no one).
  const describe = (kind) => ({
    enabled: true,
    label: { description: `${kind} of ${metricLabel} over ${state.cells.size} cells` },
  });

  if (ax.length === 1 || v.x === v.y) {
    const axis = ax[v.x] || ax[0];
    const index = ax.indexOf(axis);
    const points = new Map();
    for (const cell of state.cells.values()) {
      const matches = ax.every((_, k) => k === index || v.others === "best" || cell.coordinate[k] === (v.fixed[k] ?? 0));
      if (!matches) continue;
      const value = cellValue(cell, v);
      if (value === undefined) { missing += 1; continue; }
      if (!isNum(value)) continue;
      const key = cell.coordinate[index];
      const prev = points.get(key);
      if (!prev || value > prev[1]) points.set(key, [key, value, cell.n]);
    }
    const data = [...points.values()].sort((a, b) => a[0] - b[0]);
    chart.setOption({
      aria: describe("Line chart"),
      tooltip: { trigger: "item", formatter: (p) => tip([`${label(axis.name)} ${axisLabels(axis)[p.data[0]]}`, `${metricLabel}: ${fmt(p.data[1])}`, `cell #${p.data[2]}`]) },
      grid: { left: 56, right: 16, top: 24, bottom: 48 },
      xAxis: { type: "category", data: axisLabels(axis), name: label(axis.name), nameLocation: "middle", nameGap: 28 },
      yAxis: { type: "value", name: metricLabel, scale: true },
      visualMap: null,
      series: [{ type: "line", data, symbolSize: 8, encode: { x: 0, y: 1 }, itemStyle: { color: "#0d6efd" } }],
    }, { notMerge: true });
    box.dataset.kind = "line";
    box.dataset.count = String(data.length);
    box.dataset.shown = data.map((d) => d[2]).sort((a, b) => a - b).join(",");
  } else {
    const X = ax[v.x];
    const Y = ax[v.y];
    const best = new Map();
    for (const cell of state.cells.values()) {
      if (v.others === "fixed" && !ax.every((_, k) => k === v.x || k === v.y || cell.coordinate[k] === (v.fixed[k] ?? 0))) continue;
      const value = cellValue(cell, v);
      if (value === undefined) { missing += 1; continue; }
      if (!isNum(value)) continue;
      const key = `${cell.coordinate[v.x]},${cell.coordinate[v.y]}`;
      const prev = best.get(key);
      if (!prev || value > prev[2]) best.set(key, [cell.coordinate[v.x], cell.coordinate[v.y], value, cell.n]);
    }
    const data = [...best.values()];
    const values = data.map((d) => d[2]);
    const lo = values.length ? Math.min(...values) : 0;
    const hi = values.length ? Math.max(...values) : 1;
    chart.setOption(heatmapOption({
      X, Y, data, lo, hi, fmt, aria: describe("Heatmap"),
      tooltip: (p) => tip([
        `${label(X.name)} ${axisLabels(X)[p.data[0]]} · ${label(Y.name)} ${axisLabels(Y)[p.data[1]]}`,
        `${metricLabel}: ${fmt(p.data[2])}`,
        `cell #${p.data[3]}`,
      ]),
    }), { notMerge: true });
    box.dataset.kind = "heatmap";
    box.dataset.count = String(data.length);
    box.dataset.shown = data.map((d) => d[3]).sort((a, b) => a - b).join(","); // the cells drawn, by n
  }
  box.dataset.cells = String(state.cells.size);
  if (!state.drawn && Number(box.dataset.count) > 0) {
    state.drawn = true;
    // After ECharts' own frame has painted the canvas: bench/sweep.py reads this mark.
    requestAnimationFrame(() => performance.mark("sweep-first-cell"));
  }
  const notes = [];
  if (v.coin && missing) notes.push(`loading ${v.coin}'s values for ${fmtInt(missing)} cells…`);
  if (!state.cells.size) notes.push(state.finished ? "No cell finished." : "Waiting for the first cells…");
  $("#map-note").textContent = notes.join(" ");
}

function setupControls() {
  const ax = axes();
  const metric = $("#metric");
  metric.replaceChildren(...(options.aggregates || []).map((a) => el("option", { value: a, text: aggregateLabel(a) })));
  metric.value = state.sweep.objective;
  const coin = $("#coin");
  coin.replaceChildren(el("option", { value: "", text: "All coins (aggregate)" }),
    ...(state.sweep.coins || []).map((c) => el("option", { value: c.crypto_symbol, text: `${c.crypto_symbol} · ${c.crypto_name}` })));
  show($("#window-field"), hasTest());
  for (const [id, selected] of [["x-axis", 0], ["y-axis", 1]]) {
    const select = $(`#${id}`);
    select.replaceChildren(...ax.map((a, k) => el("option", { value: String(k), text: label(a.name) })));
    select.value = String(Math.min(selected, ax.length - 1));
  }
  show($("#x-field"), ax.length >= 2);
  show($("#y-field"), ax.length >= 2);
  renderSliders();
  for (const id of ["metric", "coin", "window"]) $(`#${id}`).addEventListener("change", scheduleRender);
  const swap = (changed, other) => {
    if ($(changed).value === $(other).value) {
      $(other).value = String([...ax.keys()].find((k) => String(k) !== $(changed).value) ?? 0);
    }
    renderSliders();
    scheduleRender();
  };
  $("#x-axis").addEventListener("change", () => swap("#x-axis", "#y-axis"));
  $("#y-axis").addEventListener("change", () => swap("#y-axis", "#x-axis"));
  for (const radio of $$("input[name=others]")) radio.addEventListener("change", () => { renderSliders(); scheduleRender(); });
  chart.on("click", (p) => {
    const n = Array.isArray(p.data) ? p.data.at(-1) : null;
    if (Number.isInteger(n)) openCell(n);
  });
}

function renderSliders() {
  const ax = axes();
  const x = Number($("#x-axis").value || 0);
  const y = Number($("#y-axis").value || 1);
  const others = ax.map((a, k) => [a, k]).filter(([, k]) => k !== x && k !== y);
  show($("#others-field"), ax.length >= 3);
  const fixedMode = $("input[name=others]:checked").value === "fixed";
  const previous = Object.fromEntries($$("#sliders input[type=range]").map((i) => [i.dataset.axis, i.value]));
  $("#sliders").replaceChildren(...others.map(([axis, k]) => {
    const id = `slider-${k}`;
    const output = el("output", { class: "slider-value small", for: id, id: `${id}-value` });
    const input = el("input", {
      class: "form-range", type: "range", id, min: 0, max: axis.values.length - 1, step: 1,
      value: previous[k] ?? 0, dataset: { axis: String(k) }, disabled: !fixedMode,
      "aria-valuetext": String(axis.values[Number(previous[k] ?? 0)]),
    });
    const sync = () => {
      output.textContent = String(axis.values[Number(input.value)]);
      input.setAttribute("aria-valuetext", output.textContent);
    };
    input.addEventListener("input", () => { sync(); scheduleRender(); });
    sync();
    return el("div", { class: "col-12 col-sm-6 d-flex align-items-center gap-2" },
      el("label", { class: "form-label small mb-0 text-nowrap", for: id, text: label(axis.name) }), input, output);
  }));
}

// --- One cell: its coins, and "Open as run" -------------------------------------------------------------

// The labels are the engine's (strategies.engine.METRICS, through the page-facts block).
const COIN_COLUMNS = [
  ["total_return", (v) => fmtPct(v), true],
  ["sharpe_ratio", (v) => fmtNum(v), false],
  ["max_drawdown", (v) => fmtPct(v), false],
  ["win_rate", (v) => fmtPct(v, { sign: false, digits: 1 }), false],
  ["total_trades", (v) => fmtInt(v), false],
  ["buy_hold_return", (v) => fmtPct(v), true],
].map(([key, format, signed]) => [key, METRICS.get(key)?.label || key, format, signed]);

async function openCell(n) {
  state.selected = n;
  const panel = $("#cell-panel");
  show(panel, true);
  show($("#cell-error"), false);
  $("#cell-title").textContent = `Cell #${n}`;
  $("#coins-body").replaceChildren();
  panel.dataset.n = String(n);
  panel.dataset.loaded = "false";
  $$("#cells-body tr").forEach((tr) => tr.classList.toggle("is-selected", tr.dataset.n === String(n)));
  let detail = state.details.get(n);
  try {
    if (!detail || detail instanceof Promise) {
      detail = await getJSON(`${sweepUrl}cells/${n}/`);
      state.details.set(n, detail);
    }
  } catch (err) {
    $("#cell-error").textContent = `Could not load cell #${n}: ${err.message}`;
    show($("#cell-error"), true);
    return;
  }
  if (state.selected !== n) return;
  $("#cell-title").textContent = `Cell #${n}: ${paramsText(detail.parameters, state.labels)}`;
  const agg = detail.aggregates || {};
  const objective = state.sweep.objective;
  const bits = [`${aggregateLabel(objective)} ${fmtAggregate(objective, agg[objective])}`];
  if (detail.test_aggregates) bits.push(`test ${fmtAggregate(objective, detail.test_aggregates[objective])}`);
  if (isNum(detail.robustness)) bits.push(`robustness ${fmtNum(detail.robustness)}`);
  bits.push(`avg return ${fmtPct(agg.avg_total_return)}`, `${fmtAggregate("positive_pct", agg.positive_pct)} of coins positive`);
  $("#cell-meta").textContent = bits.join(" · ");
  const test = hasTest();
  const head = [el("th", { scope: "col", text: "Coin" })];
  for (const [, name] of COIN_COLUMNS) head.push(el("th", { scope: "col", class: "text-end", text: test ? `${name} (train)` : name }));
  if (test) for (const [, name] of COIN_COLUMNS.slice(0, 2)) head.push(el("th", { scope: "col", class: "text-end", text: `${name} (test)` }));
  $("#coins-head").replaceChildren(...head);
  $("#coins-body").replaceChildren(...(detail.coins || []).map((coin) => {
    const tr = el("tr", { dataset: { symbol: coin.crypto_symbol } },
      el("th", { scope: "row" }, el("span", { class: "fw-semibold", text: coin.crypto_symbol }),
        el("span", { class: "text-body-secondary small coin-name", text: ` ${coin.crypto_name}` })));
    const cells = (metrics, columns) => columns.map(([key, , format, coloured]) => {
      const value = metrics ? metrics[key] : null;
      return el("td", { class: `text-end ${coloured ? signClass(value) : ""}`, text: metrics ? format(value) : "–" });
    });
    tr.append(...cells(coin.train, COIN_COLUMNS));
    if (test) tr.append(...cells(coin.test, COIN_COLUMNS.slice(0, 2)));
    return tr;
  }));
  panel.dataset.loaded = "true";
  panel.focus({ preventScroll: true });
  panel.scrollIntoView({ behavior: "smooth", block: "nearest" });
}

async function openAsRun() {
  const detail = state.details.get(state.selected);
  if (!detail || detail instanceof Promise) return;
  const s = state.sweep;
  const body = {
    strategy_id: s.strategy.id, parameters: detail.all_parameters, interval: s.interval,
    fee_pct: s.fee_pct, fill: s.fill, stop_mode: s.stop_mode, slippage_pct: s.slippage_pct,
  };
  if (s.start_date) body.start_date = s.start_date;
  if (s.end_date) body.end_date = s.end_date;
  if ((s.symbols || []).length) body.symbols = s.symbols;
  const button = $("#open-run");
  button.disabled = true;
  try {
    const run = await postJSON(root.dataset.apiRuns, body);
    window.location.assign(run.page_url || `/runs/${run.id}/`);
  } catch (err) {
    button.disabled = false;
    if (!(err instanceof ApiError)) throw err;
    $("#cell-error").textContent = `The run could not be started: ${err.message}`;
    show($("#cell-error"), true);
  }
}

// --- The top cells table ----------------------------------------------------------------------------

function setupTable() {
  const sort = $("#sort");
  sort.replaceChildren(...[...(options.aggregates || []), "robustness"].map((a) =>
    el("option", { value: a, text: a === "robustness" ? "Robustness (with neighbours)" : aggregateLabel(a) })));
  sort.value = state.sweep.objective;
  show($("#sort-window").parentElement, hasTest());
  sort.addEventListener("change", () => loadTable());
  $("#sort-window").addEventListener("change", () => loadTable());
  $("#cells-more").addEventListener("click", () => loadTable({ more: true }));
  const objective = state.sweep.objective;
  const head = [el("th", { scope: "col", text: "Cell" }), ...axes().map((a) => el("th", { scope: "col", class: "text-end", text: label(a.name) })),
    el("th", { scope: "col", class: "text-end", text: `${aggregateLabel(objective)}${hasTest() ? " (train)" : ""}` })];
  if (hasTest()) head.push(el("th", { scope: "col", class: "text-end", text: `${aggregateLabel(objective)} (test)` }));
  head.push(el("th", { scope: "col", class: "text-end", text: "Robustness" }),
    el("th", { scope: "col", class: "text-end", text: "Avg return" }));
  if (hasTest()) head.push(el("th", { scope: "col", class: "text-end", text: "Avg return (test)" }));
  head.push(el("th", { scope: "col", class: "text-end", text: "Coins positive" }), el("th", { scope: "col", class: "text-end", text: METRICS.get("total_trades")?.label || "total_trades" }));
  $("#cells-head").replaceChildren(...head);
}

function tableRow(cell) {
  const objective = state.sweep.objective;
  const a = cell.aggregates || {};
  const t = cell.test_aggregates || {};
  const open = el("button", { type: "button", class: "btn btn-sm btn-link p-0 cell-open", text: `#${cell.n}`, "aria-label": `Open cell ${cell.n}: ${paramsText(cell.parameters, state.labels)}` });
  open.addEventListener("click", () => openCell(cell.n));
  const num = (text, cls = "") => el("td", { class: `text-end ${cls}`, text });
  const tr = el("tr", { dataset: { n: String(cell.n) }, class: cell.n === state.selected ? "is-selected" : "" },
    el("td", {}, open), ...axes().map((ax) => num(String(cell.parameters?.[ax.name] ?? "–"))),
    num(fmtAggregate(objective, a[objective]), "fw-semibold"));
  if (hasTest()) tr.append(num(fmtAggregate(objective, t[objective])));
  tr.append(num(fmtNum(cell.robustness)), num(fmtPct(a.avg_total_return), signClass(a.avg_total_return)));
  if (hasTest()) tr.append(num(fmtPct(t.avg_total_return), signClass(t.avg_total_return)));
  tr.append(num(fmtAggregate("positive_pct", a.positive_pct)), num(fmtInt(a.total_trades)));
  return tr;
}

async function loadTable({ more = false } = {}) {
  clearTimeout(state.tableTimer);
  state.tableTimer = null;
  const test = hasTest() && $("#sort-window").value === "test" ? "1" : undefined;
  const url = more && state.tableNext
    ? withQuery(state.tableNext, { test })
    : withQuery(sweepUrl, { sort: $("#sort").value, order: "desc", page_size: TOP_SIZE, test });
  let data;
  try {
    data = await getJSON(url);
  } catch {
    return;
  }
  const rows = (data.cells || []).map(tableRow);
  if (more) $("#cells-body").append(...rows);
  else $("#cells-body").replaceChildren(...rows);
  state.tableNext = data.next;
  $("#cells-more").disabled = !data.next;
  const shown = $$("#cells-body tr").length;
  $("#cells-shown").textContent = `${fmtInt(shown)} of ${fmtInt(data.completed)} finished cells`;
  $("#cells-count").textContent = `(${fmtInt(data.completed)})`;
}

function scheduleTable() {
  if (state.tableTimer) return;
  state.tableTimer = setTimeout(() => loadTable(), TABLE_REFRESH_MS);
}

// --- The summary: best cell, deflated Sharpe, walk-forward ---------------------------------------------

function renderSummary(summary) {
  const body = $("#best-body");
  if (!summary?.best) {
    body.replaceChildren(el("span", { class: "text-body-secondary", text: state.finished ? "No cell could be scored." : "When the sweep has finished." }));
    return;
  }
  const objective = summary.objective || state.sweep.objective;
  const describe = (title, cell, key) => {
    const button = el("button", { type: "button", class: "btn btn-sm btn-outline-primary ms-2", text: `Open #${cell.n}`, dataset: { open: key } });
    button.addEventListener("click", () => openCell(cell.n));
    return el("div", { class: "mb-2" },
      el("div", { class: "fw-semibold" }, title, button),
      el("div", { text: paramsText(cell.parameters, state.labels) }),
      el("div", { class: "text-body-secondary", text: `${aggregateLabel(objective)} ${fmtAggregate(objective, cell.objective)} · robustness ${fmtNum(cell.robustness)}` }));
  };
  const parts = [describe("Best cell", summary.best, "best"), describe("Most robust", summary.most_robust, "robust")];
  const dsr = summary.deflated_sharpe;
  if (dsr) {
    parts.push(el("div", { class: "border-top pt-2", id: "dsr", dataset: { probability: String(dsr.probability) } },
      el("div", { class: "fw-semibold", text: `Deflated Sharpe ratio: ${fmtNum(dsr.probability * 100, 1)}%` }),
      el("div", { class: "text-body-secondary", text: `The probability that the best cell's Sharpe beats the best that ${fmtInt(dsr.trials)} cells tried would reach by luck alone. Its Sharpe: ${fmtNum(dsr.sharpe_annualised)} annualised, over ${fmtInt(dsr.observations)} bar returns of its equal-weight basket of coins (skewness ${fmtNum(dsr.skewness)}, kurtosis ${fmtNum(dsr.kurtosis)}).` })));
  }
  body.replaceChildren(...parts);
  renderWalkForward(summary.walk_forward);
}

function renderWalkForward(wf) {
  show($("#wf-panel"), Boolean(wf));
  if (!wf) return;
  const objective = state.sweep.objective;
  $("#folds-body").replaceChildren(...(wf.folds || []).map((fold) => el("tr", {},
    el("td", { text: String(fold.fold + 1) }),
    el("td", { class: "text-nowrap", text: fold.test_start ? fmtDateTime(fold.test_start).slice(0, 10) : "–" }),
    el("td", { class: "small", text: fold.parameters ? paramsText(fold.parameters, state.labels) : "no cell" }),
    el("td", { class: "text-end", text: fmtAggregate(objective, fold.train_objective) }),
    el("td", { class: "text-end", text: fmtAggregate(objective, fold.test_objective) }),
    el("td", { class: "text-end", text: fmtNum(fold.efficiency) }))));
  // The average, and one coin's own stitched curve beside it when one is picked.
  const select = $("#wf-coin");
  const picked = select.value;
  const coins = (state.sweep.coins || []).filter((c) => wf.coins?.[String(c.crypto_id)]);
  select.replaceChildren(el("option", { value: "", text: "Average of the coins" }),
    ...coins.map((c) => el("option", { value: String(c.crypto_id), text: `${c.crypto_symbol} · ${c.crypto_name}` })));
  select.value = coins.some((c) => String(c.crypto_id) === picked) ? picked : "";
  select.onchange = () => drawWalkForward(wf);
  drawWalkForward(wf);
}

function drawWalkForward(wf) {
  const curve = wf.average;
  if (!curve) return;
  const id = $("#wf-coin").value;
  const coin = id ? wf.coins[id] : null;
  const symbol = coin ? (state.sweep.coins || []).find((c) => String(c.crypto_id) === id)?.crypto_symbol : null;
  const line = (c, name, color, width) => ({
    type: "line", name, showSymbol: false, data: c.times.map((t, i) => [t, c.values[i]]), lineStyle: { color, width },
    itemStyle: { color },
  });
  const series = [line(curve, "Average of the coins", coin ? "#adb5bd" : "#0d6efd", coin ? 1 : 2)];
  if (coin) series.push(line(coin, symbol, "#0d6efd", 2));
  const shown = coin || curve;
  wfChart = wfChart || echarts.init($("#wf-chart"), null, { renderer: "canvas" });
  wfChart.setOption({
    aria: { enabled: true, label: { description: `Stitched out-of-sample equity of ${coin ? symbol : "the coins' average"} over ${wf.folds.length} folds, from 1.0 to ${fmtNum(shown.values.at(-1), 3)}` } },
    // A formatter of our own: ECharts' default tooltip draws its colour marker with a style
    // attribute, which the Content-Security-Policy refuses.
    tooltip: { trigger: "axis", formatter: (items) => tip([items[0]?.axisValueLabel ?? "", ...items.map((i) => `${i.seriesName} ${fmtNum(i.value?.[1], 3)}`)]) },
    legend: { show: Boolean(coin), top: 0, right: 0 },
    grid: { left: 48, right: 12, top: coin ? 28 : 12, bottom: 28 },
    xAxis: { type: "time" },
    yAxis: { type: "value", scale: true },
    series,
  }, { replaceMerge: ["series"] });
  const box = $("#wf-chart");
  box.dataset.points = String(curve.times.length);
  box.dataset.coin = symbol || "";
  box.dataset.coinPoints = coin ? String(coin.times.length) : "0";
  box.dataset.last = String(shown.values.at(-1));
}

// --- Loading and watching ---------------------------------------------------------------------------

function upsert(cell) {
  const known = state.cells.get(cell.n);
  state.cells.set(cell.n, known ? { ...known, ...cell } : cell);
}

async function loadCells() {
  let url = withQuery(sweepUrl, { sort: "n", order: "asc", page_size: PAGE_SIZE });
  let last = null;
  while (url) {
    const data = await getJSON(url);
    for (const cell of data.cells || []) upsert(cell);
    last = data;
    url = data.next;
  }
  return last;
}

async function reload() {
  if (!state.mounted) return null;
  let sweep;
  try {
    sweep = await loadCells();
  } catch {
    return null;
  }
  state.sweep = { ...state.sweep, ...sweep };
  state.completed = sweep.completed;
  state.total = sweep.total;
  state.finished = !IN_PROGRESS.has(sweep.status);
  setStatus(sweep.status);
  updateProgress();
  renderSummary(sweep.summary);
  scheduleRender();
  loadTable();
  return sweep;
}

function stopWatching() {
  state.source?.close();
  state.source = null;
  clearTimeout(state.pollTimer);
  clearInterval(state.watchdog);
  state.watchdog = null;
}

function finish() {
  if (!state.mounted) {
    state.pendingFinish = true; // the stream ended before the view was built: init finishes it
    return;
  }
  stopWatching();
  state.finished = true;
  $("#stream-status").textContent = "";
  reload();
}

function poll() {
  clearTimeout(state.pollTimer);
  state.pollTimer = setTimeout(async () => {
    const sweep = await reload();
    if (sweep && IN_PROGRESS.has(sweep.status)) poll();
  }, POLL_MS);
}

function watch() {
  stopWatching();
  const source = new EventSource(withQuery(eventsUrl, { lastEventId: `sweep-${sweepId}:0` }));
  state.source = source;
  const on = (type, fn) => source.addEventListener(type, (event) => {
    if (state.source !== source) return;
    try {
      fn(JSON.parse(event.data));
    } catch {
      /* not JSON: ignore */
    }
  });
  on("start", (e) => { state.total = Math.max(state.total, e.total || 0); updateProgress(); });
  on("cell", (e) => {
    upsert(e);
    if (!state.mounted) return;
    scheduleRender();
    scheduleTable();
    updateProgress();
  });
  on("progress", (e) => {
    state.completed = Math.max(state.completed, e.completed || 0);
    state.total = Math.max(state.total, e.total || 0);
    updateProgress();
  });
  on("complete", (e) => {
    if (state.sweep) state.sweep.elapsed_time = e.elapsed_time;
    finish();
  });
  source.addEventListener("open", () => { $("#stream-status").textContent = "live"; });
  source.addEventListener("error", () => {
    if (state.source !== source) return;
    if (source.readyState === EventSource.CONNECTING) $("#stream-status").textContent = "reconnecting…";
    else { stopWatching(); poll(); }
  });
  const lost = () => { if (state.source === source) { stopWatching(); $("#stream-status").textContent = "polling"; poll(); } };
  source.addEventListener("stream-reset", lost);
  source.addEventListener("stream-error", lost);
  // A sweep whose server stopped ends `interrupted` without a `complete` event: look now and then.
  state.watchdog = setInterval(async () => {
    const sweep = await reload();
    if (sweep && !IN_PROGRESS.has(sweep.status)) stopWatching();
  }, WATCHDOG_MS);
}

async function loadLabels() {
  try {
    const strategies = await getAll(root.dataset.apiStrategies);
    for (const s of strategies) for (const p of s.parameters || []) state.labels[p.name] = state.labels[p.name] || p.display_name || p.name;
  } catch {
    /* names only: the parameters' own names do */
  }
}

async function init({ created, labels }) {
  $("#cancel-button").addEventListener("click", cancel);
  $("#resume-button").addEventListener("click", resume);
  $("#open-run").addEventListener("click", openAsRun);
  $("#cell-close").addEventListener("click", () => { show($("#cell-panel"), false); state.selected = null; });
  // A sweep just started: its stream first (it replays from event 0), the stored part beside it.
  if (created?.events_url) {
    eventsUrl = created.events_url;
    state.total = created.cells || 0;
    watch();
  }
  if (labels) Object.assign(state.labels, labels);
  let sweep;
  try {
    [, sweep] = await Promise.all([labels ? null : loadLabels(), loadCells()]);
  } catch (err) {
    stopWatching();
    $("#sweep-message").textContent = `Could not load the sweep: ${err.message}`;
    show($("#sweep-message"), true);
    return;
  }
  eventsUrl = sweep.events_url;
  state.sweep = sweep;
  state.completed = Math.max(state.completed, sweep.completed);
  state.total = Math.max(state.total, sweep.total);
  state.finished = !IN_PROGRESS.has(sweep.status);
  renderHeader(sweep);
  setupControls();
  setupTable();
  state.mounted = true;
  updateProgress();
  render();
  renderSummary(sweep.summary);
  if (state.pendingFinish) finish();
  else if (state.finished) stopWatching();
  else if (!state.source) watch();
  await loadTable();
  root.dataset.ready = "true";
}

// Shows one sweep in `element` (the view of templates/pages/sweep_view.html, in the document): on
// /sweeps/<id>/ the stored one; from the form, `created` (the POST's answer) with the parameters' labels.
export function mount(element, { created = null, labels = null } = {}) {
  root = element;
  sweepId = root.dataset.sweepId;
  sweepUrl = root.dataset.apiSweep;
  chart = echarts.init($("#heatmap", root), null, { renderer: "canvas" });
  new ResizeObserver(() => { chart.resize(); wfChart?.resize(); }).observe(root);
  return init({ created, labels });
}

const page = document.querySelector("#sweep-page");
if (page) {
  mount(page);
  // /sweeps/new shows a sweep in place and pushes its address: loaded again later (Back from another
  // page), this document holds both entries, and Back to /sweeps/new is a step within it. A step to
  // another address loads the page it names (a step between #anchors of this page stays).
  const shown = window.location.pathname;
  window.addEventListener("popstate", () => { if (window.location.pathname !== shown) window.location.reload(); });
}
