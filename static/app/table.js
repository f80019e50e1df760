// The results table: one row per coin (keyed by symbol, so a replayed event never doubles a row),
// sortable by any column from keyboard or mouse, gains and losses coloured, exportable to CSV.
import { el, fmtInt, fmtNum, fmtPct, isNum, signClass } from "./dom.js";

const STATUS_ORDER = { ok: 0, skipped: 1, failed: 2 };

export const COLUMNS = [
  { key: "symbol", label: "Coin", type: "text", csv: "symbol" },
  { key: "total_return", label: "Return %", fmt: (v) => fmtPct(v), colour: true },
  { key: "buy_hold_return", label: "Buy&Hold %", fmt: (v) => fmtPct(v), colour: true },
  { key: "vs_bh", label: "vs B&H", fmt: (v) => (isNum(v) ? `${v > 0 ? "+" : ""}${fmtNum(v)} pp` : "–"), colour: true,
    title: "Return minus buy-and-hold return, in percentage points" },
  { key: "win_rate", label: "Win rate", fmt: (v) => fmtPct(v, { sign: false }) },
  { key: "total_trades", label: "Trades", fmt: fmtInt },
  { key: "sharpe_ratio", label: "Sharpe", fmt: (v) => fmtNum(v), colour: true },
  { key: "max_drawdown", label: "Max DD", fmt: (v) => fmtPct(v, { sign: false }), colour: true },
  { key: "exposure_pct", label: "Exposure", fmt: (v) => fmtPct(v, { sign: false }), title: "Share of bars spent in a position" },
  { key: "stop_loss_exits", label: "Stop-losses", fmt: fmtInt },
  { key: "status", label: "Status", type: "text" },
];

const METRICS = ["total_return", "win_rate", "total_trades", "profitable_trades", "losing_trades", "buy_hold_return",
  "sharpe_ratio", "max_drawdown", "exposure_pct", "stop_loss_exits"];

function num(value) {
  if (value === null || value === undefined || value === "") return null;
  const n = Number(value);
  return Number.isFinite(n) ? n : null;
}

// One row from any source: a `result` event's data, an `error` event, or a stored result of GET /api/runs/<id>/.
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
  for (const key of METRICS) row[key] = row.status === "ok" ? num(source[key]) : null;
  row.vs_bh = isNum(row.total_return) && isNum(row.buy_hold_return)
    ? Math.round((row.total_return - row.buy_hold_return) * 100) / 100 : null;
  return row;
}

function statusText(row) {
  if (row.status === "ok") return "OK";
  if (row.status === "skipped") return "Skipped (run cancelled)";
  return row.error || "Failed";
}

export class ResultsTable {
  constructor({ table, head, body, empty, count, onOpen }) {
    this.table = table;
    this.head = head;
    this.body = body;
    this.empty = empty;
    this.count = count;
    this.onOpen = onOpen;
    this.rows = new Map(); // symbol -> row
    this.trs = new Map(); // symbol -> <tr>
    this.sort = { key: null, dir: "none" };
    this.renderHead();
  }

  renderHead() {
    this.head.replaceChildren(
      ...COLUMNS.map((col) => {
        const button = el("button", { type: "button", class: "sort-button", dataset: { key: col.key }, title: col.title },
          col.label, el("span", { class: "sort-icon", "aria-hidden": "true" }));
        button.addEventListener("click", () => this.sortBy(col.key));
        return el("th", { scope: "col", class: col.type === "text" ? "" : "text-end", "aria-sort": "none", dataset: { key: col.key } }, button);
      }),
    );
  }

  clear() {
    this.rows.clear();
    this.trs.clear();
    this.body.replaceChildren();
    this.sort = { key: null, dir: "none" };
    this.updateHead();
    this.updateCount();
  }

  upsert(row) {
    this.rows.set(row.symbol, row);
    const fresh = this.renderRow(row);
    const old = this.trs.get(row.symbol);
    if (old) old.replaceWith(fresh);
    this.trs.set(row.symbol, fresh);
    if (!old || this.sort.key) this.reorder();
    this.updateCount();
  }

  values() {
    return Array.from(this.rows.values());
  }

  renderRow(row) {
    const tr = el("tr", { dataset: { symbol: row.symbol, status: row.status }, class: row.status === "ok" ? "result-row" : "result-row table-row-muted" });
    for (const col of COLUMNS) {
      if (col.key === "symbol") {
        const name = el("span", { class: "d-block small text-body-secondary text-truncate coin-name", text: row.name });
        const label = row.status === "ok"
          ? el("button", { type: "button", class: "btn btn-link p-0 fw-semibold coin-open", text: row.symbol,
            "aria-label": `${row.symbol}: open charts and trades`, "aria-haspopup": "dialog" })
          : el("span", { class: "fw-semibold", text: row.symbol });
        tr.append(el("th", { scope: "row" }, label, name));
        continue;
      }
      if (col.key === "status") {
        const cls = row.status === "ok" ? "text-success" : row.status === "failed" ? "text-danger error-cell" : "text-body-secondary";
        tr.append(el("td", { class: `small ${cls}`, text: statusText(row) }));
        continue;
      }
      const value = row[col.key];
      let cls = "text-end text-nowrap";
      if (col.colour) cls += ` ${signClass(value)}`;
      tr.append(el("td", { class: cls, text: col.fmt(value) }));
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
      if (key === "symbol") return factor * a.symbol.localeCompare(b.symbol);
      const na = !isNum(va);
      const nb = !isNum(vb);
      if (na || nb) return na === nb ? a.symbol.localeCompare(b.symbol) : na ? 1 : -1; // no value: always last
      return factor * (va - vb) || a.symbol.localeCompare(b.symbol);
    };
  }

  sorted() {
    const rows = this.values();
    if (this.sort.key) rows.sort(this.compare(this.sort.key, this.sort.dir));
    return rows;
  }

  // First press: numbers from high to low, text from A to Z; the next press reverses.
  sortBy(key) {
    const col = COLUMNS.find((c) => c.key === key);
    let dir;
    if (this.sort.key === key) dir = this.sort.dir === "ascending" ? "descending" : "ascending";
    else dir = col.type === "text" ? "ascending" : "descending";
    this.sort = { key, dir };
    this.updateHead();
    this.reorder();
  }

  updateHead() {
    for (const th of this.head.querySelectorAll("th")) {
      const active = th.dataset.key === this.sort.key;
      th.setAttribute("aria-sort", active ? this.sort.dir : "none");
      th.querySelector(".sort-icon").textContent = active ? (this.sort.dir === "ascending" ? " ▲" : " ▼") : "";
    }
  }

  reorder() {
    // append() moves existing rows, so focus and listeners survive a re-sort
    for (const row of this.sorted()) this.body.append(this.trs.get(row.symbol));
  }

  updateCount() {
    const rows = this.values();
    const failed = rows.filter((r) => r.status === "failed").length;
    this.count.textContent = rows.length ? `(${rows.length} coin${rows.length === 1 ? "" : "s"}${failed ? `, ${failed} failed` : ""})` : "";
    this.empty.classList.toggle("d-none", rows.length > 0);
  }

  toCSV() {
    const header = ["coin", "name", ...COLUMNS.slice(1, -1).map((c) => c.key), "profitable_trades", "losing_trades", "status", "error"];
    const lines = [header];
    for (const row of this.sorted()) {
      lines.push([
        row.symbol, row.name, ...COLUMNS.slice(1, -1).map((c) => row[c.key]), row.profitable_trades, row.losing_trades,
        row.status, row.error,
      ]);
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
