// One coin's detail: candlesticks with entry and exit markers, equity against buy-and-hold, the trades.
// lightweight-charts (v5 API: chart.addSeries(CandlestickSeries), createSeriesMarkers) draws on canvas,
// so a year of hourly bars (8,784) is one setData call and pans smoothly.
import {
  CandlestickSeries,
  ColorType,
  createChart,
  createSeriesMarkers,
  LineSeries,
} from "../vendor/lightweight-charts/lightweight-charts.standalone.production.mjs";
import { getAll, getJSON, withQuery } from "./api.js";
import { facts, METRICS } from "./facts.js";
import { $, el, fmtDateTime, fmtInt, fmtNum, fmtPct, signClass } from "./dom.js";

const COLOURS = {
  up: "#198754",
  down: "#dc3545",
  entry: "#0d6efd",
  exit: "#6f42c1",
  stop: "#d63384",
  end: "#6c757d",
  equity: "#0d6efd",
  buyHold: "#fd7e14",
};

const REASONS = { signal: "signal", stop_loss: "stop-loss", end_of_data: "end of data" };

// Decimals that fit a coin's price level: about four significant digits at its lowest price,
// at least 2 (BTC at 40,000: 2; a coin at 1.5: 3; DOGE at 0.08: 5), at most 8 (the stored precision).
export function priceDecimals(prices) {
  let low = Infinity;
  for (const p of prices) if (p > 0 && p < low) low = p;
  if (!Number.isFinite(low)) return 2;
  return Math.min(8, Math.max(2, 3 - Math.floor(Math.log10(low))));
}

export function fmtFixed(value, decimals) {
  if (!Number.isFinite(value)) return "–";
  if (Math.abs(value) < 0.5 * 10 ** -decimals) value = 0; // never "-0.00"
  return value.toLocaleString("en-US", { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
}

// Prices are never below zero: the axis stops there (no "-0.00" tick under a cheap coin).
function nonNegative(original) {
  const info = original();
  if (info?.priceRange) info.priceRange.minValue = Math.max(0, info.priceRange.minValue);
  return info;
}

// A focused chart answers the keyboard: arrows pan, + and - zoom, Home fits every bar.
function keyboardControls(box, chart) {
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
    box.dataset.visibleFrom = next.from.toFixed(1);
    box.dataset.visibleTo = next.to.toFixed(1);
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

function baseOptions() {
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
export function tradeMarkers(trades, { labels = trades.length <= 30 } = {}) {
  const markers = [];
  for (const t of trades) {
    if (t.entry_time) {
      markers.push({ time: toTime(t.entry_time), position: "belowBar", shape: "arrowUp", color: COLOURS.entry, text: labels ? "Buy" : undefined });
    }
    if (t.exit_time) {
      const stop = t.reason === "stop_loss";
      const end = t.reason === "end_of_data";
      markers.push({
        time: toTime(t.exit_time),
        position: "aboveBar",
        shape: stop ? "square" : end ? "circle" : "arrowDown",
        color: stop ? COLOURS.stop : end ? COLOURS.end : COLOURS.exit,
        text: labels ? (stop ? "Stop" : end ? "End" : "Sell") : undefined,
      });
    }
  }
  return markers.sort((a, b) => a.time - b.time);
}

function lineData(times, values) {
  const out = [];
  let last = -Infinity;
  for (let i = 0; i < times.length; i += 1) {
    const time = toTime(times[i]);
    const value = Number(values[i]);
    if (!(time > last) || !Number.isFinite(value)) continue;
    last = time;
    out.push({ time, value });
  }
  return out;
}

export class CoinDetail {
  constructor(root) {
    this.root = root;
    this.charts = [];
    this.cleanups = [];
    this.abort = null;
  }

  dispose() {
    if (this.abort) this.abort.abort();
    this.abort = null;
    for (const cleanup of this.cleanups) cleanup();
    this.cleanups = [];
    for (const chart of this.charts) chart.remove();
    this.charts = [];
  }

  // run: the run detail (id, interval, start_date, end_date, ...); row: the table row of the coin.
  // visible: resolves once the dialog is shown; the charts are drawn then, at their real size.
  async load(run, row, visible = Promise.resolve()) {
    this.dispose();
    this.abort = new AbortController();
    const { signal } = this.abort;
    const r = this.root;
    $("#detail-title", r).textContent = `${row.symbol} · ${row.name}`;
    const errorBox = $("#detail-error", r);
    errorBox.classList.add("d-none");
    const priceBox = $("#price-chart", r);
    const equityBox = $("#equity-chart", r);
    for (const box of [priceBox, equityBox]) {
      box.replaceChildren(el("div", { class: "chart-loading", text: "Loading…" }));
      delete box.dataset.drawn;
    }
    $("#trades-body", r).replaceChildren();
    $("#trades-count", r).textContent = "";
    $("#price-bars-count", r).textContent = "";
    this.renderMetrics(row);

    try {
      const detail = await getJSON(`/api/runs/${run.id}/results/${encodeURIComponent(row.symbol)}/`, { signal });
      const times = detail.equity?.times || [];
      // The bars the backtest saw: from its first to its last equity point (else the run's dates).
      const start = times[0] || run.start_date || undefined;
      const end = times.at(-1) || run.end_date || undefined;
      const pricesUrl = withQuery(`/api/cryptocurrencies/${encodeURIComponent(row.symbol)}/prices/`, {
        interval: run.interval, start, end, page_size: 10000,
      });
      const trades = detail.trades || [];
      this.renderTrades(trades, priceDecimals(trades.flatMap((t) => [Number(t.entry_price), Number(t.exit_price)])));
      this.flagBars(detail.bars);
      const bars = getAll(pricesUrl, { signal });
      await visible;
      if (signal.aborted) return;
      this.drawEquity(equityBox, detail.equity || {}, row.symbol);
      const rows = await bars;
      if (signal.aborted) return;
      const decimals = priceDecimals(rows.map((b) => Number(b.low)));
      this.renderTrades(detail.trades || [], decimals);
      this.drawPrices(priceBox, rows, detail.trades || [], { decimals, symbol: row.symbol });
    } catch (err) {
      if (err.name === "AbortError") return;
      errorBox.textContent = `Could not load ${row.symbol}: ${err.message}`;
      errorBox.classList.remove("d-none");
      for (const box of [priceBox, equityBox]) if (!box.dataset.drawn) box.replaceChildren();
    }
  }

  // The coin's metrics with their labels (runs.models METRIC_DISPLAY, through facts).
  renderMetrics(row) {
    const items = [];
    for (const [key, m] of METRICS) {
      const value = row[key];
      const text = m.unit === "int" ? fmtInt(value) : m.unit === "%" ? fmtPct(value, { sign: Boolean(m.colour) }) : fmtNum(value);
      items.push(el("span", { class: "badge rounded-pill text-bg-light border", title: m.title, dataset: { key } },
        `${m.label} `, el("span", { class: m.colour ? signClass(value) : "", text })));
    }
    if (row.few_trades) {
      items.push(el("span", { class: "badge rounded-pill few-flag", text: `fewer than ${facts.few_trades} trades: metrics rest on too few` }));
    }
    $("#detail-metrics", this.root).replaceChildren(...items);
  }

  flagBars(bars) {
    const box = $("#detail-metrics", this.root);
    if (Number.isFinite(bars) && bars < facts.few_bars) {
      box.append(el("span", { class: "badge rounded-pill few-flag", text: `only ${fmtInt(bars)} bars: metrics rest on too few` }));
    }
  }

  drawPrices(box, rows, trades, { decimals = 2, symbol = "" } = {}) {
    const t0 = performance.now();
    box.replaceChildren();
    const candles = toCandles(rows);
    if (!candles.length) {
      box.append(el("div", { class: "chart-loading", text: "No price bars for this period." }));
      return;
    }
    const chart = createChart(box, baseOptions());
    this.charts.push(chart);
    // No last-price tag on the axis (it covered a tick label); the last close is in the legend.
    const series = chart.addSeries(CandlestickSeries, {
      upColor: COLOURS.up, downColor: COLOURS.down, borderVisible: false,
      wickUpColor: COLOURS.up, wickDownColor: COLOURS.down,
      priceFormat: { type: "custom", formatter: (v) => fmtFixed(v, decimals), minMove: 10 ** -decimals },
      lastValueVisible: false, priceLineVisible: false,
      autoscaleInfoProvider: nonNegative,
    });
    series.setData(candles);
    // Only markers on bars that are drawn (a marker at an unknown time would be dropped anyway).
    const known = new Set(candles.map((c) => c.time));
    const markers = tradeMarkers(trades).filter((m) => known.has(m.time));
    createSeriesMarkers(series, markers);
    chart.timeScale().fitContent();
    box.dataset.bars = String(candles.length);
    box.dataset.markers = String(markers.length);
    box.dataset.drawMs = String(Math.round(performance.now() - t0));
    box.dataset.decimals = String(decimals);
    box.dataset.drawn = "true";
    this.cleanups.push(keyboardControls(box, chart));
    const last = candles.at(-1).close;
    box.setAttribute("aria-label", `${symbol} candlestick chart: ${fmtInt(candles.length)} bars, ${fmtInt(trades.length)} trades, `
      + `last close ${fmtFixed(last, decimals)}`);
    $("#price-bars-count", this.root).textContent = `· ${fmtInt(candles.length)} bars · last close ${fmtFixed(last, decimals)}`;
  }

  drawEquity(box, equity, symbol = "") {
    box.replaceChildren();
    const times = equity.times || [];
    const strategy = lineData(times, equity.values || []);
    const buyHold = lineData(times, equity.buy_hold || []);
    if (!strategy.length) {
      box.append(el("div", { class: "chart-loading", text: "No equity curve stored for this coin." }));
      return;
    }
    const chart = createChart(box, baseOptions());
    this.charts.push(chart);
    const fmt = { type: "custom", formatter: (v) => v.toFixed(3), minMove: 0.001 };
    const line = { lineWidth: 2, priceFormat: fmt, lastValueVisible: false, priceLineVisible: false };
    chart.addSeries(LineSeries, { ...line, color: COLOURS.buyHold }).setData(buyHold);
    chart.addSeries(LineSeries, { ...line, color: COLOURS.equity }).setData(strategy);
    chart.timeScale().fitContent();
    box.dataset.points = String(strategy.length);
    box.dataset.drawn = "true";
    this.cleanups.push(keyboardControls(box, chart));
    const end = (points) => (points.length ? points.at(-1).value.toFixed(3) : "–");
    box.setAttribute("aria-label", `${symbol} equity against buy-and-hold: strategy ends at ${end(strategy)}, `
      + `buy-and-hold at ${end(buyHold)} (both start at 1)`);
  }

  // Prices with one number of decimals for the coin (entry and exit columns alike), returns with 2.
  renderTrades(trades, decimals = 2) {
    $("#trades-count", this.root).textContent = `(${trades.length})`;
    const body = $("#trades-body", this.root);
    if (!trades.length) {
      body.replaceChildren(el("tr", {}, el("td", { colspan: 7, class: "text-body-secondary", text: "No trades in this period." })));
      return;
    }
    body.replaceChildren(
      ...trades.map((t, i) => {
        const ret = Number(t.return_pct);
        return el("tr", { dataset: { reason: t.reason || "" } },
          el("td", { text: String(i + 1) }),
          el("td", { class: "text-nowrap", text: fmtDateTime(t.entry_time) }),
          el("td", { class: "text-end", text: fmtFixed(Number(t.entry_price), decimals) }),
          el("td", { class: "text-nowrap", text: fmtDateTime(t.exit_time) }),
          el("td", { class: "text-end", text: fmtFixed(Number(t.exit_price), decimals) }),
          el("td", { class: `text-end ${signClass(ret)}`, text: fmtPct(ret) }),
          el("td", { class: t.reason === "stop_loss" ? "text-danger" : "", text: REASONS[t.reason] || t.reason || "" }));
      }),
    );
  }
}
