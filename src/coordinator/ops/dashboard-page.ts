/**
 * The dashboard page, live (polls `/status`) or static (the run's final status embedded, written
 * as report.html). Self-contained: uPlot's script and styles are inlined from node_modules, so the
 * page loads nothing from the internet. Worker-supplied text (host names, engines) is only ever
 * set through textContent, and embedded JSON has `<` escaped, so a hostile host name cannot
 * inject markup.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { alignSeries, formatDuration, smoothSeries, yRange } from './chart-data.js';
import type { RunStatus } from './run-state.js';

const require = createRequire(import.meta.url);
let uplot: { js: string; css: string } | null = null;

/** uPlot's minified script and stylesheet, read once. */
function uplotAssets(): { js: string; css: string } {
  uplot ??= {
    js: readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8'),
    css: readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8'),
  };
  return uplot;
}

/** JSON that is safe inside a <script> element (no `</script>`, no HTML comment openers). */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

const STYLE = `
  body { font: 14px system-ui, sans-serif; margin: 16px 24px; color: #1d2330; background: #f7f8fa; }
  h1 { font-size: 20px; margin: 0 0 4px; }
  #summary { color: #4a5568; margin-bottom: 12px; }
  #summary span { margin-right: 16px; }
  .charts { display: flex; flex-wrap: wrap; gap: 16px; }
  .card { background: #fff; border: 1px solid #dde1e7; border-radius: 6px; padding: 10px 12px; }
  .card h2 { font-size: 14px; margin: 0 0 6px; }
  .controls { font-size: 12px; color: #4a5568; margin-bottom: 4px; }
  .controls label { margin-right: 12px; }
  .empty { color: #718096; font-size: 12px; padding: 8px 0; }
  table { border-collapse: collapse; margin-top: 16px; background: #fff; }
  th, td { border: 1px solid #dde1e7; padding: 4px 10px; text-align: right; }
  th { background: #edf2f7; }
  td.text, th.text { text-align: left; }
  .failed { color: #c53030; font-weight: bold; }
  .tables { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
`;

const BODY = `
<h1 id="title">ringtrain</h1>
<div id="summary">
  <span id="state">connecting…</span><span id="progress"></span><span id="loss"></span><span id="rate"></span><span id="elapsed"></span><span id="eta"></span><span id="generation"></span>
</div>
<div class="charts">
  <div class="card"><h2>Loss</h2>
    <div class="controls">
      <label>smoothing <input id="smoothing" type="range" min="0" max="0.99" step="0.01" value="0.6"> <span id="smoothing-value">0.60</span></label>
      <label><input id="log-scale" type="checkbox"> log scale</label>
    </div>
    <div id="loss-chart" data-points="0" data-train-points="0" data-series=""></div>
  </div>
  <div class="card" id="accuracy-card"><h2>Accuracy</h2>
    <div id="accuracy-chart" data-points="0" data-series=""></div>
  </div>
</div>
<div class="tables">
  <table id="workers">
    <thead><tr><th>rank</th><th class="text">host</th><th>pid</th><th class="text">engine</th><th>step ms</th><th>compute ms</th><th>all-reduce ms</th></tr></thead>
    <tbody></tbody>
  </table>
  <table id="hyper">
    <thead><tr><th class="text">setting</th><th>value</th></tr></thead>
    <tbody></tbody>
  </table>
</div>
`;

/**
 * uPlot formats numbers with navigator.language, which some browsers under a C/POSIX locale
 * report as "en-US@posix", a tag Intl refuses: the chart script would then fail to load at all.
 */
const LOCALE_GUARD = 'try { new Intl.NumberFormat(navigator.language); } catch (e) { Object.defineProperty(navigator, "language", { value: "en-US" }); }';

/** The page logic (plain browser JS; the chart-data functions are inlined before it). */
const SCRIPT = String.raw`
"use strict";
var COLORS = { train: "rgba(49,130,206,0.25)", smooth: "#3182ce", test: "#dd6b20", val: "#38a169" };
var charts = { loss: null, acc: null };
var last = null;

function fmt(v, digits) { return v === null || v === undefined || !isFinite(v) ? "–" : Number(v).toFixed(digits); }
function setText(id, text) { document.getElementById(id).textContent = text; }
function perEpoch(s, key) { return s.epochHistory.filter(function (e) { return e[key] !== null && e[key] !== undefined; }).map(function (e) { return [e.step, e[key]]; }); }
function opts(el, series, range, log) {
  return {
    width: el.id === "loss-chart" ? 600 : 420, height: 280,
    // The y range is ours (chart-data yRange), read from the plot each time uPlot rescales.
    scales: { x: { time: false }, y: log ? { distr: 3, log: 10, range: function (u) { return u.rtRange || range; } } : { range: function (u) { return u.rtRange || range; } } },
    axes: [{ label: "step" }, { size: 60 }],
    series: [{ label: "step" }].concat(series),
    legend: { live: false },
  };
}
/** Recreates a chart when its series or scale change, else only swaps its data. */
function draw(which, el, key, series, data, range, log) {
  var c = charts[which];
  if (!c || c.key !== key) {
    if (c) c.plot.destroy();
    el.innerHTML = "";
    var plot = new uPlot(opts(el, series, range, log), data, el);
    plot.rtRange = range;
    charts[which] = c = { key: key, plot: plot };
  } else {
    c.plot.rtRange = range;
    c.plot.setData(data);
  }
  el.setAttribute("data-series", series.map(function (s) { return s.label; }).join(","));
}
function line(label, color, extra) { var s = { label: label, stroke: color, width: 1.5, spanGaps: true, points: { show: false } }; for (var k in extra) s[k] = extra[k]; return s; }
function dots(label, color) { return line(label, color, { points: { show: true, size: 7, fill: color }, width: 1.5 }); }

function renderLoss(s) {
  var el = document.getElementById("loss-chart");
  var w = Number(document.getElementById("smoothing").value);
  var log = document.getElementById("log-scale").checked;
  setText("smoothing-value", w.toFixed(2));
  var test = perEpoch(s, "testLoss"), val = perEpoch(s, "valLoss");
  var raw = s.lossCurve;
  var sets = [raw, raw, test], series = [line("train", COLORS.train), line("train (smoothed)", COLORS.smooth, { width: 2 }), dots("test", COLORS.test)];
  // A validation series (and legend entry) only when the job has a validation split.
  if (val.length > 0) { sets.push(val); series.push(dots("validation", COLORS.val)); }
  var a = alignSeries(sets);
  a.ys[1] = smoothSeries(a.ys[1], w);
  if (log) a.ys = a.ys.map(function (col) { return col.map(function (v) { return v !== null && v > 0 ? v : null; }); });
  var all = [].concat.apply([], a.ys);
  // Losses are rarely negative; when none is, the axis does not dip below 0 either.
  var range = yRange(all, log, all.every(function (v) { return v === null || v >= 0; }) ? [0, Infinity] : null);
  el.setAttribute("data-points", String(raw.length + test.length + val.length));
  el.setAttribute("data-train-points", String(raw.length));
  if (!range || a.x.length < 1) { el.innerHTML = '<div class="empty">waiting for the first steps…</div>'; if (charts.loss) { charts.loss.plot.destroy(); charts.loss = null; } return; }
  draw("loss", el, series.map(function (x) { return x.label; }).join() + (log ? ":log" : ""), series, [a.x].concat(a.ys), range, log);
}

function renderAccuracy(s) {
  var el = document.getElementById("accuracy-chart");
  var test = perEpoch(s, "testAccuracy"), val = perEpoch(s, "valAccuracy");
  var sets = [test], series = [dots("test", COLORS.test)];
  if (val.length > 0) { sets.push(val); series.push(dots("validation", COLORS.val)); }
  el.setAttribute("data-points", String(test.length + val.length));
  var a = alignSeries(sets);
  var range = yRange([].concat.apply([], a.ys), false, [0, 1]);
  if (!range) { el.innerHTML = '<div class="empty">' + (s.epochHistory.length > 0 ? "this job reports no accuracy" : "after the first epoch…") + "</div>"; if (charts.acc) { charts.acc.plot.destroy(); charts.acc = null; } return; }
  draw("acc", el, series.map(function (x) { return x.label; }).join(), series, [a.x].concat(a.ys), range, false);
}

function row(cells) {
  var tr = document.createElement("tr");
  cells.forEach(function (c) { var td = document.createElement("td"); td.textContent = String(c[0]); if (c[1]) td.className = c[1]; tr.appendChild(td); });
  return tr;
}
function fill(id, rows) {
  var body = document.querySelector("#" + id + " tbody");
  while (body.firstChild) body.removeChild(body.firstChild);
  rows.forEach(function (r) { body.appendChild(r); });
}

function render(s) {
  last = s;
  var name = s.job || "ringtrain";
  setText("title", name);
  document.title = name + " · ringtrain";
  var st = document.getElementById("state");
  st.textContent = s.state + (s.error ? ": " + s.error.code + " " + s.error.message : "");
  st.className = s.state === "failed" ? "failed" : "";
  setText("progress", "epoch " + s.epoch + "/" + s.epochs + " · step " + s.step + "/" + s.totalSteps);
  setText("loss", "loss " + fmt(s.loss, 4));
  setText("rate", fmt(s.samplesPerSec, 0) + " samples/s");
  setText("elapsed", "elapsed " + formatDuration(s.elapsedSeconds));
  setText("eta", s.state === "training" ? "ETA " + formatDuration(s.etaSeconds) : "");
  setText("generation", "generation " + s.generation + (s.restarts ? " (" + s.restarts + " restarts)" : ""));
  renderLoss(s);
  renderAccuracy(s);
  fill("workers", s.workers.map(function (w) {
    var tr = row([[w.rank, ""], [w.host, "text"], [w.pid, ""], [w.engine, "text"], [fmt(w.stepMs, 1), ""], [fmt(w.computeMs, 1), ""], [fmt(w.allreduceMs, 1), ""]]);
    tr.setAttribute("data-rank", String(w.rank));
    return tr;
  }));
  var h = s.hyper || {};
  fill("hyper", Object.keys(h).map(function (k) { var tr = row([[k, "text"], [h[k], ""]]); tr.setAttribute("data-key", k); return tr; }));
}

document.getElementById("smoothing").addEventListener("input", function () { if (last) renderLoss(last); });
document.getElementById("log-scale").addEventListener("change", function () { if (last) renderLoss(last); });

var embedded = document.getElementById("embedded-status");
if (embedded) {
  render(JSON.parse(embedded.textContent));
} else {
  var stopped = false;
  var poll = function () {
    var ctl = new AbortController();
    var timer = setTimeout(function () { ctl.abort(); }, 5000);
    fetch("status", { cache: "no-store", signal: ctl.signal })
      .then(function (r) { return r.json(); })
      .then(function (s) { render(s); stopped = s.state === "done" || s.state === "failed"; })
      .catch(function () { setText("state", "coordinator unreachable (the run may have ended)"); })
      .finally(function () { clearTimeout(timer); if (!stopped) setTimeout(poll, 1000); });
  };
  poll();
}
`;

/**
 * The page: live when `status` is absent (polls `/status` on its own origin), else a static
 * report of that status (report.html) that fetches nothing.
 */
export function dashboardHtml(status?: RunStatus): string {
  const { js, css } = uplotAssets();
  const helpers = [smoothSeries, alignSeries, yRange, formatDuration].map((f) => f.toString()).join('\n');
  const data = status ? `<script type="application/json" id="embedded-status">${scriptJson(status)}</script>\n` : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ringtrain</title>
<style>${css}</style>
<style>${STYLE}</style>
</head>
<body>
${BODY}
${data}<script>${LOCALE_GUARD}</script>
<script>${js}</script>
<script>
${helpers}
${SCRIPT}
</script>
</body>
</html>
`;
}
