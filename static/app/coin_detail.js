// One coin's detail: why each trade happened.
// - the price chart (lightweight-charts v5 panes): candles with volume, the lines the strategy uses on the
//   candles, each trade's stop level from its entry, entry and exit markers; under it a pane per
//   oscillator scale (RSI with its thresholds, MACD and its signal line, %K and %D, a rule's series);
// - the equity chart: equity against buy-and-hold in percent (log scale on demand) and the drawdown;
// - monthly returns (year x month) and the trades (a click on one moves the charts to it).
// Every number comes from GET /api/runs/<id>/results/<SYMBOL>/chart/ (runs.charts): the indicator
// values are the engine's own, never computed here. Both charts share one time axis: the equity chart
// holds a (blank) point at every bar, so a logical range means the same bars in both.
import {
  AreaSeries,
  CandlestickSeries,
  createChart,
  createSeriesMarkers,
  HistogramSeries,
  LineSeries,
  LineStyle,
  PriceScaleMode,
} from "../vendor/lightweight-charts/lightweight-charts.standalone.production.mjs";
import { getJSON } from "./api.js";
import { baseOptions, fmtFixed, fmtPctFast, keyboardControls, nonNegative, priceDecimals, toTime, tradeMarkers } from "./charts.js";
import { facts, METRICS } from "./facts.js";
import { $, el, fmtDateTime, fmtInt, fmtNum, fmtPct, isNum, signClass } from "./dom.js";

const COLOURS = {
  up: "#198754",
  down: "#dc3545",
  volumeUp: "rgba(25,135,84,0.28)",
  volumeDown: "rgba(220,53,69,0.28)",
  stop: "#d63384",
  equity: "#0d6efd",
  buyHold: "#fd7e14",
  drawdown: "#dc3545",
  level: "#6c757d",
};
// The lines of the indicators, in order (colour-blind safe-ish, distinct from the candles and markers).
const PALETTE = ["#0d6efd", "#fd7e14", "#6f42c1", "#20c997", "#b8860b", "#0dcaf0", "#6610f2", "#795548"];
const REASONS = { signal: "signal", stop_loss: "stop-loss", end_of_data: "end of data" };
const MONTHS = Array.from({ length: 12 }, (_, m) =>
  new Date(Date.UTC(2024, m, 1)).toLocaleString("en-US", { month: "short", timeZone: "UTC" }));
const narrow = () => window.matchMedia("(max-width: 575.98px)").matches;
const SCALE_WIDTH = 84; // both charts' price axes, so their bars line up

// The lower panes: one per group of lines (lines of a group share a scale), in the order first seen.
export function panesOf(indicators) {
  const groups = [];
  for (const line of indicators) {
    if (line.pane !== "lower") continue;
    let group = groups.find((g) => g.name === line.group);
    if (!group) groups.push((group = { name: line.group, lines: [], levels: [], bounds: line.bounds || null }));
    group.lines.push(line);
    if (!line.bounds) group.bounds = null;
    for (const level of line.levels || []) if (!group.levels.includes(level)) group.levels.push(level);
  }
  return groups;
}

// Monthly returns shaded by size: 4 steps each way (classes in app.css keep the text's contrast).
export function returnShade(value) {
  if (!isNum(value) || value === 0) return "";
  const size = Math.abs(value);
  const step = size < 2 ? 1 : size < 5 ? 2 : size < 10 ? 3 : 4;
  return `ret-${value > 0 ? "up" : "down"}-${step}`;
}

function lineSeriesData(times, values) {
  const out = [];
  for (let i = 0; i < times.length; i += 1) {
    const v = values[i];
    out.push(v === null || v === undefined ? { time: times[i] } : { time: times[i], value: v });
  }
  return out;
}

export class CoinDetail {
  constructor(root) {
    this.root = root;
    this.charts = [];
    this.cleanups = [];
    this.abort = null;
    this.price = null; // { chart, candles, times, index }
    this.equity = null; // { chart }
    this.trades = [];
    const log = $("#equity-log", root);
    if (log) log.addEventListener("change", () => this.applyLogScale());
  }

  dispose() {
    if (this.abort) this.abort.abort();
    this.abort = null;
    for (const cleanup of this.cleanups) cleanup();
    this.cleanups = [];
    for (const chart of this.charts) chart.remove();
    this.charts = [];
    this.price = null;
    this.equity = null;
    this.trades = [];
  }

  // run: the run detail (id, interval, ...); row: the table row of the coin.
  // visible: resolves once the dialog is shown; the charts are drawn then, at their real size.
  async load(run, row, visible = Promise.resolve()) {
    this.dispose();
    this.abort = new AbortController();
    const { signal } = this.abort;
    const r = this.root;
    $("#detail-title", r).textContent = `${row.symbol} · ${row.name}`;
    const errorBox = $("#detail-error", r);
    errorBox.classList.add("d-none");
    $("#detail-gaps", r).classList.add("d-none");
    const priceBox = $("#price-chart", r);
    const equityBox = $("#equity-chart", r);
    for (const box of [priceBox, equityBox]) {
      box.replaceChildren(el("div", { class: "chart-loading", text: "Loading…" }));
      delete box.dataset.drawn;
      box.style.height = "";
    }
    $("#trades-body", r).replaceChildren();
    $("#trades-count", r).textContent = "";
    $("#price-bars-count", r).textContent = "";
    $("#indicator-legend", r).replaceChildren();
    $("#indicator-note", r).textContent = "";
    $("#monthly-body", r).replaceChildren();
    $("#monthly-head", r).replaceChildren();
    this.renderMetrics(row);

    try {
      const chart = await getJSON(`/api/runs/${run.id}/results/${encodeURIComponent(row.symbol)}/chart/`, { signal });
      const bars = chart.bars || { times: [] };
      const decimals = priceDecimals(bars.low || []);
      this.trades = chart.trades || [];
      this.renderTrades(this.trades, decimals);
      this.flagBars(bars.times.length);
      this.renderMonthly(chart.monthly_returns || []);
      this.renderGaps(chart.gaps || [], chart.missing_bars || 0);
      if (chart.indicators_error) $("#indicator-note", r).textContent = `Indicators not drawn: ${chart.indicators_error}`;
      await visible;
      if (signal.aborted) return;
      this.drawPrices(priceBox, chart, { decimals, symbol: row.symbol });
      this.drawEquity(equityBox, chart.equity || {}, row.symbol);
      this.linkTimeAxes();
    } catch (err) {
      if (err.name === "AbortError") return;
      errorBox.textContent = `Could not load ${row.symbol}: ${err.message}`;
      errorBox.classList.remove("d-none");
      for (const box of [priceBox, equityBox]) if (!box.dataset.drawn) box.replaceChildren();
    }
  }

  // A warning when the window's data has holes (bars missing between stored bars): the result rests on them.
  renderGaps(gaps, missing) {
    const box = $("#detail-gaps", this.root);
    if (!gaps.length) return;
    const shown = gaps.slice(0, 3).map((g) => `${fmtInt(g.missing)} after ${g.after.replace("T", " ").replace(":00Z", " UTC")}`);
    const more = gaps.length > 3 ? `, and ${fmtInt(gaps.length - 3)} more` : "";
    box.replaceChildren(
      el("strong", { text: "Gaps in the data: " }),
      `${fmtInt(missing)} missing ${missing === 1 ? "bar" : "bars"} in ${fmtInt(gaps.length)} ${gaps.length === 1 ? "gap" : "gaps"} in this window (${shown.join("; ")}${more}). `,
      "Indicators and trades span them as if the bars were adjacent; see ",
      el("a", { href: "/data/", text: "the Data page" }),
      ".",
    );
    box.classList.remove("d-none");
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

  drawPrices(box, data, { decimals = 2, symbol = "" } = {}) {
    const t0 = performance.now();
    box.replaceChildren();
    const bars = data.bars;
    const n = bars.times.length;
    if (!n) {
      box.append(el("div", { class: "chart-loading", text: "No price bars for this period." }));
      return;
    }
    const times = bars.times;
    const candles = new Array(n);
    const volume = new Array(n);
    const index = new Map();
    for (let i = 0; i < n; i += 1) {
      const up = bars.close[i] >= bars.open[i];
      candles[i] = { time: times[i], open: bars.open[i], high: bars.high[i], low: bars.low[i], close: bars.close[i] };
      const v = bars.volume[i];
      volume[i] = v === null ? { time: times[i] } : { time: times[i], value: v, color: up ? COLOURS.volumeUp : COLOURS.volumeDown };
      index.set(times[i], i);
    }
    const indicators = data.indicators || [];
    const panes = panesOf(indicators);
    const [pricePx, lowerPx] = narrow() ? [260, 100] : [340, 130];
    box.style.height = `${pricePx + lowerPx * panes.length}px`;
    const chart = createChart(box, this.options());
    this.charts.push(chart);
    const priceFormat = { type: "custom", formatter: (v) => fmtFixed(v, decimals), minMove: 10 ** -decimals };
    const lowerFormat = { type: "custom", formatter: (v) => fmtFixed(v, 2), minMove: 0.01 };
    // No last-price tag on the axis (it covered a tick label); the last close is in the legend.
    const series = chart.addSeries(CandlestickSeries, {
      upColor: COLOURS.up, downColor: COLOURS.down, borderVisible: false,
      wickUpColor: COLOURS.up, wickDownColor: COLOURS.down,
      priceFormat, lastValueVisible: false, priceLineVisible: false,
      autoscaleInfoProvider: nonNegative,
    });
    series.setData(candles);
    const volumeSeries = chart.addSeries(HistogramSeries, {
      priceScaleId: "volume", priceFormat: { type: "volume" }, lastValueVisible: false, priceLineVisible: false,
    });
    volumeSeries.priceScale().applyOptions({ scaleMargins: { top: 0.82, bottom: 0 } });
    volumeSeries.setData(volume);

    // The lines: on the candles, then one pane per scale under them.
    const legend = [];
    const lines = [];
    let colour = 0;
    const addLine = (line, pane, bounds = null) => {
      const s = chart.addSeries(LineSeries, {
        // An oscillator's pane shows its whole range (0..100), so its thresholds sit where they mean.
        ...(bounds ? { autoscaleInfoProvider: () => ({ priceRange: { minValue: bounds[0], maxValue: bounds[1] } }) } : {}),
        color: PALETTE[colour % PALETTE.length], lineWidth: 1.5,
        priceFormat: line.pane === "price" ? priceFormat : lowerFormat,
        lastValueVisible: false, priceLineVisible: false, crosshairMarkerVisible: false,
      }, pane);
      s.setData(lineSeriesData(times, line.values));
      legend.push(el("span", { class: "me-3 text-nowrap", dataset: { indicator: line.name, pane: String(pane) } },
        el("span", { class: "legend-line me-1", dataset: { colour: PALETTE[colour % PALETTE.length] } }),
        line.label));
      lines.push({ line, series: s, pane });
      colour += 1;
      return s;
    };
    for (const line of indicators) if (line.pane === "price") addLine(line, 0);
    panes.forEach((group, k) => {
      let first = null;
      for (const line of group.lines) {
        const s = addLine(line, k + 1, group.bounds);
        first ||= s;
      }
      first.priceScale().applyOptions({ scaleMargins: { top: 0.08, bottom: 0.06 } });
      for (const level of group.levels) {
        first.createPriceLine({ price: level, color: COLOURS.level, lineWidth: 1, lineStyle: LineStyle.Dashed, axisLabelVisible: true, title: "" });
      }
    });
    const chartPanes = chart.panes();
    chartPanes[0].setStretchFactor(pricePx / lowerPx);
    for (let k = 1; k < chartPanes.length; k += 1) chartPanes[k].setStretchFactor(1);

    // Each trade's stop level from its entry to its exit: one line series of two points a trade; a
    // segment takes the colour of the point it starts from, and the one from each exit point is
    // transparent, so the lines between trades are not drawn (a trade
    // that starts on the bar another ended on cuts the earlier line one bar short).
    const segments = [];
    for (const t of this.trades) {
      const from = index.get(toTime(t.entry_time));
      if (!isNum(t.stop) || from === undefined) continue;
      segments.push({ from, to: index.get(toTime(t.exit_time)) ?? n - 1, value: t.stop });
    }
    const stops = [];
    segments.forEach((seg, k) => {
      const end = Math.min(seg.to, (segments[k + 1]?.from ?? n) - 1);
      if (end <= seg.from) return;
      stops.push({ time: times[seg.from], value: seg.value, color: COLOURS.stop },
        { time: times[end], value: seg.value, color: "rgba(0,0,0,0)" });
    });
    const stopSeries = chart.addSeries(LineSeries, {
      color: COLOURS.stop, lineWidth: 2, lineStyle: LineStyle.Dotted, priceFormat,
      lastValueVisible: false, priceLineVisible: false, crosshairMarkerVisible: false,
    });
    stopSeries.setData(stops);
    const stopCount = stops.length / 2;

    // Markers, each with an id naming its trade (hovered, it shows the trade).
    const markers = tradeMarkers(this.trades).filter((m) => index.has(m.time));
    createSeriesMarkers(series, markers);

    chart.timeScale().fitContent();
    this.price = { chart, series, volumeSeries, lines, times, index, box, decimals };
    this.hover(box, chart, series, volumeSeries, lines, decimals);
    this.cleanups.push(keyboardControls(box, chart));
    $("#indicator-legend", this.root).replaceChildren(...legend);
    for (const swatch of this.root.querySelectorAll("#indicator-legend [data-colour]")) {
      swatch.style.backgroundColor = swatch.dataset.colour;
    }
    box.dataset.bars = String(n);
    box.dataset.markers = String(markers.length);
    box.dataset.stops = String(stopCount);
    box.dataset.panes = String(chartPanes.length);
    box.dataset.indicators = indicators.map((l) => l.name).join("|");
    box.dataset.drawMs = String(Math.round(performance.now() - t0));
    box.dataset.decimals = String(decimals);
    box.dataset.drawn = "true";
    const last = candles.at(-1).close;
    const described = indicators.length ? `; indicators: ${indicators.map((l) => l.label).join(", ")}` : "";
    box.setAttribute("aria-label", `${symbol} candlestick chart: ${fmtInt(n)} bars, ${fmtInt(this.trades.length)} trades, `
      + `last close ${fmtFixed(last, decimals)}${described}`);
    $("#price-bars-count", this.root).textContent = `· ${fmtInt(n)} bars · last close ${fmtFixed(last, decimals)}`;
  }

  options() {
    const options = baseOptions();
    options.rightPriceScale = { ...options.rightPriceScale, minimumWidth: narrow() ? 64 : SCALE_WIDTH };
    // Bars narrower than a pixel are drawn merged (a year of 5-minute bars is 105,120).
    options.timeScale = { ...options.timeScale, enableConflation: true };
    options.crosshair = { mode: 0 };
    return options;
  }

  // The bar under the pointer: open, high, low, close, volume and every indicator's value; over a
  // marker, its trade (entry, exit, return, reason, bars held).
  hover(box, chart, series, volumeSeries, lines, decimals) {
    const readout = el("div", { class: "chart-readout", "aria-hidden": "true" });
    const tip = el("div", { class: "chart-tip d-none", role: "tooltip", id: "trade-tip" });
    box.append(readout, tip);
    const byTime = new Map();
    this.trades.forEach((t, i) => {
      for (const key of ["entry_time", "exit_time"]) {
        const time = toTime(t[key]);
        if (!byTime.has(time)) byTime.set(time, i);
      }
    });
    // Written once per animation frame, after the charts' own work.
    let pending = null;
    const show = (bar, values) => {
      if (!bar) return;
      if (pending === null) requestAnimationFrame(() => { readout.textContent = pending; pending = null; });
      const parts = [`O ${fmtFixed(bar.open, decimals)}`, `H ${fmtFixed(bar.high, decimals)}`,
        `L ${fmtFixed(bar.low, decimals)}`, `C ${fmtFixed(bar.close, decimals)}`];
      if (values.volume !== undefined) parts.push(`V ${fmtInt(values.volume)}`);
      for (const { line, value } of values.lines) {
        if (isNum(value)) parts.push(`${line.label} ${fmtFixed(value, line.pane === "price" ? decimals : 2)}`);
      }
      pending = `${fmtDateTime(new Date(bar.time * 1000).toISOString())} · ${parts.join(" · ")}`;
    };
    const last = this.price.times.length - 1;
    const atIndex = (i) => ({
      volume: volumeSeries.dataByIndex(i)?.value,
      lines: lines.map(({ line, series: s }) => ({ line, value: s.dataByIndex(i)?.value })),
    });
    show(series.dataByIndex(last), atIndex(last));
    chart.subscribeCrosshairMove((param) => {
      this.equityCrosshair(param.point ? param.time : null);
      if (!param.time || !param.point) {
        tip.classList.add("d-none");
        show(series.dataByIndex(last), atIndex(last));
        return;
      }
      const bar = param.seriesData.get(series);
      show(bar, {
        volume: param.seriesData.get(volumeSeries)?.value,
        lines: lines.map(({ line, series: s }) => ({ line, value: param.seriesData.get(s)?.value })),
      });
      const id = typeof param.hoveredObjectId === "string" ? param.hoveredObjectId : null;
      const trade = id && /^t\d+$/.test(id.split(":")[0]) ? Number(id.split(":")[0].slice(1)) : byTime.get(param.time);
      if (trade === undefined || !this.trades[trade]) {
        tip.classList.add("d-none");
        return;
      }
      this.showTip(tip, trade, param.point, box);
    });
  }

  tradeText(i) {
    const t = this.trades[i];
    const d = this.price?.decimals ?? 2;
    return [
      `Trade ${i + 1}`,
      `entry ${fmtDateTime(t.entry_time)} at ${fmtFixed(Number(t.entry_price), d)}`,
      `exit ${fmtDateTime(t.exit_time)} at ${fmtFixed(Number(t.exit_price), d)}`,
      `return ${fmtPct(Number(t.return_pct))}`,
      `reason ${REASONS[t.reason] || t.reason}`,
      `${fmtInt(t.bars_held)} bars held`,
      ...(isNum(t.stop) ? [`stop ${fmtFixed(t.stop, d)}`] : []),
    ];
  }

  showTip(tip, i, point, box) {
    const [title, ...rest] = this.tradeText(i);
    tip.replaceChildren(el("strong", { text: title }), ...rest.map((line) => el("div", { text: line })));
    tip.dataset.trade = String(i);
    tip.classList.remove("d-none");
    const width = box.clientWidth;
    const left = Math.min(Math.max(4, point.x + 14), Math.max(4, width - tip.offsetWidth - 4));
    const top = Math.max(4, Math.min(point.y + 14, box.clientHeight - tip.offsetHeight - 4));
    tip.style.left = `${left}px`;
    tip.style.top = `${top}px`;
  }

  drawEquity(box, equity, symbol = "") {
    box.replaceChildren();
    const times = (equity.times || []).map(toTime);
    if (!times.length) {
      box.append(el("div", { class: "chart-loading", text: "No equity curve stored for this coin." }));
      return;
    }
    const chart = createChart(box, this.options());
    this.charts.push(chart);
    const pct = { type: "custom", formatter: (v) => fmtPctFast((v - 1) * 100), minMove: 0.0001 };
    const line = { lineWidth: 2, priceFormat: pct, lastValueVisible: false, priceLineVisible: false };
    // A blank point at every bar the price chart has: the same logical indexes, one time axis.
    const blanks = this.price ? this.price.times : times;
    const merge = (values) => {
      const at = new Map();
      times.forEach((time, i) => { if (isNum(values[i])) at.set(time, values[i]); });
      return blanks.map((time) => (at.has(time) ? { time, value: at.get(time) } : { time }));
    };
    const buyHold = chart.addSeries(LineSeries, { ...line, color: COLOURS.buyHold });
    buyHold.setData(merge(equity.buy_hold || []));
    const strategy = chart.addSeries(LineSeries, { ...line, color: COLOURS.equity });
    strategy.setData(merge(equity.values || []));
    const drawdown = chart.addSeries(AreaSeries, {
      lineColor: COLOURS.drawdown, topColor: "rgba(220,53,69,0.05)", bottomColor: "rgba(220,53,69,0.35)",
      invertFilledArea: true, lineWidth: 1, lastValueVisible: false, priceLineVisible: false,
      priceFormat: { type: "custom", formatter: (v) => fmtPctFast(Math.min(0, v)), minMove: 0.01 },
    }, 1);
    drawdown.setData(merge(equity.drawdown || []));
    chart.panes()[0].setStretchFactor(2);
    chart.panes()[1].setStretchFactor(1);
    chart.timeScale().fitContent();
    // The stored points, for the crosshair the price chart's pointer puts on this chart.
    const points = times.map((time, i) => [time, equity.values?.[i]]).filter(([, v]) => isNum(v));
    this.equity = { chart, strategy, points };
    this.applyLogScale();
    box.dataset.points = String(times.length);
    box.dataset.drawn = "true";
    this.cleanups.push(keyboardControls(box, chart));
    const end = (values) => (values.length ? fmtPct((values.at(-1) - 1) * 100) : "–");
    const worst = Math.min(0, ...(equity.drawdown || []).filter(isNum));
    box.setAttribute("aria-label", `${symbol} equity against buy-and-hold in percent: strategy ends at ${end(equity.values || [])}, `
      + `buy-and-hold at ${end(equity.buy_hold || [])}; deepest drawdown ${fmtPct(worst)}`);
  }

  // The equity chart's crosshair at the bar under the price chart's pointer (the last stored point
  // at or before it gives the level).
  equityCrosshair(time) {
    const e = this.equity;
    if (!e) return;
    if (!time || !e.points.length || time < e.points[0][0]) {
      e.chart.clearCrosshairPosition();
      return;
    }
    let lo = 0;
    let hi = e.points.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (e.points[mid][0] <= time) lo = mid;
      else hi = mid - 1;
    }
    e.chart.setCrosshairPosition(e.points[lo][1], time, e.strategy);
  }

  applyLogScale() {
    const log = $("#equity-log", this.root);
    if (!this.equity || !log) return;
    this.equity.chart.priceScale("right", 0).applyOptions({
      mode: log.checked ? PriceScaleMode.Logarithmic : PriceScaleMode.Normal,
    });
    $("#equity-chart", this.root).dataset.scale = log.checked ? "log" : "linear";
  }

  // Zoom or pan one chart and the other follows (same bars: the same logical range).
  linkTimeAxes() {
    if (!this.price || !this.equity) return;
    const a = this.price.chart.timeScale();
    const b = this.equity.chart.timeScale();
    const boxes = [this.price.box, $("#equity-chart", this.root)];
    let busy = false;
    const follow = (to) => (range) => {
      if (busy || !range) return;
      busy = true;
      to.setVisibleLogicalRange(range);
      busy = false;
      for (const box of boxes) {
        box.dataset.visibleFrom = range.from.toFixed(1);
        box.dataset.visibleTo = range.to.toFixed(1);
      }
    };
    a.subscribeVisibleLogicalRangeChange(follow(b));
    b.subscribeVisibleLogicalRangeChange(follow(a));
    const range = a.getVisibleLogicalRange();
    if (range) b.setVisibleLogicalRange(range);
  }

  // Move both charts to trade i: its bars with some before and after.
  showTrade(i) {
    const t = this.trades[i];
    if (!t || !this.price) return;
    const from = this.price.index.get(toTime(t.entry_time));
    const to = this.price.index.get(toTime(t.exit_time)) ?? from;
    if (from === undefined) return;
    const pad = Math.max(20, (to - from) * 1.5);
    const range = { from: from - pad, to: to + pad };
    this.price.chart.timeScale().setVisibleLogicalRange(range);
    const box = this.price.box;
    box.dataset.trade = String(i);
    for (const tr of this.root.querySelectorAll("#trades-body tr")) {
      tr.classList.toggle("table-active", tr.dataset.index === String(i));
      if (tr.dataset.index === String(i)) tr.setAttribute("aria-current", "true");
      else tr.removeAttribute("aria-current");
    }
    box.scrollIntoView({ block: "nearest" });
  }

  renderMonthly(rows) {
    const head = $("#monthly-head", this.root);
    const body = $("#monthly-body", this.root);
    $("#monthly-section", this.root).classList.toggle("d-none", !rows.length);
    head.replaceChildren(el("tr", {}, el("th", { scope: "col", text: "Year" }),
      ...MONTHS.map((m) => el("th", { scope: "col", class: "text-end", text: m })),
      el("th", { scope: "col", class: "text-end", text: "Year" })));
    body.replaceChildren(...rows.map((row) => el("tr", { dataset: { year: String(row.year) } },
      el("th", { scope: "row", text: String(row.year) }),
      ...row.months.map((v, m) => el("td", { class: `text-end ${returnShade(v)}`, dataset: { month: String(m + 1) },
        text: isNum(v) ? fmtPct(v, { digits: 1 }) : "" })),
      el("td", { class: `text-end fw-semibold ${returnShade(row.total)}`, text: fmtPct(row.total, { digits: 1 }) }))));
  }

  // Prices with one number of decimals for the coin; a row (or Enter on its button) moves the charts to it.
  renderTrades(trades, decimals = 2) {
    $("#trades-count", this.root).textContent = `(${trades.length})`;
    const body = $("#trades-body", this.root);
    if (!trades.length) {
      body.replaceChildren(el("tr", {}, el("td", { colspan: 8, class: "text-body-secondary", text: "No trades in this period." })));
      return;
    }
    body.replaceChildren(
      ...trades.map((t, i) => {
        const ret = Number(t.return_pct);
        const go = el("button", { type: "button", class: "btn btn-link btn-sm p-0 trade-go", text: String(i + 1),
          "aria-label": `Show trade ${i + 1} on the charts` });
        return el("tr", { class: "trade-row", dataset: { reason: t.reason || "", index: String(i) } },
          el("td", {}, go),
          el("td", { class: "text-nowrap", text: fmtDateTime(t.entry_time) }),
          el("td", { class: "text-end", text: fmtFixed(Number(t.entry_price), decimals) }),
          el("td", { class: "text-nowrap", text: fmtDateTime(t.exit_time) }),
          el("td", { class: "text-end", text: fmtFixed(Number(t.exit_price), decimals) }),
          el("td", { class: `text-end ${signClass(ret)}`, text: fmtPct(ret) }),
          el("td", { class: t.reason === "stop_loss" ? "text-danger" : "", text: REASONS[t.reason] || t.reason || "" }),
          el("td", { class: "text-end", text: fmtInt(t.bars_held) }));
      }),
    );
    if (!body.dataset.wired) {
      body.dataset.wired = "true";
      body.addEventListener("click", (event) => {
        const tr = event.target.closest("tr.trade-row");
        if (tr) this.showTrade(Number(tr.dataset.index));
      });
    }
  }
}
