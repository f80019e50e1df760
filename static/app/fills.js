// The run form's fill presets (the original's fills at the close, the next open, the next open with an
// intrabar stop and slippage) and Custom, which reveals the three fields (fill, stop_mode, slippage_pct).
// The presets, the options and their words are the server's (runs.models FILL_PRESETS, FILL_TEXT through
// page_facts); this module only shows them.
import { $, show } from "./dom.js";
import { facts } from "./facts.js";

const PRESETS = facts.fill_presets;
const OPTIONS = facts.fill_options;

function optionText(name, value) {
  return OPTIONS[name]?.options.find((o) => o.value === value)?.text || "";
}

// The preset whose values these are, or "custom".
export function presetOf(fill, stopMode, slippage) {
  const slip = Number(slippage);
  const found = PRESETS.find((p) => p.key !== "custom" && p.fill === fill && p.stop_mode === stopMode
    && Math.abs(p.slippage_pct - slip) < 1e-9);
  return found ? found.key : "custom";
}

export class FillPresets {
  constructor(form) {
    this.form = form;
    this.select = $("#fill_preset", form);
    this.custom = $("#fill-custom", form);
    this.fill = $("#fill", form);
    this.stopMode = $("#stop_mode", form);
    this.slippage = $("#slippage_pct", form);
    this.select.addEventListener("change", () => this.applyPreset());
    for (const input of [this.fill, this.stopMode, this.slippage]) input.addEventListener("input", () => this.describe());
    this.reset();
  }

  reset() {
    this.select.value = PRESETS[0].key;
    this.applyPreset();
  }

  // A preset picked: its values in the (hidden) fields; Custom keeps the fields as they are and shows them.
  applyPreset() {
    const preset = PRESETS.find((p) => p.key === this.select.value);
    if (preset && preset.key !== "custom") {
      this.fill.value = preset.fill;
      this.stopMode.value = preset.stop_mode;
      this.slippage.value = String(preset.slippage_pct);
    }
    show(this.custom, this.select.value === "custom");
    this.describe();
  }

  describe() {
    const slip = Number(this.slippage.value);
    const parts = [optionText("fill", this.fill.value), optionText("stop_mode", this.stopMode.value),
      Number.isFinite(slip) && slip > 0 ? `${slip} % slippage on every fill` : "no slippage"];
    const text = parts.filter(Boolean).join("; ");
    $("#fill_preset-help", this.form).textContent = text ? `${text[0].toUpperCase()}${text.slice(1)}.` : "";
  }

  // Values from a stored run or a snapshot: the preset they are, Custom (shown) otherwise.
  set({ fill, stop_mode: stopMode, slippage_pct: slippage, fill_preset: key }) {
    if (fill) this.fill.value = fill;
    if (stopMode) this.stopMode.value = stopMode;
    if (slippage !== undefined && slippage !== null) this.slippage.value = String(slippage);
    this.select.value = key === "custom" ? "custom" : presetOf(this.fill.value, this.stopMode.value, this.slippage.value);
    show(this.custom, this.select.value === "custom");
    this.describe();
  }

  snapshot() {
    return {
      fill_preset: this.select.value, fill: this.fill.value, stop_mode: this.stopMode.value, slippage_pct: this.slippage.value,
    };
  }

  // The request's three fields and the browser-side errors (keyed as the API keys them).
  collect(body, errors) {
    body.fill = this.fill.value;
    body.stop_mode = this.stopMode.value;
    const raw = this.slippage.value.trim();
    const value = Number(raw);
    const { min, max } = facts.slippage;
    if (raw === "" || this.slippage.validity.badInput) errors.slippage_pct = [`a number is required (${min} for none)`];
    else if (!Number.isFinite(value) || value < min || value > max) errors.slippage_pct = [`must be between ${min} and ${max}`];
    body.slippage_pct = value;
    // a refused custom field must be seen
    if (errors.slippage_pct || errors.fill || errors.stop_mode) {
      this.select.value = "custom";
      show(this.custom, true);
    }
  }
}
