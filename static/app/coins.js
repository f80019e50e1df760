// The searchable multi-select of coins: a filter box over a list of labelled checkboxes.
// Every coin is ticked by default, and then the run is sent without `symbols` (= all coins).
// The list is one Tab stop (a roving tabindex): arrow keys, Home and End move within it, Space
// ticks, so the Run button is not 48 Tabs away.
import { $, $$, dateOnly, el } from "./dom.js";

export class CoinPicker {
  constructor(root) {
    this.root = root;
    this.list = $("#coin-list", root);
    this.search = $("#coin-search", root);
    this.count = $("#coins-count", root);
    this.coins = [];
    this.search.addEventListener("input", () => this.filter());
    this.search.addEventListener("keydown", (event) => {
      if (event.key === "Enter") event.preventDefault(); // never submits the form from the filter box
    });
    $("#coins-all", root).addEventListener("click", () => this.setAll(true));
    $("#coins-none", root).addEventListener("click", () => this.setAll(false));
    this.list.addEventListener("change", () => this.updateCount());
    this.list.addEventListener("focusin", (event) => {
      if (event.target.matches("input[type=checkbox]")) this.rove(event.target);
    });
    this.list.addEventListener("keydown", (event) => this.onKey(event));
  }

  visibleBoxes() {
    return $$(".coin-item", this.list).filter((i) => !i.hidden).map((i) => $("input", i));
  }

  // One box in the Tab order: `current` if it is visible, else the first visible one.
  rove(current = null) {
    const visible = this.visibleBoxes();
    const keep = current && visible.includes(current) ? current : visible.find((b) => b.tabIndex === 0) || visible[0];
    for (const box of this.boxes()) box.tabIndex = box === keep ? 0 : -1;
  }

  onKey(event) {
    const visible = this.visibleBoxes();
    const i = visible.indexOf(document.activeElement);
    if (i < 0) return;
    const moves = { ArrowDown: i + 1, ArrowRight: i + 1, ArrowUp: i - 1, ArrowLeft: i - 1, Home: 0, End: visible.length - 1 };
    if (!(event.key in moves)) return;
    event.preventDefault();
    const next = visible[Math.max(0, Math.min(visible.length - 1, moves[event.key]))];
    this.rove(next);
    next.focus();
  }

  // coins: [{symbol, name, is_demo, intervals}], shown in that order; keeps the current choice.
  setCoins(coins) {
    const previous = this.coins.length ? new Set(this.selected()) : null;
    this.coins = coins;
    this.list.replaceChildren(
      ...coins.map((coin, i) => {
        const id = `coin-${i}`;
        const box = el("input", { class: "form-check-input", type: "checkbox", id, value: coin.symbol });
        box.checked = previous ? previous.has(coin.symbol) : true;
        const label = el("label", { class: "form-check-label", for: id },
          el("span", { class: "fw-semibold", text: coin.symbol }),
          el("span", { class: "text-body-secondary", text: ` ${coin.name}` }));
        return el("div", { class: "form-check coin-item", dataset: { search: `${coin.symbol} ${coin.name}`.toLowerCase() } }, box, label);
      }),
    );
    if (!coins.length) this.list.append(el("div", { class: "text-body-secondary small", text: "No coins have bars at this interval." }));
    this.filter();
  }

  boxes() {
    return $$("input[type=checkbox]", this.list);
  }

  selected() {
    return this.boxes().filter((b) => b.checked).map((b) => b.value);
  }

  allSelected() {
    const boxes = this.boxes();
    return boxes.length > 0 && boxes.every((b) => b.checked);
  }

  // Select exactly these symbols (null or empty = all).
  select(symbols) {
    const wanted = symbols && symbols.length ? new Set(symbols) : null;
    for (const box of this.boxes()) box.checked = wanted ? wanted.has(box.value) : true;
    this.updateCount();
  }

  // All / None act on the coins the filter shows.
  setAll(checked) {
    for (const item of $$(".coin-item", this.list)) {
      if (!item.hidden) $("input", item).checked = checked;
    }
    this.updateCount();
  }

  filter() {
    const needle = this.search.value.trim().toLowerCase();
    for (const item of $$(".coin-item", this.list)) item.hidden = needle !== "" && !item.dataset.search.includes(needle);
    this.rove();
    this.updateCount();
  }

  updateCount() {
    const total = this.boxes().length;
    const chosen = this.selected().length;
    const shown = $$(".coin-item", this.list).filter((i) => !i.hidden).length;
    let text = chosen === total ? `All ${total} coins` : `${chosen} of ${total} coins`;
    if (shown !== total) text += ` · ${shown} match the search`;
    this.count.textContent = text;
  }
}

// The coins with bars at `interval` go into the picker (every coin when none has statistics);
// the range of their bars bounds the date inputs, and untouched dates follow it. Returns the range.
export function intervalApply(picker, allCoins, interval) {
  const withStats = allCoins.filter((c) => Array.isArray(c.intervals) && c.intervals.length);
  const coins = withStats.length
    ? allCoins.filter((c) => (c.intervals || []).some((s) => s.interval === interval))
    : allCoins;
  picker.setCoins(coins);
  let first = "";
  let last = "";
  for (const coin of coins) {
    for (const s of coin.intervals || []) {
      if (s.interval !== interval) continue;
      const f = dateOnly(s.first);
      const l = dateOnly(s.last);
      if (f && (!first || f < first)) first = f;
      if (l && (!last || l > last)) last = l;
    }
  }
  for (const [id, value] of [["start_date", first], ["end_date", last]]) {
    const input = $(`#${id}`);
    input.min = first;
    input.max = last;
    if (input.dataset.touched !== "true") input.value = value;
  }
  return { first, last };
}
