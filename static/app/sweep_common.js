// What the sweep pages share: the aggregates' names and formats, status badges, the options block.
import { $, fmtInt, fmtNum, fmtPct } from "./dom.js";

export const AGGREGATE_LABELS = {
  avg_total_return: "Avg return",
  median_total_return: "Median return",
  avg_sharpe_ratio: "Avg Sharpe",
  avg_max_drawdown: "Avg max drawdown",
  avg_win_rate: "Avg win rate",
  total_trades: "Total trades",
  positive_pct: "Coins positive",
  beat_buy_hold_pct: "Coins beating buy & hold",
};

// The statuses and their badge styles are the runs' (runs.models, through the page-facts block).
export { IN_PROGRESS, METRICS, RESUMABLE, statusClass } from "./facts.js";

export const aggregateLabel = (name) => AGGREGATE_LABELS[name] || name;

// An aggregate as the page prints it: returns and shares as percentages, Sharpe with 2 decimals, trades whole.
export function fmtAggregate(name, value) {
  if (name === "total_trades") return fmtInt(value);
  if (name === "avg_sharpe_ratio" || name === "robustness") return fmtNum(value);
  if (name === "positive_pct" || name === "beat_buy_hold_pct" || name === "avg_win_rate") {
    return fmtPct(value, { sign: false, digits: 1 });
  }
  return fmtPct(value);
}

// {aggregates, objective, fill, stop_mode} from the page's json_script block (the server's own lists).
export function sweepOptions() {
  const node = $("#sweep-options");
  return node ? JSON.parse(node.textContent) : {};
}

export function paramsText(parameters, labels = {}) {
  return Object.entries(parameters || {}).map(([k, v]) => `${labels[k] || k} ${v}`).join(" · ");
}

