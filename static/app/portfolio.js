// The run page's portfolio panel: the run's coins traded as one account (runs/portfolio.py).
// A live run shows the account's metrics from its `portfolio` event at once; the curves, the
// contributions and the coins alone come with the stored run (GET /api/runs/<id>/, "portfolio"),
// which the page reads when the run ends and when a stored run is opened.
import { BUY_HOLD_COLOUR, contributionBars, equityPanes, LINE_COLOURS } from "./account_charts.js";
import { $, el, fmtInt, fmtNum, fmtPct, isNum, show, signClass } from "./dom.js";
import { facts, METRICS } from "./facts.js";

// The rows of the side-by-side table, in this order (labels and units from the page facts).
const ROWS = ["total_return", "cagr", "max_drawdown", "sharpe_ratio", "sortino_ratio", "win_rate", "total_trades",
  "exposure_pct", "max_drawdown_duration", "skipped_entries"];
const EXTRA = new Map((facts.portfolio?.metrics || []).map((m) => [m.key, m]));
const SHARED_COLOUR = LINE_COLOURS[0];
const ALONE_COLOUR = "#adb5bd";
const BARS = 40; // the most coins the bars show

const meta = (key) => METRICS.get(key) || EXTRA.get(key) || { label: key, unit: "" };

export function fmtMetric(key, value, { sign = false } = {}) {
  const { unit } = meta(key);
  if (unit === "int") return sign && isNum(value) && value > 0 ? `+${fmtInt(value)}` : fmtInt(value);
  if (unit === "%") return fmtPct(value, { sign });
  return sign && isNum(value) && value > 0 ? `+${fmtNum(value)}` : fmtNum(value);
}

const plural = (n, word) => `${fmtInt(n)} ${word}${n === 1 ? "" : "s"}`;

// The chart libraries' first draw compiles much of their code (about 200 ms for ECharts on a busy
// 2-core machine): done once while the page is idle after loading, on a small chart out of sight,
// so the panel's draws at the end of a run are short tasks.
function warmUp() {
  const idle = window.requestIdleCallback || ((fn) => setTimeout(fn, 200));
  idle(() => {
    const box = el("div", { class: "chart-warmup", "aria-hidden": "true" });
    document.body.append(box);
    const bars = contributionBars(box, { symbols: ["A", "B"], series: [{ name: "a", colour: SHARED_COLOUR, values: [1, -1] }] });
    idle(() => {
      bars.dispose();
      const chart = equityPanes(box, [{ name: "a", colour: SHARED_COLOUR, times: [1e9, 1e9 + 3600], values: [1, 1.1], drawdown: true }]);
      requestAnimationFrame(() => requestAnimationFrame(() => {
        chart.remove();
        box.remove();
      }));
    }, { timeout: 2000 });
  }, { timeout: 2000 });
}

export class PortfolioPanel {
  constructor(root) {
    this.root = root;
    this.chart = null;
    this.bars = null;
    this.runId = null;
    this.contributions = null; // what the bars show, drawn again when the width changes (label slant)
    this.drawToken = 0; // a newer draw (or clear) makes an older one's pending steps void
    this.width = 0;
    new ResizeObserver(() => {
      const width = $("#contributions-chart", root).clientWidth;
      if (this.bars && this.contributions && width !== this.width) this.drawContributions(...this.contributions);
      else this.bars?.resize();
    }).observe(root);
    $("#contributions-details", root).addEventListener("toggle", () => this.fillTable());
    warmUp();
  }

  clear() {
    this.drawToken += 1;
    this.chart?.remove();
    this.chart = null;
    this.bars?.dispose();
    this.bars = null;
    this.contributions = null;
    this.runId = null;
    show(this.root, false);
    this.root.dataset.state = "";
  }

  // The `portfolio` event of a live run: slots, coins, metrics (or an error); the rest follows.
  fromEvent(payload, runId) {
    if (this.root.dataset.state === "stored" && this.runId === runId) return; // the stored one is already shown
    this.runId = runId;
    this.header(payload);
    if (this.failed(payload)) return;
    this.renderMetrics(payload.metrics || {}, null);
    for (const id of ["#portfolio-chart", "#contributions-chart"]) {
      const box = $(id, this.root);
      if (!box.dataset.drawn) box.replaceChildren(el("div", { class: "chart-loading", text: "Drawn when the run is stored…" }));
    }
    this.root.dataset.state = "event";
  }

  // A stored run: its "portfolio" (null for a run whose coins all failed, or one made before accounts).
  fromRun(run) {
    const p = run?.portfolio;
    if (!p) {
      if (this.runId !== run?.id) this.clear();
      return;
    }
    this.runId = run.id;
    this.header(p);
    if (this.failed(p)) return;
    this.renderMetrics(p.metrics || {}, p.isolated || null);
    // Each chart in a task of its own, after the frame that shows the summary: the page never holds
    // the main thread for long, however many coins (a first ECharts draw alone costs tens of ms).
    const token = ++this.drawToken;
    const later = (fn) => new Promise((resolve) => requestAnimationFrame(() => setTimeout(() => {
      if (token === this.drawToken) fn();
      resolve();
    }, 0)));
    const timed = (name, fn) => () => {
      const t0 = performance.now();
      fn();
      performance.measure(`bt:portfolio-${name}`, { start: t0, end: performance.now() });
    };
    later(timed("equity", () => this.drawEquity(p.equity || {})))
      .then(() => later(timed("contributions", () => this.drawContributions(p.contributions || {}, p.isolated?.contributions || {}))))
      .then(() => { if (token === this.drawToken) this.root.dataset.state = "stored"; });
  }

  header(p) {
    show(this.root, true);
    const coins = p.coins ?? 0;
    const slots = p.slots ?? coins;
    $("#portfolio-meta", this.root).textContent = slots >= coins
      ? `${plural(coins, "coin")} · ${plural(slots, "slot")}: every coin can hold a position at once`
      : `${plural(coins, "coin")} · at most ${plural(slots, "position")} at once`;
    $("#portfolio-shared-sub", this.root).textContent = `${plural(slots, "slot")}`;
    $("#portfolio-alone-sub", this.root).textContent = coins ? `1/${fmtInt(coins)} each` : "";
    const skipped = p.metrics?.skipped_entries;
    const badge = $("#portfolio-skipped", this.root);
    badge.textContent = `${fmtInt(skipped)} ${skipped === 1 ? "entry" : "entries"} skipped for want of a slot`;
    show(badge, isNum(skipped) && skipped > 0);
  }

  failed(p) {
    const box = $("#portfolio-error", this.root);
    box.textContent = p.error ? `The account could not be computed: ${p.error}` : "";
    show(box, Boolean(p.error));
    show($("#portfolio-body", this.root), !p.error);
    if (p.error) this.root.dataset.state = "error";
    return Boolean(p.error);
  }

  renderMetrics(shared, isolated) {
    const alone = isolated?.metrics || {};
    const rows = ROWS.map((key) => {
      const m = meta(key);
      const a = shared[key];
      const b = key === "skipped_entries" ? (isolated ? 0 : undefined) : alone[key];
      const diff = isNum(a) && isNum(b) ? a - b : null;
      const colour = Boolean(m.colour);
      return el("tr", { dataset: { key } },
        el("th", { scope: "row", class: "fw-normal", title: m.title || "" }, m.label),
        el("td", { class: `text-end fw-semibold ${colour ? signClass(a) : ""}`, dataset: { col: "shared" }, text: fmtMetric(key, a, { sign: colour }) }),
        el("td", { class: `text-end ${colour ? signClass(b) : ""}`, dataset: { col: "alone" }, text: isolated ? fmtMetric(key, b, { sign: colour }) : "…" }),
        el("td", { class: `text-end ${colour ? signClass(diff) : ""}`, dataset: { col: "diff" },
          text: isolated ? fmtMetric(key, diff, { sign: true }) : "…" }));
    });
    $("#portfolio-metrics-body", this.root).replaceChildren(...rows);
  }

  drawEquity(equity) {
    const box = $("#portfolio-chart", this.root);
    this.chart?.remove();
    this.chart = null;
    if (!(equity.times || []).length) {
      box.replaceChildren(el("div", { class: "chart-loading", text: "No equity stored for this account." }));
      return;
    }
    this.chart = equityPanes(box, [
      { name: "buy-and-hold", colour: BUY_HOLD_COLOUR, times: equity.times, values: equity.buy_hold, dashed: true, width: 1.5 },
      { name: "account", colour: SHARED_COLOUR, times: equity.times, values: equity.values, drawdown: true },
    ], { digits: 2 });
    const last = (values) => (values?.length ? fmtNum(Number(values.at(-1)), 3) : "–");
    box.setAttribute("aria-label", `The account's equity ends at ${last(equity.values)}, the equal-weight buy-and-hold at `
      + `${last(equity.buy_hold)} (both start at 1); the lower pane is the account's drawdown`);
  }

  drawContributions(shared, alone) {
    const box = $("#contributions-chart", this.root);
    this.contributions = [shared, alone];
    this.width = box.clientWidth;
    const symbols = Object.keys(shared).sort((x, y) => (shared[y] - shared[x]) || x.localeCompare(y));
    this.tableRows = symbols;
    $("#contributions-body", this.root).replaceChildren();
    if ($("#contributions-details", this.root).open) this.fillTable();
    if (!symbols.length) {
      this.bars?.dispose();
      this.bars = null;
      box.replaceChildren(el("div", { class: "chart-loading", text: "No coin traded in the account." }));
      return;
    }
    // Past BARS coins the bars show the largest gains and the largest losses; the table has every coin.
    const shown = symbols.length > BARS ? [...symbols.slice(0, BARS / 2), ...symbols.slice(-BARS / 2)] : symbols;
    if (!this.bars) box.replaceChildren();
    else this.bars.resize();
    this.bars = contributionBars(box, {
      symbols: shown,
      window: BARS,
      series: [
        { name: "Shared account", colour: SHARED_COLOUR, values: shown.map((s) => shared[s]) },
        { name: "Alone (equal share)", colour: ALONE_COLOUR, values: shown.map((s) => alone[s] ?? null) },
      ],
    });
    box.dataset.coins = String(symbols.length);
    const total = symbols.reduce((sum, s) => sum + (shared[s] || 0), 0);
    const best = symbols[0];
    const worst = symbols.at(-1);
    const low = `${shared[worst] < 0 ? "largest loss" : "smallest gain"} ${worst} ${fmtPct(shared[worst])}`;
    const text = `${plural(symbols.length, "coin")}; together ${fmtPct(total)} of the capital. `
      + `Largest gain ${best} ${fmtPct(shared[best])}${symbols.length > 1 ? `, ${low}` : ""}.`;
    box.setAttribute("aria-label", `Each coin's contribution to the account: ${text}`);
    const part = shown.length < symbols.length
      ? ` The bars show the ${BARS / 2} largest and the ${BARS / 2} smallest; the table below has all ${fmtInt(symbols.length)}.` : "";
    $("#contributions-note", this.root).textContent = "% of the starting capital each coin's trades made or lost, "
      + `in the shared account and alone: ${text}${part}`;
  }

  // The table of every coin's contribution, built when it is opened (500 rows cost nothing until then).
  fillTable() {
    const body = $("#contributions-body", this.root);
    if (body.childElementCount || !this.contributions) return;
    const [shared, alone] = this.contributions;
    body.replaceChildren(...(this.tableRows || []).map((s) => {
      const a = shared[s];
      const b = alone[s];
      const diff = isNum(a) && isNum(b) ? a - b : null;
      return el("tr", { dataset: { symbol: s } },
        el("th", { scope: "row", class: "fw-normal", text: s }),
        el("td", { class: `text-end ${signClass(a)}`, text: fmtPct(a) }),
        el("td", { class: `text-end ${signClass(b)}`, text: fmtPct(b) }),
        el("td", { class: `text-end ${signClass(diff)}`, text: fmtPct(diff) }));
    }));
  }
}
