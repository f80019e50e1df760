// The past sweeps page (`/sweeps/`): GET /api/sweeps/, newest first, each row opening /sweeps/<id>/.
// While a sweep on the page is still going, the list refreshes itself every few seconds.
import { getAll, getJSON } from "./api.js";
import { $, el, fmtDateTime, fmtInt, show } from "./dom.js";
import { IN_PROGRESS, aggregateLabel, fmtAggregate, statusClass } from "./sweep_common.js";

const REFRESH_MS = 3000;
const root = $("#sweeps-page");
let timer = null;
const labels = {}; // parameter name -> display name, from the strategies

function gridText(sweep) {
  return (sweep.axes || []).map((a) => {
    const v = a.values || [];
    const span = v.length > 3 ? `${v[0]} … ${v.at(-1)}` : v.join(", ");
    return `${labels[a.name] || a.name} ${span} (${v.length})`;
  }).join(" × ");
}

function row(sweep) {
  const best = sweep.summary?.best;
  const href = sweep.page_url || `/sweeps/${sweep.id}/`;
  const link = el("a", { href, class: "sweep-link text-nowrap", text: fmtDateTime(sweep.created_at) });
  const tr = el("tr", { dataset: { sweepId: sweep.id, status: sweep.status } },
    el("td", {}, link),
    el("td", { class: "text-nowrap", text: sweep.strategy?.name || "?" }),
    el("td", { class: "small text-body-secondary", text: gridText(sweep) }),
    el("td", { class: "text-end text-nowrap", text: `${fmtInt(sweep.completed)} / ${fmtInt(sweep.total)}${sweep.skipped ? ` (+${fmtInt(sweep.skipped)} skipped)` : ""}` }),
    el("td", {}, el("span", { class: statusClass(sweep.status), text: sweep.status })),
    el("td", { class: "small", text: aggregateLabel(sweep.objective) }),
    el("td", { class: "text-end text-nowrap best-objective", text: best ? fmtAggregate(sweep.objective, best.objective) : "–" }));
  tr.addEventListener("click", (event) => {
    if (!event.target.closest("a")) window.location.assign(href);
  });
  return tr;
}

async function load() {
  clearTimeout(timer);
  let data;
  try {
    data = await getJSON(root.dataset.apiSweeps);
  } catch (err) {
    const alert = $("#sweeps-error");
    alert.textContent = `Could not load the sweeps: ${err.message}`;
    show(alert, true);
    return;
  }
  const sweeps = data.results || [];
  $("#sweeps-body").replaceChildren(...sweeps.map(row));
  $("#sweeps-count").textContent = `(${sweeps.length})`;
  show($("#sweeps-empty"), sweeps.length === 0);
  root.dataset.ready = "true";
  if (sweeps.some((s) => IN_PROGRESS.has(s.status))) timer = setTimeout(load, REFRESH_MS);
}

async function init() {
  try {
    for (const strategy of await getAll(root.dataset.apiStrategies)) {
      for (const p of strategy.parameters || []) labels[p.name] = labels[p.name] || p.display_name || p.name;
    }
  } catch {
    /* the parameters' own names do */
  }
  await load();
}

init();
