// Saved parameter sets: the whole form (strategy, parameters, period, interval, fee, coins) under a
// name, kept in this browser's localStorage; picking one fills the form with it.
import { $, el } from "./dom.js";

const KEY = "backtest.presets.v1";

function load() {
  try {
    const list = JSON.parse(localStorage.getItem(KEY) || "[]");
    return Array.isArray(list) ? list.filter((p) => p && typeof p.name === "string" && p.snapshot) : [];
  } catch {
    return [];
  }
}

function store(list) {
  localStorage.setItem(KEY, JSON.stringify(list));
}

export class Presets {
  // snapshot(): the form as data; apply(snapshot): fill the form; strategyName(id): for the list
  constructor({ root, snapshot, apply, strategyName }) {
    this.select = $("#preset-select", root);
    this.name = $("#preset-name", root);
    this.status = $("#preset-status", root);
    this.remove = $("#preset-delete", root);
    this.snapshot = snapshot;
    this.apply = apply;
    this.strategyName = strategyName;
    $("#preset-save", root).addEventListener("click", () => this.save());
    this.name.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault(); // never submits the run form
        this.save();
      }
    });
    this.select.addEventListener("change", () => this.pick());
    this.remove.addEventListener("click", () => this.delete());
    this.render();
  }

  render(selected = "") {
    const list = load();
    const options = list.map((p) => {
      const strategy = this.strategyName(p.snapshot.strategy_id);
      return el("option", { value: p.name, text: strategy ? `${p.name} · ${strategy}` : p.name });
    });
    const placeholder = el("option", { value: "", text: list.length ? "Pick a saved set…" : "None saved" });
    this.select.replaceChildren(placeholder, ...options);
    this.select.value = selected;
    this.remove.disabled = !selected;
  }

  save() {
    const name = this.name.value.trim();
    if (!name) {
      this.status.textContent = "Give the set a name first.";
      this.name.focus();
      return;
    }
    const list = load().filter((p) => p.name !== name);
    list.push({ name, snapshot: this.snapshot(), saved_at: new Date().toISOString() });
    list.sort((a, b) => a.name.localeCompare(b.name));
    try {
      store(list);
    } catch {
      this.status.textContent = "This browser would not store the set (storage full or disabled).";
      return;
    }
    this.name.value = "";
    this.render(name);
    this.status.textContent = `Saved “${name}”.`;
  }

  pick() {
    const preset = load().find((p) => p.name === this.select.value);
    this.remove.disabled = !preset;
    if (!preset) return;
    this.apply(preset.snapshot);
    this.status.textContent = `Form filled from “${preset.name}”.`;
  }

  delete() {
    const name = this.select.value;
    if (!name) return;
    store(load().filter((p) => p.name !== name));
    this.render();
    this.status.textContent = `Deleted “${name}”.`;
  }
}
