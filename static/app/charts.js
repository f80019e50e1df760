// Chart helpers shared by the pages' lightweight-charts (v5 API): options, the price axis's decimals,
// times, trade markers, keyboard controls. The coin detail itself is coin_detail.js.
import { ColorType } from "../vendor/lightweight-charts/lightweight-charts.standalone.production.mjs";

const COLOURS = {
  up: "#198754",
  down: "#dc3545",
  entry: "#0d6efd",
  exit: "#6f42c1",
  stop: "#d63384",
  end: "#6c757d",
};

// Decimals that fit a coin's price level: about four significant digits at its lowest price,
// at least 2 (BTC at 40,000: 2; a coin at 1.5: 3; DOGE at 0.08: 5), at most 8 (the stored precision).
export function priceDecimals(prices) {
  let low = Infinity;
  for (const p of prices) if (p > 0 && p < low) low = p;
  if (!Number.isFinite(low)) return 2;
  return Math.min(8, Math.max(2, 3 - Math.floor(Math.log10(low))));
}

// One Intl.NumberFormat per number of decimals: a chart's axis formats thousands of values while it
// pans, and toLocaleString builds a formatter on every call.
const NUMBER_FORMATS = new Map();
export function numberFormat(decimals) {
  let format = NUMBER_FORMATS.get(decimals);
  if (!format) {
    format = new Intl.NumberFormat("en-US", { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
    NUMBER_FORMATS.set(decimals, format);
  }
  return format;
}

export function fmtFixed(value, decimals) {
  if (!Number.isFinite(value)) return "–";
  if (Math.abs(value) < 0.5 * 10 ** -decimals) value = 0; // never "-0.00"
  return numberFormat(decimals).format(value);
}

// A percentage as the page prints it ("+12.34%", "-0.50%"), fast enough for an axis.
export function fmtPctFast(value, decimals = 2) {
  if (!Number.isFinite(value)) return "–";
  const text = fmtFixed(value, decimals);
  return `${value > 0 && text !== fmtFixed(0, decimals) ? "+" : ""}${text}%`;
}

// Prices are never below zero: the axis stops there (no "-0.00" tick under a cheap coin).
export function nonNegative(original) {
  const info = original();
  if (info?.priceRange) info.priceRange.minValue = Math.max(0, info.priceRange.minValue);
  return info;
}

// A focused chart answers the keyboard: arrows pan, + and - zoom, Home fits every bar.
export function keyboardControls(box, chart) {
  const onKey = (event) => {
    const scale = chart.timeScale();
    const range = scale.getVisibleLogicalRange();
    if (!range) return;
    const width = range.to - range.from;
    const step = Math.max(1, width * 0.1);
    let next = null;
    if (event.key === "ArrowLeft") next = { from: range.from - step, to: range.to - step };
    else if (event.key === "ArrowRight") next = { from: range.from + step, to: range.to + step };
    else if (event.key === "+" || event.key === "=") next = { from: range.from + width * 0.15, to: range.to - width * 0.15 };
    else if (event.key === "-" || event.key === "_") next = { from: range.from - width * 0.2, to: range.to + width * 0.2 };
    else if (event.key === "Home") {
      event.preventDefault();
      scale.fitContent();
      return;
    }
    if (!next) return;
    event.preventDefault();
    scale.setVisibleLogicalRange(next);
    // What the chart shows: it stops a pan that would leave too few bars in view, so say where it did.
    const shown = scale.getVisibleLogicalRange() || next;
    box.dataset.visibleFrom = shown.from.toFixed(1);
    box.dataset.visibleTo = shown.to.toFixed(1);
  };
  box.addEventListener("keydown", onKey);
  return () => box.removeEventListener("keydown", onKey);
}

// UTC seconds from an ISO 8601 string (or epoch seconds, milliseconds or nanoseconds).
export function toTime(value) {
  if (typeof value === "number") {
    if (value > 1e14) return Math.floor(value / 1e9);
    if (value > 1e11) return Math.floor(value / 1e3);
    return Math.floor(value);
  }
  return Math.floor(Date.parse(value) / 1000);
}

export function baseOptions() {
  const dark = document.documentElement.dataset.bsTheme === "dark";
  return {
    autoSize: true,
    layout: {
      background: { type: ColorType.Solid, color: dark ? "#212529" : "#ffffff" },
      textColor: dark ? "#dee2e6" : "#212529",
      fontSize: 11,
    },
    grid: { vertLines: { color: "rgba(128,128,128,0.12)" }, horzLines: { color: "rgba(128,128,128,0.12)" } },
    // A whole year of hourly bars fits the width when the chart opens; zoom in from there.
    timeScale: { timeVisible: true, secondsVisible: false, borderVisible: false, minBarSpacing: 0.01, lockVisibleTimeRangeOnResize: true },
    rightPriceScale: { borderVisible: false },
    crosshair: { mode: 0 },
  };
}

// Bars as lightweight-charts wants them: ascending, unique times in UTC seconds, numbers.
export function toCandles(rows) {
  const out = [];
  let last = -Infinity;
  for (const r of rows) {
    const time = toTime(r.datetime);
    if (!(time > last)) continue;
    last = time;
    out.push({ time, open: Number(r.open), high: Number(r.high), low: Number(r.low), close: Number(r.close) });
  }
  return out;
}

// Entry below the bar, exit above it; a stop-loss exit is a square in its own colour.
// Labels only when there are few trades: hundreds of "Buy"/"Sell" words would hide the candles.
// Each marker's id names its trade ("t3:entry", "t3:exit"): a chart's crosshair reports the one hovered.
export function tradeMarkers(trades, { labels = trades.length <= 30 } = {}) {
  const markers = [];
  trades.forEach((t, i) => {
    if (t.entry_time) {
      markers.push({ id: `t${i}:entry`, time: toTime(t.entry_time), position: "belowBar", shape: "arrowUp", color: COLOURS.entry, text: labels ? "Buy" : undefined });
    }
    if (t.exit_time) {
      const stop = t.reason === "stop_loss";
      const end = t.reason === "end_of_data";
      markers.push({
        id: `t${i}:exit`,
        time: toTime(t.exit_time),
        position: "aboveBar",
        shape: stop ? "square" : end ? "circle" : "arrowDown",
        color: stop ? COLOURS.stop : end ? COLOURS.end : COLOURS.exit,
        text: labels ? (stop ? "Stop" : end ? "End" : "Sell") : undefined,
      });
    }
  });
  return markers.sort((a, b) => a.time - b.time);
}
