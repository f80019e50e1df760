// The facts the pages display, defined once in Python (the engine's fee range, market_data's
// intervals, runs.models' metric labels and run statuses) and handed over by the template as JSON
// (backtest_site/pages.py `page_facts`, json_script "page-facts"). No script keeps a copy.
export const facts = JSON.parse(document.getElementById("page-facts").textContent);

export const METRICS = new Map(facts.metrics.map((m) => [m.key, m]));
export const IN_PROGRESS = new Set(facts.in_progress);
export const RESUMABLE = new Set(facts.resumable);
const STATUS = new Map(facts.statuses.map((s) => [s.value, s]));

export function statusLabel(value) {
  return STATUS.get(value)?.label || String(value ?? "");
}

// The badge class of a run status.
export function statusClass(value) {
  return `badge text-bg-${STATUS.get(value)?.style || "secondary"}`;
}
