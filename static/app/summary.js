// The summary cards shown when a run ends (the `complete` event's summary, or the stored run's).
import { el, fmtInt, fmtNum, fmtPct, fmtSeconds, signClass } from "./dom.js";
import { METRICS } from "./facts.js";

// The summary's other averages (avg_sharpe_ratio, avg_cagr, ...), each labelled and formatted as its
// metric is (runs.models METRIC_DISPLAY through the page facts); avg_trade_return is a metric itself.
function averageCards(s) {
  const cards = [];
  for (const [key, value] of Object.entries(s)) {
    if (!key.startsWith("avg_") || key === "avg_return" || key === "avg_win_rate") continue;
    const own = METRICS.get(key);
    const metric = own || METRICS.get(key.slice(4));
    if (!metric) continue;
    const label = own ? `${metric.label}, mean of coins` : `Avg ${metric.label}`;
    const text = metric.unit === "%" ? fmtPct(value, { sign: Boolean(metric.colour) }) : fmtNum(value);
    cards.push(card(key, label, text, { cls: metric.colour ? signClass(value) : "" }));
  }
  return cards;
}

function card(key, label, value, { cls = "", sub = "" } = {}) {
  return el("div", { class: "col" },
    el("div", { class: "card h-100 summary-card shadow-sm", dataset: { key } },
      el("div", { class: "card-body p-2" },
        el("div", { class: "small text-body-secondary", text: label }),
        el("div", { class: `fs-5 fw-semibold text-truncate ${cls}`, text: value }),
        sub ? el("div", { class: "small text-body-secondary", text: sub }) : null)));
}

function performer(p) {
  if (!p) return ["–", ""];
  return [p.crypto_symbol, `${fmtPct(p.total_return)} · ${p.crypto_name || ""}`];
}

// skipped: coins a cancel left unstarted (counted from the run's stored rows; the summary has no count).
export function renderSummary(container, summary, elapsed, { skipped = 0 } = {}) {
  const s = summary || {};
  const [best, bestName] = performer(s.best_performer);
  const [worst, worstName] = performer(s.worst_performer);
  const ok = s.successful ?? 0;
  container.replaceChildren(...[
    card("coins", "Coins", fmtInt(s.total_cryptos)),
    card("successful", "Successful", fmtInt(s.successful), { cls: "text-success" }),
    card("failed", "Failed", fmtInt(s.failed), { cls: s.failed ? "text-danger" : "" }),
    skipped ? card("skipped", "Skipped", fmtInt(skipped), { sub: "not started: the run was cancelled" }) : null,
    card("avg_return", "Average return", fmtPct(s.avg_return), { cls: signClass(s.avg_return) }),
    card("avg_win_rate", "Average win rate", fmtPct(s.avg_win_rate, { sign: false })),
    card("total_trades", "Total trades", fmtInt(s.total_trades),
      { sub: `${fmtInt(s.total_winning_trades)} winning · ${fmtInt(s.total_losing_trades)} losing` }),
    ...averageCards(s),
    card("best", "Best performer", best, { cls: signClass(s.best_performer?.total_return), sub: bestName }),
    card("worst", "Worst performer", worst, { cls: signClass(s.worst_performer?.total_return), sub: worstName }),
    card("beat_buy_hold", "Beat buy-and-hold", `${fmtInt(s.beat_buy_hold)} of ${fmtInt(ok)}`,
      { sub: "coins whose return beat holding the coin" }),
    card("elapsed", "Elapsed time", fmtSeconds(elapsed)),
  ].filter(Boolean));
}
