// DOM and number helpers. Data only ever reaches the page as text (textContent, attributes):
// symbols, names and error messages come from users and are never parsed as HTML.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    // Through the CSSOM: the Content-Security-Policy refuses style attributes set as markup.
    else if (key === "style") node.style.cssText = value;
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));

export function show(node, visible = true) {
  node.classList.toggle("d-none", !visible);
}

export function isNum(value) {
  return typeof value === "number" && Number.isFinite(value);
}

// One formatter per number of digits, made once: toLocaleString with options builds a new
// Intl.NumberFormat at every call, which a table of hundreds of rows pays thousands of times.
const FORMATS = new Map();
const INTEGER = new Intl.NumberFormat("en-US");

export function fmtNum(value, digits = 2) {
  if (!isNum(value)) return "–";
  let format = FORMATS.get(digits);
  if (!format) {
    format = new Intl.NumberFormat("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
    FORMATS.set(digits, format);
  }
  return format.format(value);
}

export function fmtPct(value, { sign = true, digits = 2 } = {}) {
  if (!isNum(value)) return "–";
  const s = fmtNum(value, digits);
  return `${sign && value > 0 ? "+" : ""}${s}%`;
}

export function fmtInt(value) {
  return isNum(value) ? INTEGER.format(Math.round(value)) : "–";
}

export function fmtSeconds(value) {
  if (!isNum(value)) return "–";
  if (value < 60) return `${value.toFixed(value < 10 ? 2 : 1)} s`;
  const m = Math.floor(value / 60);
  return `${m} min ${Math.round(value - m * 60)} s`;
}

// The progress bar of a run or a sweep (templates/pages/progress.html) at `completed` of `total`;
// striped and moving until finished. Returns the percentage shown.
export function progressSet(completed, total, finished) {
  const percent = total ? (completed / total) * 100 : finished ? 100 : 0;
  const bar = $("#progress-bar");
  bar.style.width = `${percent.toFixed(1)}%`;
  bar.classList.toggle("progress-bar-animated", !finished);
  bar.classList.toggle("progress-bar-striped", !finished);
  $("#progress").setAttribute("aria-valuenow", percent.toFixed(0));
  return percent;
}

// The YYYY-MM-DD of an ISO date or moment; "" for anything else.
export function dateOnly(value) {
  return typeof value === "string" && /^\d{4}-\d{2}-\d{2}/.test(value) ? value.slice(0, 10) : "";
}

export function fmtDateTime(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toISOString().replace("T", " ").slice(0, 16) + " UTC";
}

// "text-success" for a gain, "text-danger" for a loss, "" for zero or no value.
export function signClass(value) {
  if (!isNum(value) || value === 0) return "";
  return value > 0 ? "text-success" : "text-danger";
}
