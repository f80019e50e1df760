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
import { $, el, fmtDateTime, fmtInt, fmtNum, fmtPct, fmtPrice, signClass } from "./dom.js";

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
    this.abort = null;
  }

  dispose() {
    if (this.abort) this.abort.abort();
    this.abort = null;
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
      this.renderTrades(detail.trades || []);
      const bars = getAll(pricesUrl, { signal });
      await visible;
      if (signal.aborted) return;
      this.drawEquity(equityBox, detail.equity || {});
      const rows = await bars;
      if (signal.aborted) return;
      this.drawPrices(priceBox, rows, detail.trades || []);
    } catch (err) {
      if (err.name === "AbortError") return;
      errorBox.textContent = `Could not load ${row.symbol}: ${err.message}`;
      errorBox.classList.remove("d-none");
      for (const box of [priceBox, equityBox]) if (!box.dataset.drawn) box.replaceChildren();
    }
  }

  renderMetrics(row) {
    const item = (label, value, cls = "") =>
      el("span", { class: "badge rounded-pill text-bg-light border" }, `${label} `, el("span", { class: cls, text: value }));
    $("#detail-metrics", this.root).replaceChildren(
      item("Return", fmtPct(row.total_return), signClass(row.total_return)),
      item("Buy & hold", fmtPct(row.buy_hold_return), signClass(row.buy_hold_return)),
      item("Win rate", fmtPct(row.win_rate, { sign: false })),
      item("Trades", fmtInt(row.total_trades)),
      item("Sharpe", fmtNum(row.sharpe_ratio), signClass(row.sharpe_ratio)),
      item("Max drawdown", fmtPct(row.max_drawdown, { sign: false }), signClass(row.max_drawdown)),
      item("Exposure", fmtPct(row.exposure_pct, { sign: false })),
      item("Stop-loss exits", fmtInt(row.stop_loss_exits)),
    );
  }

  drawPrices(box, rows, trades) {
    const t0 = performance.now();
    box.replaceChildren();
    const candles = toCandles(rows);
    if (!candles.length) {
      box.append(el("div", { class: "chart-loading", text: "No price bars for this period." }));
      return;
    }
    const chart = createChart(box, baseOptions());
    this.charts.push(chart);
    const series = chart.addSeries(CandlestickSeries, {
      upColor: COLOURS.up, downColor: COLOURS.down, borderVisible: false,
      wickUpColor: COLOURS.up, wickDownColor: COLOURS.down,
      priceFormat: { type: "custom", formatter: fmtPrice, minMove: 1e-8 },
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
    box.dataset.drawn = "true";
    $("#price-bars-count", this.root).textContent = `· ${fmtInt(candles.length)} bars`;
  }

  drawEquity(box, equity) {
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
    chart.addSeries(LineSeries, { color: COLOURS.buyHold, lineWidth: 2, title: "Buy & hold", priceFormat: fmt }).setData(buyHold);
    chart.addSeries(LineSeries, { color: COLOURS.equity, lineWidth: 2, title: "Strategy", priceFormat: fmt }).setData(strategy);
    chart.timeScale().fitContent();
    box.dataset.points = String(strategy.length);
    box.dataset.drawn = "true";
  }

  renderTrades(trades) {
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
          el("td", { class: "text-end", text: fmtPrice(Number(t.entry_price)) }),
          el("td", { class: "text-nowrap", text: fmtDateTime(t.exit_time) }),
          el("td", { class: "text-end", text: fmtPrice(Number(t.exit_price)) }),
          el("td", { class: `text-end ${signClass(ret)}`, text: fmtPct(ret) }),
          el("td", { class: t.reason === "stop_loss" ? "text-danger" : "", text: REASONS[t.reason] || t.reason || "" }));
      }),
    );
  }
}
