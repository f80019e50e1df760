// The compare page (`/compare/?runs=<id>,<id>,...`): two to six runs side by side, all from
// GET /api/runs/compare/?ids=... (runs/compare.py): what changed between them, their metrics with the
// best of each row marked, their accounts' equity rebased to 100 with the drawdowns, and per-coin deltas.
import { equityPanes, LINE_COLOURS } from "./account_charts.js";
import { getJSON, withQuery } from "./api.js";
import { $, dateOnly, el, fmtDateTime, fmtInt, fmtNum, fmtPct, isNum, show, signClass } from "./dom.js";
import { METRICS, statusLabel } from "./facts.js";

const root = $("#compare-page");
const LETTERS = "ABCDEF";
const ids = (new URLSearchParams(window.location.search).get("runs") || "")
  .split(",").map((s) => s.trim()).filter(Boolean);
const state = { data: null, sort: null, chart: null };

const letter = (k) => LETTERS[k] || String(k + 1);
// Colours through the CSSOM (a style attribute would need 'unsafe-inline' under a Content-Security-Policy).
function coloured(node, k) {
  node.style.background = LINE_COLOURS[k % LINE_COLOURS.length];
  return node;
}
const swatch = (k) => coloured(el("span", { class: "run-swatch", "aria-hidden": "true" }), k);

function fmtUnit(unit, value, { sign = false } = {}) {
  if (unit === "int") return sign && isNum(value) && value > 0 ? `+${fmtInt(value)}` : fmtInt(value);
  if (unit === "%") return fmtPct(value, { sign });
  return sign && isNum(value) && value > 0 ? `+${fmtNum(value)}` : fmtNum(value);
}

// `guide`: nothing is wrong, the address names too few runs: say what to do, not in an error's red.
function fail(text, { guide = false } = {}) {
  const box = $("#compare-error");
  box.textContent = text;
  box.classList.toggle("alert-danger", !guide);
  box.classList.toggle("alert-info", guide);
  box.setAttribute("role", guide ? "status" : "alert");
  show(box, true);
  show($("#compare-body"), false);
  root.dataset.ready = "error";
}

// --- The runs ---------------------------------------------------------------------------------------

function renderRuns(runs) {
  $("#compare-runs").replaceChildren(...runs.map((run, k) => el("li", { dataset: { runId: run.id } },
    swatch(k), el("span", { class: "run-letter", text: `${letter(k)} ` }),
    el("a", { href: run.page_url || `/runs/${run.id}/`, text: run.strategy?.name || "run" }),
    el("span", { class: "text-body-secondary", text: ` · ${fmtDateTime(run.created_at)} · ${statusLabel(run.status)}` }),
    k === 0 && runs.length > 1 ? el("span", { class: "text-body-secondary", text: " · the reference of the deltas" }) : null)));
  document.title = `Compare ${runs.length} runs · Crypto backtester`;
}

// --- What changed -----------------------------------------------------------------------------------

function changeValue(change, value, k, first) {
  if (change.input === "coins") {
    const list = Array.isArray(value) ? value : [];
    if (k === 0) return `${fmtInt(list.length)} coins`;
    const base = new Set(first || []);
    const mine = new Set(list);
    const added = list.filter((s) => !base.has(s));
    const removed = [...base].filter((s) => !mine.has(s));
    const part = (sign, xs) => (xs.length ? `${sign}${xs.slice(0, 8).join(", ")}${xs.length > 8 ? ` and ${xs.length - 8} more` : ""}` : "");
    return [`${fmtInt(list.length)} coins`, part("+", added), part("−", removed)].filter(Boolean).join(" · ");
  }
  if (value === null || value === undefined || value === "") {
    return { start_date: "first bar", end_date: "last bar", portfolio_slots: "one per coin" }[change.input] || "–";
  }
  if (change.input === "fee_pct" || change.input === "slippage_pct") return `${fmtNum(Number(value))}%`;
  if (change.input === "start_date" || change.input === "end_date") return dateOnly(value) || String(value);
  return String(value);
}

function renderChanges(data) {
  const { changes, runs } = data;
  const verdict = $("#changes-verdict");
  if (!changes.length) {
    verdict.textContent = "No input differs: these runs were set up alike, so any difference in the results is not one of their settings.";
    verdict.className = "mb-2";
  } else if (data.several_changed) {
    verdict.textContent = `${changes.length} inputs differ (${changes.map((c) => c.label).join(", ")}): `
      + "a difference in the results cannot be pinned on one of these changes.";
    verdict.className = "alert alert-warning py-2 mb-2";
  } else {
    verdict.textContent = `One input differs: ${changes[0].label}. The differences below come from that change alone.`;
    verdict.className = "alert alert-info py-2 mb-2";
  }
  show($("#changes-table").closest(".compare-scroll"), changes.length > 0);
  $("#changes-head").replaceChildren(el("th", { scope: "col", text: "Input" }),
    ...runs.map((_, k) => el("th", { scope: "col" }, swatch(k), letter(k))));
  $("#changes-body").replaceChildren(...changes.map((change) => el("tr", { dataset: { input: change.input } },
    el("th", { scope: "row", class: "fw-normal", text: change.label }),
    ...change.values.map((v, k) => el("td", { class: "change-values", text: changeValue(change, v, k, change.values[0]) })))));
}

// --- Metrics ----------------------------------------------------------------------------------------

function metricRow(row, runs) {
  const direction = row.better === "higher" ? "higher is better" : row.better === "lower" ? "lower is better" : "not ranked";
  const colour = row.unit === "%" && /return|drawdown|cagr/.test(row.metric);
  return el("tr", { dataset: { metric: row.metric } },
    el("th", { scope: "row", class: "fw-normal", title: [row.title, direction].filter(Boolean).join(" · ") },
      row.label, el("span", { class: "visually-hidden", text: ` (${direction})` })),
    ...runs.map((_, k) => {
      const best = row.best === k;
      const value = row.values[k];
      return el("td", { class: `text-end text-nowrap ${best ? "is-best" : ""} ${colour ? signClass(value) : ""}`, dataset: { best: best ? "true" : "false" } },
        fmtUnit(row.unit, value, { sign: colour }), best ? el("span", { class: "best-mark", text: "best" }) : null);
    }));
}

function renderMetrics(data) {
  const { runs, metrics } = data;
  $("#metrics-head").replaceChildren(el("th", { scope: "col", text: "Metric" }),
    ...runs.map((_, k) => el("th", { scope: "col", class: "text-end" }, swatch(k), letter(k))));
  const group = (text) => el("tr", {}, el("th", { scope: "colgroup", colspan: runs.length + 1, class: "group-row", text }));
  const account = metrics.filter((r) => !r.metric.startsWith("coins."));
  const coins = metrics.filter((r) => r.metric.startsWith("coins."));
  $("#metrics-body").replaceChildren(
    group("The account: one balance across the run's coins"), ...account.map((r) => metricRow(r, runs)),
    group("The coins, each traded alone"), ...coins.map((r) => metricRow(r, runs)));
}

// --- Equity curves ------------------------------------------------------------------------------------

function renderCurves(data) {
  const box = $("#compare-chart");
  state.chart?.remove();
  const lines = data.runs.map((run, k) => {
    const eq = run.portfolio?.equity || { times: [], values: [] };
    const first = Number(eq.values?.[0]);
    return { name: letter(k), colour: LINE_COLOURS[k], times: eq.times || [], values: eq.values || [],
      scale: first > 0 ? 100 / first : 100, drawdown: true };
  });
  state.chart = equityPanes(box, lines, { digits: 1 });
  const missing = data.runs.map((r, k) => (r.portfolio?.equity?.values?.length ? null : letter(k))).filter(Boolean);
  $("#curves-legend").replaceChildren(...data.runs.map((run, k) => el("span", { class: "me-3 text-nowrap" },
    coloured(el("span", { class: "legend-line", "aria-hidden": "true" }), k), ` ${letter(k)} ${run.strategy?.name || ""}`)),
  ...(missing.length ? [el("span", { text: `No account stored for ${missing.join(", ")}.` })] : []));
  const ends = lines.map((l, k) => {
    const v = l.values.length ? Number(l.values.at(-1)) * l.scale : null;
    return `${letter(k)} ends at ${isNum(v) ? fmtNum(v, 1) : "–"}`;
  });
  box.setAttribute("aria-label", `The runs' account equity rebased to 100, with their drawdowns: ${ends.join(", ")}`);
}

// --- Per-coin deltas ------------------------------------------------------------------------------------

// The columns: the coin, A's figures, then each other run's change from A (grouped under "B − A", ...).
function deltaColumns(data) {
  const cols = [{ key: "symbol", label: "Coin", group: null, get: (e) => e.crypto_symbol, text: true }];
  const fields = ["total_return", "max_drawdown", "total_trades"].map((f) => [f, METRICS.get(f)?.label || f, METRICS.get(f)?.unit ?? ""]);
  for (const [field, label, unit] of fields) {
    cols.push({ key: `base.${field}`, label, group: "A", unit, get: (e) => e.base?.[field], colour: field !== "total_trades" });
  }
  data.runs.slice(1).forEach((_, j) => {
    for (const [field, label, unit] of fields) {
      cols.push({ key: `${j}.${field}`, label: `Δ ${label.toLowerCase()}`, group: `${letter(j + 1)} − A`, unit, delta: true,
        get: (e) => e.runs?.[j]?.[field], colour: field !== "total_trades" });
    }
  });
  return cols;
}

function renderDeltas() {
  const data = state.data;
  const cols = deltaColumns(data);
  const { key, dir } = state.sort;
  const col = cols.find((c) => c.key === key) || cols[0];
  const sign = dir === "ascending" ? 1 : -1;
  const entries = [...data.coins].sort((a, b) => {
    const x = col.get(a);
    const y = col.get(b);
    if (col.text) return sign * String(x).localeCompare(String(y));
    if (!isNum(x) || !isNum(y)) return isNum(x) ? -1 : isNum(y) ? 1 : 0;
    return sign * (x - y) || a.crypto_symbol.localeCompare(b.crypto_symbol);
  });
  const groups = [];
  for (const c of cols.slice(1)) {
    if (groups.at(-1)?.name === c.group) groups.at(-1).span += 1;
    else groups.push({ name: c.group, span: 1 });
  }
  const top = el("tr", {}, el("td", { class: "border-bottom-0" }),
    ...groups.map((g, k) => el("th", { scope: "colgroup", colspan: g.span, class: "text-center border-start" },
      swatch(k), g.name === "A" ? "A" : g.name)));
  $("#deltas-head").replaceChildren(top, el("tr", {}, ...cols.map((c, i) => {
    const sorted = c.key === col.key;
    const button = el("button", { type: "button", class: "sort-button", dataset: { key: c.key } },
      c.label, el("span", { class: "sort-icon ms-1", "aria-hidden": "true", text: sorted ? (dir === "ascending" ? "▲" : "▼") : "" }));
    button.addEventListener("click", () => {
      const same = state.sort.key === c.key;
      state.sort = { key: c.key, dir: same ? (state.sort.dir === "ascending" ? "descending" : "ascending") : (c.text ? "ascending" : "descending") };
      renderDeltas();
      $(`#deltas-head button[data-key="${CSS.escape(c.key)}"]`)?.focus();
    });
    const edge = i > 0 && cols[i - 1].group !== c.group ? " border-start" : "";
    const name = c.group && c.group !== "A" ? `${c.label} ${c.group}` : c.group ? `${c.label} of A` : c.label;
    button.setAttribute("aria-label", `Sort by ${name}`);
    return el("th", { scope: "col", class: `${c.text ? "" : "text-end"}${edge}`, "aria-sort": sorted ? dir : "none", dataset: { key: c.key } }, button);
  })));
  $("#deltas-body").replaceChildren(...entries.map((e) => el("tr", { dataset: { symbol: e.crypto_symbol } },
    ...cols.map((c, i) => {
      const v = c.get(e);
      if (i === 0) return el("th", { scope: "row", class: "fw-semibold", text: v });
      const edge = cols[i - 1].group !== c.group ? " border-start" : "";
      return el("td", { class: `text-end${edge} ${c.colour ? signClass(v) : ""}`, dataset: { key: c.key } },
        fmtUnit(c.unit, v, { sign: c.delta || c.colour }));
    }))));
}

function renderDeltaBlock(data) {
  const has = data.coins.length > 0 && data.runs.length > 1;
  show($("#deltas-table"), has);
  show($("#deltas-empty"), !has);
  $("#deltas-sub").textContent = has ? `${fmtInt(data.coins.length)} coins in every run; changes from A` : "";
  if (!has) {
    $("#deltas-summary").textContent = "";
    return;
  }
  $("#deltas-summary").textContent = data.runs.slice(1).map((_, j) => {
    let up = 0;
    let down = 0;
    for (const e of data.coins) {
      const d = e.runs?.[j]?.total_return;
      if (isNum(d) && d > 0) up += 1;
      else if (isNum(d) && d < 0) down += 1;
    }
    return `${letter(j + 1)}: ${fmtInt(up)} coins better, ${fmtInt(down)} worse than A on return`;
  }).join(" · ");
  state.sort = state.sort || { key: "0.total_return", dir: "descending" };
  renderDeltas();
}

// --- Loading ---------------------------------------------------------------------------------------------

async function init() {
  if (ids.length < 2) {
    fail(ids.length ? "Only one run is named: tick two to six runs in Past runs and press Compare."
      : "No runs are named: tick two to six runs in Past runs and press Compare.", { guide: true });
    return;
  }
  let data;
  try {
    data = await getJSON(withQuery(root.dataset.apiCompare, { ids: ids.join(",") }));
  } catch (err) {
    const messages = err.body?.errors?.ids;
    fail(messages?.length ? `These runs cannot be compared: ${messages.join("; ")}.`
      : `The comparison could not be loaded: ${err.message}`);
    return;
  }
  state.data = data;
  renderRuns(data.runs);
  show($("#compare-body"), true);
  renderChanges(data);
  renderMetrics(data);
  renderCurves(data);
  renderDeltaBlock(data);
  root.dataset.ready = "true";
}

init().catch((err) => fail(`Something went wrong: ${err.message}`));
