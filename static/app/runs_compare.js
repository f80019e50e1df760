// Past runs: tick two to six runs and press Compare -> /compare/?runs=<id>,<id>,... (oldest first,
// so the earliest is the reference of the deltas). The ticks survive the list's refreshes, its pages
// and a reload (sessionStorage), and a ticked box never opens its run.
import { el, fmtDateTime } from "./dom.js";

const KEY = "bt:compare-ticks";
export const COMPARE_MIN = 2;
export const COMPARE_MAX = 6;

export class CompareTicks {
  constructor({ button, status, page = "/compare/" }) {
    this.button = button;
    this.status = status;
    this.page = page;
    this.selected = new Map(); // id -> created_at
    this.boxes = new Map(); // id -> checkbox on the page now
    try {
      for (const [id, created] of JSON.parse(sessionStorage.getItem(KEY) || "[]")) this.selected.set(id, created);
    } catch {
      /* nothing remembered */
    }
    button.addEventListener("click", () => this.go());
    this.update();
  }

  // The tick of one run's row (a fresh box each time the list is drawn).
  cell(run) {
    const when = fmtDateTime(run.created_at);
    const box = el("input", {
      type: "checkbox", class: "form-check-input compare-tick-box", value: run.id,
      "aria-label": `Compare the ${run.strategy?.name || ""} run of ${when}`.replace(/\s+/g, " "),
    });
    box.checked = this.selected.has(run.id);
    box.addEventListener("click", (event) => event.stopPropagation()); // the row's click opens the run
    box.addEventListener("change", () => {
      if (box.checked) this.selected.set(run.id, run.created_at || "");
      else this.selected.delete(run.id);
      this.update();
    });
    this.boxes.set(run.id, box);
    for (const [id, b] of this.boxes) if (!b.isConnected && id !== run.id) this.boxes.delete(id);
    const td = el("td", { class: "compare-tick" }, box);
    td.addEventListener("click", (event) => {
      if (event.target === td) box.click(); // the whole cell is the target
      event.stopPropagation();
    });
    this.update();
    return td;
  }

  ids() {
    return [...this.selected].sort((a, b) => String(a[1]).localeCompare(String(b[1]))).map(([id]) => id);
  }

  update() {
    const n = this.selected.size;
    try {
      sessionStorage.setItem(KEY, JSON.stringify([...this.selected]));
    } catch {
      /* private mode: the ticks last as long as the page */
    }
    this.button.disabled = n < COMPARE_MIN || n > COMPARE_MAX;
    this.button.textContent = n ? `Compare ${n}` : "Compare";
    this.status.textContent = n < COMPARE_MIN ? `Tick ${COMPARE_MIN} to ${COMPARE_MAX} runs to compare them${n ? ` (${n} ticked)` : ""}`
      : n >= COMPARE_MAX ? `${n} ticked: the most a comparison takes` : `${n} ticked`;
    for (const box of this.boxes.values()) box.disabled = !box.checked && n >= COMPARE_MAX;
  }

  go() {
    const ids = this.ids();
    if (ids.length < COMPARE_MIN || ids.length > COMPARE_MAX) return;
    window.location.assign(`${this.page}?runs=${ids.join(",")}`);
  }
}
