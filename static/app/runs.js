// The past runs page (`/runs/`): the stored runs, newest first, each opening at /runs/<id>/.
// While a run on the page is still going, the list refreshes itself every few seconds.
import { getAll, getJSON, withQuery } from "./api.js";
import { $, el, fmtDateTime, fmtInt, fmtNum, fmtPct, fmtSeconds, show, signClass } from "./dom.js";
import { IN_PROGRESS, statusClass, statusLabel } from "./facts.js";
import { CompareTicks } from "./runs_compare.js";

const REFRESH_MS = 3000;

const root = $("#runs-page");
const headers = [...root.querySelectorAll("#runs-table thead th")].map((th) => th.textContent.trim());
const params = new URLSearchParams(window.location.search);
const state = {
  page: Math.max(1, Number(params.get("page")) || 1),
  strategy: params.get("strategy") || "",
  status: params.get("status") || "",
  search: params.get("search") || "",
  labels: new Map(), // strategy id -> {parameter name -> display name}
  timer: null,
};
const ticks = new CompareTicks({ button: $("#compare-button"), status: $("#compare-status") });

function paramsText(run) {
  const labels = state.labels.get(run.strategy?.id) || {};
  return Object.entries(run.parameters || {}).map(([k, v]) => `${labels[k] || k} ${v}`).join(" · ");
}

function period(run) {
  const d = (v) => (typeof v === "string" ? v.slice(0, 10) : "");
  return `${d(run.start_date) || "first bar"} → ${d(run.end_date) || "last bar"} · ${run.interval}`;
}

// The bars the run actually used (they can differ from the typed dates).
function barsUsed(run) {
  if (!run.first_bar) return "";
  const t = (v) => fmtDateTime(v).replace(" UTC", "");
  return `bars ${t(run.first_bar)} → ${t(run.last_bar)} UTC`;
}

function fillsCell(run) {
  return el("td", { class: "small run-fills" },
    el("span", { class: "text-nowrap", text: `fee ${fmtNum(run.fee_pct ?? 0)}%` }), " · ",
    el("span", { class: "run-fill-preset", title: run.fills_text || "", text: run.fill_preset?.label || "" }));
}

// The coins by name (the first eight, then how many more), with the counts of the run.
function coinsCell(run) {
  const symbols = run.coin_symbols || [];
  const names = symbols.slice(0, 8).join(", ") + (symbols.length > 8 ? ` +${symbols.length - 8}` : "");
  const counts = `${fmtInt(run.completed)} / ${fmtInt(run.total)}${run.failed ? ` (${run.failed} failed)` : ""}`;
  return el("td", { class: "small run-coins" },
    el("span", { class: "d-block run-coin-names", title: symbols.join(", "), text: names || "none" }),
    el("span", { class: "text-body-secondary", text: counts }));
}

function row(run) {
  const avg = run.summary?.avg_return;
  const link = el("a", { href: run.page_url || `/runs/${run.id}/`, class: "run-link", text: run.name || fmtDateTime(run.created_at) });
  const tr = el("tr", { dataset: { runId: run.id, status: run.status } },
    ticks.cell(run),
    el("td", { class: "run-name-cell" }, link,
      run.name ? el("span", { class: "d-block small text-body-secondary text-nowrap", text: fmtDateTime(run.created_at) }) : null,
      run.note ? el("span", { class: "d-block small text-body-secondary run-note", text: run.note }) : null),
    el("td", { class: "text-nowrap", text: run.strategy?.name || "?" }),
    el("td", { class: "small text-body-secondary run-params", text: paramsText(run) }),
    el("td", { class: "small run-period" }, el("span", { class: "text-nowrap", text: period(run) }),
      el("span", { class: "d-block text-body-secondary run-bars", text: barsUsed(run) })),
    fillsCell(run),
    coinsCell(run),
    el("td", {}, el("span", { class: statusClass(run.status), dataset: { status: run.status }, text: statusLabel(run.status) })),
    el("td", { class: `text-end ${signClass(avg)}`, text: fmtPct(avg) }),
    el("td", { class: "text-end text-nowrap", text: fmtSeconds(run.elapsed_time) }));
  // On a phone each row is a card: every cell carries its column's name, read from the header.
  tr.querySelectorAll("td").forEach((td, i) => { td.dataset.label = headers[i] || ""; });
  tr.addEventListener("click", (event) => {
    if (!event.target.closest("a")) window.location.assign(link.href);
  });
  return tr;
}

async function load() {
  clearTimeout(state.timer);
  const query = {
    page: state.page > 1 ? state.page : undefined, strategy: state.strategy, status: state.status, search: state.search,
  };
  history.replaceState(null, "", withQuery(window.location.pathname, query));
  let data;
  try {
    data = await getJSON(withQuery($("#runs-page").dataset.apiRuns, query));
  } catch (err) {
    if (err.status === 404 && state.page > 1) {
      state.page = 1;
      return load();
    }
    $("#runs-error").textContent = `The runs could not be loaded: ${err.message}`;
    show($("#runs-error"), true);
    return;
  }
  show($("#runs-error"), false);
  const runs = Array.isArray(data) ? data : data.results || [];
  const count = Array.isArray(data) ? runs.length : data.count ?? runs.length;
  $("#runs-body").replaceChildren(...runs.map(row));
  $("#runs-count").textContent = `(${fmtInt(count)})`;
  show($("#runs-empty"), runs.length === 0);
  $("#runs-empty-text").textContent = state.search ? `No run is named like “${state.search}”.` : "No runs yet.";
  $("#runs-prev").disabled = !data.previous;
  $("#runs-next").disabled = !data.next;
  $("#runs-page-label").textContent = data.next || data.previous ? `Page ${state.page}` : "";
  root.dataset.ready = "true";
  if (runs.some((r) => IN_PROGRESS.has(r.status))) state.timer = setTimeout(load, REFRESH_MS);
}

async function init() {
  $("#runs-prev").addEventListener("click", () => { state.page = Math.max(1, state.page - 1); load(); });
  $("#runs-next").addEventListener("click", () => { state.page += 1; load(); });
  const strategySelect = $("#filter-strategy");
  const statusSelect = $("#filter-status");
  statusSelect.value = state.status;
  const search = $("#filter-search");
  search.value = state.search;
  let searchTimer = null;
  const searchNow = () => { state.search = search.value.trim(); state.page = 1; load(); };
  search.addEventListener("input", () => { clearTimeout(searchTimer); searchTimer = setTimeout(searchNow, 250); });
  $("#runs-search").addEventListener("submit", (event) => { event.preventDefault(); clearTimeout(searchTimer); searchNow(); });
  const deleted = params.get("deleted");
  if (deleted) {
    $("#runs-deleted").textContent = `Run “${deleted}” deleted, with its results and events.`;
    show($("#runs-deleted"), true);
  }
  strategySelect.addEventListener("change", () => { state.strategy = strategySelect.value; state.page = 1; load(); });
  statusSelect.addEventListener("change", () => { state.status = statusSelect.value; state.page = 1; load(); });
  try {
    const strategies = await getAll(root.dataset.apiStrategies);
    for (const s of strategies) {
      state.labels.set(s.id, Object.fromEntries((s.parameters || []).map((p) => [p.name, p.display_name || p.name])));
      strategySelect.append(el("option", { value: String(s.id), text: s.name }));
    }
    strategySelect.value = state.strategy;
  } catch {
    /* names fall back to the parameters' keys */
  }
  await load();
}

init();
