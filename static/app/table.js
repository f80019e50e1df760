// The results table: one row per coin (keyed by symbol, so a replayed event never doubles a row),
// sortable by any column from keyboard or mouse, gains and losses coloured, exportable to CSV.
//
// Built for 500 coins: an upsert only stores the row and asks for one render per animation frame;
// the render sorts once and puts in the <tbody> only the rows near the viewport (with spacer rows
// standing for the rest), moving a row only when it is out of place. A sort is one Array.sort
// and one such render, done at once.
import { facts, METRICS } from "./facts.js";
import { el, fmtInt, fmtNum, fmtPct, isNum, signClass } from "./dom.js";

const STATUS_ORDER = { ok: 0, skipped: 1, failed: 2 };
const VIRTUAL_FROM = 60; // fewer rows than this are all rendered
const OVERSCAN = 8; // rows rendered above and below the viewport

function metricFormat(metric) {
  if (metric.unit === "int") return fmtInt;
  if (metric.unit === "%") return (v) => fmtPct(v, { sign: Boolean(metric.colour) });
  return (v) => fmtNum(v);
}

const metricColumn = (key) => {
  const m = METRICS.get(key);
  return { key, label: m.label, title: m.title, fmt: metricFormat(m), colour: Boolean(m.colour) };
};

const vsBuyHold = {
  key: "vs_bh", label: "vs B&H", fmt: (v) => (isNum(v) ? `${v > 0 ? "+" : ""}${fmtNum(v)} pp` : "–"), colour: true,
  title: "Return minus buy-and-hold return, in percentage points",
};
// The columns shown until the trader chooses (the original's metrics); every other metric can be added.
const DEFAULT_METRICS = ["total_return", "buy_hold_return", "win_rate", "total_trades", "sharpe_ratio", "max_drawdown",
  "exposure_pct", "stop_loss_exits"];
export const DEFAULT_COLUMNS = ["symbol", "total_return", "buy_hold_return", "vs_bh", "win_rate", "total_trades",
  "sharpe_ratio", "max_drawdown", "exposure_pct", "stop_loss_exits", "status"];
// Every column there is, in display order: the defaults first, then the other metrics in the engine's order.
export const COLUMNS = [
  { key: "symbol", label: "Coin", type: "text", fixed: true },
  metricColumn("total_return"),
  metricColumn("buy_hold_return"),
  vsBuyHold,
  ...DEFAULT_METRICS.slice(2).map(metricColumn),
  ...[...METRICS.keys()].filter((k) => !DEFAULT_METRICS.includes(k)).map(metricColumn),
  { key: "status", label: "Status", type: "text", fixed: true },
];
export const SORT_KEYS = new Set(COLUMNS.map((c) => c.key));

const COLUMNS_KEY = "backtest.columns.v1";

// The columns this browser chose (localStorage), or the defaults.
export function storedColumns() {
  try {
    const keys = JSON.parse(localStorage.getItem(COLUMNS_KEY) || "null");
    if (Array.isArray(keys) && keys.length) return new Set([...keys.filter((k) => SORT_KEYS.has(k)), "symbol", "status"]);
  } catch {
    /* a broken entry: the defaults */
  }
  return new Set(DEFAULT_COLUMNS);
}

function storeColumns(keys) {
  try {
    if (keys) localStorage.setItem(COLUMNS_KEY, JSON.stringify([...keys]));
    else localStorage.removeItem(COLUMNS_KEY);
  } catch {
    /* storage off: the choice lasts for this page */
  }
}

function num(value) {
  if (value === null || value === undefined || value === "") return null;
  const n = Number(value);
  return Number.isFinite(n) ? n : null;
}

// One row from any source: a `result` event's data, an `error` event, or a stored result of GET /api/runs/<id>/.
// A metric that means nothing without trades (win rate, Sharpe) is null, shown "–", for a coin with none.
export function rowFrom(source) {
  const row = {
    symbol: String(source.crypto_symbol ?? source.crypto ?? "?"),
    name: String(source.crypto_name ?? ""),
    is_demo: Boolean(source.is_demo),
    error: source.error ? String(source.error) : "",
  };
  if (source.state === "skipped") row.status = "skipped";
  else if (source.success === false || (source.success === undefined && source.error)) row.status = "failed";
  else row.status = "ok";
  for (const key of METRICS.keys()) row[key] = row.status === "ok" ? num(source[key]) : null;
  for (const [key, metric] of METRICS) {
    if (metric.needs_trades && row.status === "ok" && !(row.total_trades > 0)) row[key] = null;
  }
  row.few_trades = row.status === "ok" && isNum(row.total_trades) && row.total_trades < facts.few_trades;
  row.vs_bh = isNum(row.total_return) && isNum(row.buy_hold_return)
    ? Math.round((row.total_return - row.buy_hold_return) * 100) / 100 : null;
  return row;
}

function sameRow(a, b) {
  for (const key of Object.keys(b)) if (a[key] !== b[key]) return false;
  return true;
}

function statusText(row) {
  if (row.status === "ok") return "OK";
  if (row.status === "skipped") return "Skipped (run cancelled)";
  return row.error || "Failed";
}

export class ResultsTable {
  constructor({ table, head, body, empty, count, fewNote, onOpen, onSort }) {
    this.table = table;
    this.head = head;
    this.body = body;
    this.empty = empty;
    this.count = count;
    this.fewNote = fewNote;
    this.onOpen = onOpen;
    this.onSort = onSort;
    this.rows = new Map(); // symbol -> row
    this.trs = new Map(); // symbol -> <tr>, built when first shown, rebuilt when its row changes
    this.stale = new Set(); // symbols whose <tr> is out of date
    this.order = []; // symbols in display order
    this.orderDirty = false;
    this.sort = { key: null, dir: "none" };
    this.frame = 0;
    this.rowHeight = 0;
    this.shown = storedColumns();
    this.columns = COLUMNS.filter((c) => this.shown.has(c.key));
    this.topSpacer = el("tr", { class: "spacer", "aria-hidden": "true" }, el("td", { colspan: this.columns.length }));
    this.bottomSpacer = el("tr", { class: "spacer", "aria-hidden": "true" }, el("td", { colspan: this.columns.length }));
    this.renderHead();
    const later = () => this.rows.size >= VIRTUAL_FROM && this.schedule();
    window.addEventListener("scroll", later, { passive: true });
    window.addEventListener("resize", later);
  }

  // Show these columns (a Set of keys; null: the defaults), remember them in this browser, redraw every row.
  setColumns(keys) {
    this.shown = keys ? new Set([...keys, "symbol", "status"]) : new Set(DEFAULT_COLUMNS);
    storeColumns(keys ? this.shown : null);
    this.columns = COLUMNS.filter((c) => this.shown.has(c.key));
    for (const spacer of [this.topSpacer, this.bottomSpacer]) spacer.firstChild.colSpan = this.columns.length;
    this.renderHead();
    this.updateHead();
    for (const symbol of this.rows.keys()) this.stale.add(symbol);
    this.trs.clear();
    this.body.replaceChildren();
    cancelAnimationFrame(this.frame);
    this.render();
  }

  renderHead() {
    this.head.replaceChildren(
      ...this.columns.map((col) => {
        const button = el("button", { type: "button", class: "sort-button", dataset: { key: col.key }, title: col.title },
          col.label, el("span", { class: "sort-icon", "aria-hidden": "true" }));
        button.addEventListener("click", () => this.sortBy(col.key, null, { user: true }));
        return el("th", { scope: "col", class: col.type === "text" ? "" : "text-end", "aria-sort": "none", dataset: { key: col.key } }, button);
      }),
    );
  }

  clear() {
    cancelAnimationFrame(this.frame);
    this.frame = 0;
    this.rows.clear();
    this.trs.clear();
    this.stale.clear();
    this.order = [];
    this.body.replaceChildren();
    this.sort = { key: null, dir: "none" };
    this.updateHead();
    this.updateCount();
  }

  upsert(row) {
    const old = this.rows.get(row.symbol);
    const known = old !== undefined;
    if (known && sameRow(old, row)) return; // a replayed event or the stored copy of a streamed row
    this.rows.set(row.symbol, row);
    if (!known) this.order.push(row.symbol);
    this.stale.add(row.symbol);
    if (this.sort.key || !known) this.orderDirty = true;
    this.schedule();
  }

  // Many rows at once (a stored run): one render.
  upsertMany(rows) {
    for (const row of rows) this.upsert(row);
  }

  schedule() {
    if (!this.frame) this.frame = requestAnimationFrame(() => this.render());
  }

  // Render now what is pending (the end of a run, a test reading the table).
  flush() {
    if (this.frame) {
      cancelAnimationFrame(this.frame);
      this.render();
    }
  }

  values() {
    return Array.from(this.rows.values());
  }

  render() {
    this.frame = 0;
    if (this.orderDirty && this.sort.key) this.order.sort(this.compareSymbols(this.sort.key, this.sort.dir));
    this.orderDirty = false;
    const n = this.order.length;
    let from = 0;
    let to = n;
    if (n >= VIRTUAL_FROM) {
      const h = this.rowHeight || 40;
      const top = this.body.getBoundingClientRect().top; // of the tbody, in viewport pixels
      from = Math.max(0, Math.floor(-top / h) - OVERSCAN);
      to = Math.min(n, Math.ceil((window.innerHeight - top) / h) + OVERSCAN);
      if (to < from) to = from;
    }
    const wanted = [];
    if (from > 0) wanted.push(this.topSpacer);
    for (let i = from; i < to; i += 1) wanted.push(this.rowElement(this.order[i]));
    if (to < n) wanted.push(this.bottomSpacer);
    // Move only what is out of place, and give the focus back to a moved row's control (moving a
    // node blurs it); drop what is left over.
    // A row drawn anew (its stored copy after the stream's) gives the focus to its new row's control.
    let focused = this.body.contains(document.activeElement) ? document.activeElement : null;
    const focusedRow = focused?.closest("tr[data-symbol]")?.dataset.symbol;
    const focusedClass = focused?.classList.contains("coin-open") ? "coin-open" : null;
    const kids = this.body.children;
    for (let i = 0; i < wanted.length; i += 1) {
      if (kids[i] !== wanted[i]) this.body.insertBefore(wanted[i], kids[i] || null);
    }
    while (kids.length > wanted.length) kids[kids.length - 1].remove();
    if (focused && !focused.isConnected && focusedRow && focusedClass) {
      focused = this.trs.get(focusedRow)?.querySelector(`.${focusedClass}`) || null;
      if (focused && !focused.isConnected) focused = null;
    }
    if (focused && focused.isConnected && document.activeElement !== focused) focused.focus({ preventScroll: true });
    if (n >= VIRTUAL_FROM) {
      const sample = this.body.querySelector("tr.result-row");
      if (sample && !this.rowHeight) this.rowHeight = sample.getBoundingClientRect().height || 40;
      const h = this.rowHeight || 40;
      this.topSpacer.firstChild.style.height = `${from * h}px`;
      this.bottomSpacer.firstChild.style.height = `${(n - to) * h}px`;
    }
    this.table.dataset.rendered = String(to - from);
    this.updateCount();
  }

  rowElement(symbol) {
    let tr = this.trs.get(symbol);
    if (!tr || this.stale.has(symbol)) {
      tr = this.renderRow(this.rows.get(symbol));
      this.trs.set(symbol, tr);
      this.stale.delete(symbol);
    }
    return tr;
  }

  renderRow(row) {
    const tr = el("tr", { dataset: { symbol: row.symbol, status: row.status }, class: row.status === "ok" ? "result-row" : "result-row table-row-muted" });
    for (const col of this.columns) {
      if (col.key === "symbol") {
        const name = el("span", { class: "d-block small text-body-secondary coin-name", text: row.name });
        const label = row.status === "ok"
          ? el("button", { type: "button", class: "btn btn-link p-0 fw-semibold coin-open", text: row.symbol,
            "aria-label": `${row.symbol}: open charts and trades`, "aria-haspopup": "dialog" })
          : el("span", { class: "fw-semibold", text: row.symbol });
        tr.append(el("th", { scope: "row" }, label, name));
        continue;
      }
      if (col.key === "status") {
        const cls = row.status === "ok" ? "text-success" : row.status === "failed" ? "text-danger error-cell" : "text-body-secondary";
        const failed = row.status === "failed";
        tr.append(el("td", { class: `small ${cls}`, title: failed ? row.error : undefined },
          el("span", { class: failed ? "error-text" : "", text: statusText(row) })));
        continue;
      }
      const value = row[col.key];
      let cls = "text-end text-nowrap";
      if (col.colour) cls += ` ${signClass(value)}`;
      const td = el("td", { class: cls, text: col.fmt(value) });
      if (col.key === "total_trades" && row.few_trades) {
        td.append(" ", el("span", { class: "few-flag", title: `Fewer than ${facts.few_trades} trades`, text: "few" }),
          el("span", { class: "visually-hidden", text: `: fewer than ${facts.few_trades} trades, metrics rest on too few` }));
      }
      tr.append(td);
    }
    if (row.status === "ok") {
      tr.addEventListener("click", (event) => {
        if (event.target.closest("a")) return;
        this.onOpen?.(row);
      });
    }
    return tr;
  }

  compare(key, dir) {
    const factor = dir === "ascending" ? 1 : -1;
    return (a, b) => {
      let va = a[key];
      let vb = b[key];
      if (key === "status") {
        va = STATUS_ORDER[a.status] ?? 9;
        vb = STATUS_ORDER[b.status] ?? 9;
      }
      if (key === "symbol") return factor * (a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : 0);
      const na = !isNum(va);
      const nb = !isNum(vb);
      if (na || nb) return na === nb ? (a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : 0) : na ? 1 : -1; // no value: last
      return factor * (va - vb) || (a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : 0);
    };
  }

  compareSymbols(key, dir) {
    const cmp = this.compare(key, dir);
    return (a, b) => cmp(this.rows.get(a), this.rows.get(b));
  }

  sorted() {
    const rows = this.values();
    if (this.sort.key) rows.sort(this.compare(this.sort.key, this.sort.dir));
    return rows;
  }

  // First press: numbers from high to low, text from A to Z; the next press reverses.
  // dir given: that direction (a sort restored from the address, the sort at the end of a run).
  sortBy(key, dir = null, { user = false } = {}) {
    const col = COLUMNS.find((c) => c.key === key);
    if (!col) return;
    if (!dir) {
      if (this.sort.key === key) dir = this.sort.dir === "ascending" ? "descending" : "ascending";
      else dir = col.type === "text" ? "ascending" : "descending";
    }
    this.sort = { key, dir };
    this.userSorted = this.userSorted || user;
    this.updateHead();
    this.orderDirty = true;
    cancelAnimationFrame(this.frame);
    this.render();
    this.onSort?.(this.sort);
  }

  updateHead() {
    for (const th of this.head.querySelectorAll("th")) {
      const active = th.dataset.key === this.sort.key;
      th.setAttribute("aria-sort", active ? this.sort.dir : "none");
      th.querySelector(".sort-icon").textContent = active ? (this.sort.dir === "ascending" ? " ▲" : " ▼") : "";
    }
  }

  updateCount() {
    let failed = 0;
    let few = 0;
    for (const r of this.rows.values()) {
      if (r.status === "failed") failed += 1;
      if (r.few_trades) few += 1;
    }
    const n = this.rows.size;
    this.count.textContent = n ? `(${n} coin${n === 1 ? "" : "s"}${failed ? `, ${failed} failed` : ""})` : "";
    this.empty.classList.toggle("d-none", n > 0);
    this.fewNote?.classList.toggle("d-none", few === 0);
  }

  // Every metric, shown or not, in the table's current order.
  toCSV() {
    const metricCols = COLUMNS.slice(1, -1).map((c) => c.key);
    const header = ["coin", "name", ...metricCols, "status", "error"];
    const lines = [header];
    for (const row of this.sorted()) {
      lines.push([row.symbol, row.name, ...metricCols.map((k) => row[k]), row.status, row.error]);
    }
    return lines.map((cells) => cells.map(csvCell).join(",")).join("\r\n") + "\r\n";
  }
}

// A CSV cell: numbers as they are; text quoted, and text that a spreadsheet would run as a formula defused.
export function csvCell(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "number") return Number.isFinite(value) ? String(value) : "";
  let text = String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return `"${text.replaceAll('"', '""')}"`;
}

export function downloadText(filename, text, type = "text/csv;charset=utf-8") {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = el("a", { href: url, download: filename, class: "d-none" });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
