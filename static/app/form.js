// The run form: a parameter form generated from a strategy's definitions, browser-side checks
// against those definitions, and the server's 400 answers shown next to the field they name.
import { $, $$, el, show } from "./dom.js";
import { facts } from "./facts.js";

function decimals(value) {
  if (typeof value !== "number" || !Number.isFinite(value)) return 0;
  const text = String(value);
  if (text.includes("e-")) return Number(text.split("e-")[1]);
  return text.includes(".") ? text.split(".")[1].length : 0;
}

// Spinner step of a "number" parameter: the finest precision among its min, max and default, at least 0.1.
export function numberStep(def) {
  const places = Math.max(1, decimals(def.min), decimals(def.max), decimals(def.default));
  return (10 ** -places).toFixed(places);
}

function rangeText(def) {
  const has = (v) => typeof v === "number" && Number.isFinite(v);
  if (has(def.min) && has(def.max)) return `${def.min} – ${def.max}`;
  if (has(def.min)) return `≥ ${def.min}`;
  if (has(def.max)) return `≤ ${def.max}`;
  return "";
}

export const paramKey = (name) => `parameters.${name}`;
const paramId = (name) => `param-${name}`;

function parameterField(def) {
  const id = paramId(def.name);
  const errorId = `${id}-error`;
  const helpId = `${id}-help`;
  const label = def.display_name || def.name;
  const wrapper = el("div", { class: def.type === "boolean" ? "col-12" : "col-6 param-field", dataset: { field: paramKey(def.name) } });
  if (def.type === "boolean") {
    const input = el("input", {
      class: "form-check-input", type: "checkbox", role: "switch", id, name: def.name, "aria-describedby": errorId,
    });
    input.checked = def.default === true || def.default === "true";
    wrapper.append(el("div", { class: "form-check form-switch" }, input,
      el("label", { class: "form-check-label small", for: id, text: label }),
      el("div", { class: "invalid-feedback", id: errorId })));
    return wrapper;
  }
  let input;
  if (def.type === "select") {
    input = el("select", { class: "form-select form-select-sm", id, name: def.name, "aria-describedby": errorId });
    for (const option of def.options || []) input.append(el("option", { value: option, text: option }));
    input.value = def.default ?? (def.options || [])[0] ?? "";
  } else {
    const integer = def.type === "integer";
    input = el("input", {
      class: "form-control form-control-sm", type: "number", id, name: def.name,
      min: def.min ?? undefined, max: def.max ?? undefined, step: integer ? "1" : numberStep(def),
      inputmode: integer ? "numeric" : "decimal", required: true,
      "aria-describedby": `${helpId} ${errorId}`,
    });
    input.value = def.default ?? "";
  }
  wrapper.append(
    ...[
      el("label", { class: "form-label small mb-1", for: id, text: label }),
      input,
      // Every field has its line under the input (blank for a select), so inputs in a row stay level.
      el("div", { class: "form-text small mt-0", id: helpId, text: rangeText(def) || "\u00a0" }),
      el("div", { class: "invalid-feedback", id: errorId }),
    ].filter(Boolean),
  );
  return wrapper;
}

// The definitions the page shows: active ones, in their order.
export function activeDefinitions(strategy) {
  return (strategy?.parameters || [])
    .filter((d) => d.is_active !== false)
    .sort((a, b) => (a.order ?? 0) - (b.order ?? 0));
}

export function renderParameters(container, strategy, values = null) {
  container.replaceChildren(...activeDefinitions(strategy).map(parameterField));
  if (values) setParameterValues(container, strategy, values);
}

export function setParameterValues(container, strategy, values) {
  for (const def of activeDefinitions(strategy)) {
    if (!(def.name in values)) continue;
    const input = $(`#${CSS.escape(paramId(def.name))}`, container);
    if (!input) continue;
    if (def.type === "boolean") input.checked = values[def.name] === true || values[def.name] === "true";
    else input.value = values[def.name];
  }
}

// Check one parameter's raw input against its definition: [value, error message or null].
export function checkParameter(def, input) {
  if (def.type === "boolean") return [input.checked, null];
  const raw = input.value.trim();
  if (def.type === "select") {
    const options = def.options || [];
    return options.includes(raw) ? [raw, null] : [raw, `must be one of ${options.join(", ")}`];
  }
  if (raw === "" || input.validity?.badInput) return [null, "a number is required"];
  const value = Number(raw);
  if (!Number.isFinite(value)) return [null, "must be a finite number"];
  if (def.type === "integer" && !Number.isInteger(value)) return [value, "must be a whole number"];
  if (typeof def.min === "number" && value < def.min) return [value, `must be ≥ ${def.min}`];
  if (typeof def.max === "number" && value > def.max) return [value, `must be ≤ ${def.max}`];
  return [value, null];
}

// The whole request body and the browser-side errors, keyed as the API keys them.
export function collectRun({ form, strategy, coinPicker }) {
  const errors = {};
  const body = {};
  if (!strategy) errors.strategy_id = ["choose a strategy"];
  else body.strategy_id = strategy.id;

  const parameters = {};
  for (const def of activeDefinitions(strategy)) {
    const input = $(`#${CSS.escape(paramId(def.name))}`, form);
    if (!input) continue;
    const [value, error] = checkParameter(def, input);
    if (error) errors[paramKey(def.name)] = [error];
    else parameters[def.name] = value;
  }
  body.parameters = parameters;

  const start = $("#start_date", form).value;
  const end = $("#end_date", form).value;
  if ($("#start_date", form).validity.badInput) errors.start_date = ["not a valid date"];
  if ($("#end_date", form).validity.badInput) errors.end_date = ["not a valid date"];
  if (start && end && start > end) errors.end_date = ["must be on or after the start date"];
  if (start) body.start_date = start;
  if (end) body.end_date = end;

  body.interval = $("#interval", form).value;

  // An empty fee is refused, never sent as 0 behind the trader's back.
  const feeInput = $("#fee_pct", form);
  const feeRaw = feeInput.value.trim();
  const fee = Number(feeRaw);
  const { min, max } = facts.fee;
  if (feeRaw === "" || feeInput.validity.badInput) errors.fee_pct = [`a number is required (${min} for no fee)`];
  else if (!Number.isFinite(fee)) errors.fee_pct = ["must be a number"];
  else if (fee < min || fee > max) errors.fee_pct = [`must be between ${min} and ${max}`];
  body.fee_pct = fee;

  // The account's slots: empty means one per coin (the server's default).
  const slotsInput = $("#portfolio_slots", form);
  const slotsRaw = slotsInput ? slotsInput.value.trim() : "";
  if (slotsInput && (slotsRaw !== "" || slotsInput.validity.badInput)) {
    const slots = Number(slotsRaw);
    const { min: lo, max: hi } = facts.portfolio.slots;
    if (!Number.isInteger(slots) || slots < lo || slots > hi) errors.portfolio_slots = [`must be a whole number from ${lo} to ${hi}`];
    else body.portfolio_slots = slots;
  }

  const symbols = coinPicker.selected();
  if (symbols.length === 0) errors.symbols = ["choose at least one coin"];
  else if (!coinPicker.allSelected()) body.symbols = symbols;

  return { body, errors };
}

export function clearErrors(form) {
  for (const node of $$(".is-invalid", form)) node.classList.remove("is-invalid");
  for (const node of $$(".invalid-feedback", form)) node.textContent = "";
  $$("[data-field].has-error", form).forEach((n) => n.classList.remove("has-error"));
  const alert = $("#form-alert", form);
  alert.replaceChildren();
  show(alert, false);
}

export function showFormAlert(form, ...lines) {
  const alert = $("#form-alert", form);
  alert.replaceChildren(...lines.map((line) => el("div", { text: line })));
  show(alert, true);
}

// Show errors ({field: [messages]}) next to their fields; what names no field goes to the alert.
// Returns the first invalid control, to move the focus there.
export function showErrors(form, errors) {
  const unplaced = [];
  let first = null;
  for (const [field, messages] of Object.entries(errors || {})) {
    const text = (Array.isArray(messages) ? messages : [messages]).map(String).join(" ");
    const wrapper = field === "non_field_errors" ? null : $(`[data-field="${CSS.escape(field)}"]`, form);
    if (!wrapper) {
      unplaced.push(field === "non_field_errors" ? text : `${field}: ${text}`);
      continue;
    }
    wrapper.classList.add("has-error");
    const controls = $$("input:not([type=search]), select", wrapper).filter((c) => !c.closest(".coin-list"));
    controls.forEach((c) => c.classList.add("is-invalid"));
    const feedback = $$(".invalid-feedback", wrapper).at(-1);
    if (feedback) feedback.textContent = text;
    first = first || controls[0] || $("#coin-search", wrapper);
  }
  if (unplaced.length) showFormAlert(form, ...unplaced);
  return first;
}

// The whole form as plain data (Back restores it; a saved preset is one).
export function formSnapshot({ form, strategy, coinPicker }) {
  const parameters = {};
  for (const def of activeDefinitions(strategy)) {
    const input = $(`#${CSS.escape(paramId(def.name))}`, form);
    if (input) parameters[def.name] = def.type === "boolean" ? input.checked : input.value;
  }
  const start = $("#start_date", form);
  const end = $("#end_date", form);
  return {
    strategy_id: strategy?.id ?? null,
    parameters,
    start_date: start.value,
    end_date: end.value,
    dates_touched: start.dataset.touched === "true" || end.dataset.touched === "true",
    interval: $("#interval", form).value,
    fee_pct: $("#fee_pct", form).value,
    portfolio_slots: $("#portfolio_slots", form)?.value ?? "",
    symbols: coinPicker.allSelected() ? null : coinPicker.selected(),
  };
}
