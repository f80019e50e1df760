// The Data page (`/data/`): per coin and stored interval, a coverage timeline (first bar to last, on one
// time axis for all coins) with its gaps marked, and the data-quality summary of
// GET /api/cryptocurrencies/{symbol}/quality/?interval=...
import { getJSON, withQuery } from "./api.js";
import { $, el, fmtInt, show } from "./dom.js";

const root = $("#data-page");
const QUALITY_CONCURRENCY = 4;

const ms = (iso) => Date.parse(iso);
const day = (iso) => (typeof iso === "string" ? iso.slice(0, 10) : "");

function timeline(range, first, last) {
  const span = Math.max(range.last - range.first, 1);
  const pct = (t) => `${(((t - range.first) / span) * 100).toFixed(3)}%`;
  const track = el("div", {
    class: "position-relative bg-body-secondary rounded coverage-track",
    style: "height: 14px",
    role: "img",
    "aria-label": `bars from ${day(first)} to ${day(last)}`,
  });
  const bar = el("div", {
    class: "position-absolute top-0 bottom-0 bg-success rounded coverage-bar",
    style: `left: ${pct(ms(first))}; width: max(2px, calc(${pct(ms(last))} - ${pct(ms(first))}))`,
  });
  track.append(bar);
  return { track, mark: (after, before, title) => {
    const gap = el("div", {
      class: "position-absolute top-0 bottom-0 bg-danger coverage-gap",
      style: `left: ${pct(ms(after))}; width: max(2px, calc(${pct(ms(before))} - ${pct(ms(after))}))`,
      title,
    });
    track.append(gap);
  } };
}

function summary(report) {
  const parts = [
    `${fmtInt(report.gaps.length)} gaps (${fmtInt(report.missing_bars)} missing bars)`,
    `${fmtInt(report.zero_volume_bars)} zero-volume`,
    `${fmtInt(report.flat_runs.length)} flat runs`,
    `${fmtInt(report.jumps.length)} jumps`,
  ];
  const clean = !report.gaps.length && !report.flat_runs.length && !report.jumps.length;
  return el("span", { class: clean ? "text-success" : "text-warning-emphasis", text: parts.join(" · ") });
}

async function fillQuality(jobs) {
  // A few requests at a time: a page of many coins must not open hundreds of connections at once.
  const queue = jobs.slice();
  async function worker() {
    while (queue.length) {
      const { coin, interval, line, cell } = queue.shift();
      try {
        const url = withQuery(`${root.dataset.apiCoins}${encodeURIComponent(coin.symbol)}/quality/`, { interval });
        const report = await getJSON(url);
        for (const gap of report.gaps) line.mark(gap.after, gap.before, `${gap.missing} missing bars after ${gap.after}`);
        cell.replaceChildren(summary(report));
      } catch (err) {
        cell.replaceChildren(el("span", { class: "text-danger", text: err.message }));
      }
    }
  }
  await Promise.all(Array.from({ length: QUALITY_CONCURRENCY }, worker));
}

async function load() {
  let coins;
  try {
    coins = await getJSON(root.dataset.apiCoins);
  } catch (err) {
    $("#data-error").textContent = err.message;
    show($("#data-error"));
    return;
  }
  const stored = coins.flatMap((c) => (c.intervals || []).filter((s) => !s.derived_from));
  show($("#data-empty"), !coins.length);
  if (!stored.length) return;
  const range = { first: Math.min(...stored.map((s) => ms(s.first))), last: Math.max(...stored.map((s) => ms(s.last))) };
  $("#data-range").textContent = `${day(new Date(range.first).toISOString())} → ${day(new Date(range.last).toISOString())}`;
  const body = $("#data-body");
  const jobs = [];
  for (const coin of coins) {
    const own = (coin.intervals || []).filter((s) => !s.derived_from);
    const derived = (coin.intervals || []).filter((s) => s.derived_from).map((s) => s.interval);
    own.forEach((s, k) => {
      const line = timeline(range, s.first, s.last);
      const cell = el("td", { class: "small quality-cell", text: "…" });
      const name = k === 0
        ? el("th", { scope: "row", rowspan: own.length },
          el("div", { text: coin.symbol }),
          el("div", { class: "small fw-normal text-body-secondary", text: coin.is_demo ? `${coin.name} · demo data` : coin.name }),
          derived.length ? el("div", { class: "small fw-normal text-body-secondary", text: `also ${derived.join(", ")} (derived)` }) : null)
        : null;
      body.append(el("tr", { dataset: { symbol: coin.symbol, interval: s.interval } },
        name,
        el("td", { text: s.interval }),
        el("td", { class: "text-end", text: fmtInt(s.bars) }),
        el("td", {}, line.track, el("div", { class: "small text-body-secondary", text: `${day(s.first)} → ${day(s.last)}` })),
        cell));
      jobs.push({ coin, interval: s.interval, line, cell });
    });
  }
  await fillQuality(jobs);
  root.dataset.ready = "true";
}

load();
