// Charts of accounts, shared by the run page's portfolio panel and the compare page:
// equity lines with a drawdown pane under them (lightweight-charts v5 panes), and the coins'
// contributions as bars (ECharts). The numbers come from the API; only the drawdown of a drawn
// curve (its fall from its running high) is worked out here, from the points drawn.
import {
  ColorType,
  createChart,
  LineSeries,
} from "../vendor/lightweight-charts/lightweight-charts.standalone.production.mjs";
import * as echarts from "../vendor/echarts/echarts.esm.min.mjs";
import { toTime } from "./charts.js";
import { fmtNum } from "./dom.js";

// One colour per run or line; the 6th is for the 6th run (the most a comparison takes).
export const LINE_COLOURS = ["#0d6efd", "#fd7e14", "#198754", "#6f42c1", "#d63384", "#0dcaf0"];
export const BUY_HOLD_COLOUR = "#6c757d";

// ECharts sets a tooltip formatter's string as HTML: every line is escaped first.
export const tip = (lines) => lines.map((line) => echarts.format.encodeHTML(String(line))).join("<br>");

// Ascending unique times (UTC seconds) and finite values, as lightweight-charts wants them.
export function points(times, values, scale = 1) {
  const out = [];
  let last = -Infinity;
  for (let i = 0; i < times.length; i += 1) {
    const time = toTime(times[i]);
    const value = Number(values[i]);
    if (!(time > last) || !Number.isFinite(value)) continue;
    last = time;
    out.push({ time, value: value * scale });
  }
  return out;
}

// The fall of each point from the running high before it, in % (0 at a new high).
export function drawdown(line) {
  let high = -Infinity;
  return line.map(({ time, value }) => {
    high = Math.max(high, value);
    return { time, value: high > 0 ? (value / high - 1) * 100 : 0 };
  });
}

function options() {
  const dark = document.documentElement.dataset.bsTheme === "dark";
  return {
    autoSize: true,
    layout: {
      background: { type: ColorType.Solid, color: dark ? "#212529" : "#ffffff" },
      textColor: dark ? "#dee2e6" : "#212529",
      fontSize: 11,
      panes: { separatorColor: "rgba(128,128,128,0.35)", enableResize: false },
    },
    grid: { vertLines: { color: "rgba(128,128,128,0.12)" }, horzLines: { color: "rgba(128,128,128,0.12)" } },
    timeScale: { timeVisible: true, secondsVisible: false, borderVisible: false, minBarSpacing: 0.01, lockVisibleTimeRangeOnResize: true },
    rightPriceScale: { borderVisible: false },
    crosshair: { mode: 0 },
    handleScroll: { mouseWheel: false }, // the page scrolls under the wheel; drag pans
  };
}

// lines: [{name, colour, times, values, scale?, dashed?, drawdown?: bool}] drawn in pane 0, and the
// drawdown of those with drawdown=true in pane 1. Returns the chart (call .remove() to dispose).
export function equityPanes(box, lines, { digits = 3, ddShare = 0.32 } = {}) {
  box.replaceChildren();
  const chart = createChart(box, options());
  const fmt = { type: "custom", formatter: (v) => fmtNum(v, digits), minMove: 10 ** -digits };
  const pct = { type: "custom", formatter: (v) => `${fmtNum(v, 1)}%`, minMove: 0.01 };
  let drawn = 0;
  for (const line of lines) {
    const data = points(line.times || [], line.values || [], line.scale ?? 1);
    if (!data.length) continue;
    drawn += 1;
    const style = { color: line.colour, lineWidth: line.width ?? 2, lineStyle: line.dashed ? 2 : 0, priceFormat: fmt,
      lastValueVisible: false, priceLineVisible: false, title: "" };
    chart.addSeries(LineSeries, style, 0).setData(data);
    if (line.drawdown) {
      chart.addSeries(LineSeries, { ...style, lineWidth: 1.5, lineStyle: 0, priceFormat: pct }, 1).setData(drawdown(data));
    }
  }
  const panes = chart.panes();
  if (panes.length > 1) {
    panes[0].setStretchFactor(1 - ddShare);
    panes[1].setStretchFactor(ddShare);
  }
  chart.timeScale().fitContent();
  box.dataset.lines = String(drawn);
  box.dataset.panes = String(panes.length);
  box.dataset.drawn = "true";
  return chart;
}

// Bars of each coin's contribution (% of the starting capital) for one or more series, coins on
// the category axis sorted by the first series; past `window` coins a slider scrolls them.
export function contributionBars(box, { symbols, series, window = 30, unit = "% of the capital" }) {
  const chart = echarts.getInstanceByDom(box) || echarts.init(box, null, { renderer: "canvas" });
  const many = symbols.length > window;
  const dark = document.documentElement.dataset.bsTheme === "dark";
  const text = dark ? "#dee2e6" : "#212529";
  chart.setOption({
    animation: false,
    textStyle: { fontFamily: "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif" },
    grid: { left: 8, right: 12, top: 34, bottom: many ? 44 : 8, containLabel: true },
    legend: { top: 0, left: 0, textStyle: { color: text }, itemWidth: 14, itemHeight: 10 },
    tooltip: {
      trigger: "axis",
      axisPointer: { type: "shadow" },
      formatter: (items) => tip([items[0]?.axisValue ?? "",
        ...items.map((i) => `${i.seriesName}: ${i.value == null ? "–" : `${fmtNum(i.value)} ${unit}`}`)]),
    },
    xAxis: {
      type: "category",
      data: symbols,
      // Symbols side by side while they fit (about 44 px each), slanted when they would overlap.
      axisLabel: { color: text, interval: 0, rotate: Math.min(symbols.length, window) * 44 > box.clientWidth ? 60 : 0, fontSize: 11 },
      axisTick: { alignWithLabel: true },
    },
    yAxis: {
      type: "value",
      axisLabel: { color: text, formatter: (v) => `${fmtNum(v, Math.abs(v) < 10 ? 1 : 0)}%` },
      splitLine: { lineStyle: { color: "rgba(128,128,128,0.18)" } },
    },
    dataZoom: many ? [{ type: "slider", startValue: 0, endValue: window - 1, height: 16, bottom: 6, showDetail: false },
      { type: "inside", zoomOnMouseWheel: false, moveOnMouseWheel: false }] : [],
    series: series.map((s) => ({ name: s.name, type: "bar", data: s.values, barGap: "10%", barMaxWidth: 22,
      itemStyle: { color: s.colour } })),
  }, true);
  box.dataset.bars = String(symbols.length);
  box.dataset.drawn = "true";
  return chart;
}

export { echarts };
