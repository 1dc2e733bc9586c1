/**
 * The dashboard: one self-contained page (no CDN, nothing fetched but `/status` from the same
 * origin), drawn with inline SVG. Worker-supplied text (host names, engines) is only ever set
 * through textContent, so a hostile host name cannot inject markup.
 */
export const DASHBOARD_HTML = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ringtrain</title>
<style>
  body { font: 14px system-ui, sans-serif; margin: 16px 24px; color: #1d2330; background: #f7f8fa; }
  h1 { font-size: 20px; margin: 0 0 4px; }
  #summary { color: #4a5568; margin-bottom: 12px; }
  #summary span { margin-right: 16px; }
  .charts { display: flex; flex-wrap: wrap; gap: 16px; }
  .card { background: #fff; border: 1px solid #dde1e7; border-radius: 6px; padding: 10px 12px; }
  .card h2 { font-size: 14px; margin: 0 0 6px; }
  svg { display: block; }
  svg text { font-size: 11px; fill: #4a5568; }
  .axis { stroke: #a0aec0; stroke-width: 1; }
  .train { fill: none; stroke: #3182ce; stroke-width: 1.5; }
  .test { fill: none; stroke: #dd6b20; stroke-width: 1.5; }
  .val { fill: none; stroke: #38a169; stroke-width: 1.5; stroke-dasharray: 4 3; }
  table { border-collapse: collapse; margin-top: 16px; background: #fff; }
  th, td { border: 1px solid #dde1e7; padding: 4px 10px; text-align: right; }
  th { background: #edf2f7; }
  td.text { text-align: left; }
  .legend span { margin-right: 12px; font-size: 12px; }
  .failed { color: #c53030; font-weight: bold; }
</style>
</head>
<body>
<h1>ringtrain <span id="job"></span></h1>
<div id="summary">
  <span id="state">connecting…</span><span id="progress"></span><span id="loss"></span><span id="rate"></span><span id="eta"></span><span id="generation"></span>
</div>
<div class="charts">
  <div class="card"><h2>Loss</h2>
    <svg id="loss-chart" width="560" height="260" data-points="0"></svg>
    <div class="legend"><span style="color:#3182ce">— train (per step)</span><span style="color:#dd6b20">— test (per epoch)</span><span style="color:#38a169">- - validation</span></div>
  </div>
  <div class="card"><h2>Accuracy</h2>
    <svg id="accuracy-chart" width="360" height="260" data-points="0"></svg>
    <div class="legend"><span style="color:#dd6b20">— test</span><span style="color:#38a169">- - validation</span></div>
  </div>
</div>
<table id="workers">
  <thead><tr><th>rank</th><th>host</th><th>pid</th><th>engine</th><th>step ms</th><th>compute ms</th><th>all-reduce ms</th></tr></thead>
  <tbody></tbody>
</table>
<script>
"use strict";
var SVGNS = "http://www.w3.org/2000/svg";
var PAD = { l: 48, r: 10, t: 10, b: 24 };

function el(name, attrs, parent) {
  var e = document.createElementNS(SVGNS, name);
  for (var k in attrs) e.setAttribute(k, String(attrs[k]));
  if (parent) parent.appendChild(e);
  return e;
}
function fmt(v, digits) { return v === null || v === undefined || !isFinite(v) ? "–" : Number(v).toFixed(digits); }
function setText(id, text) { document.getElementById(id).textContent = text; }

/** Draws series (arrays of [x, y]) into an svg with shared, padded axes. */
function plot(svg, series, xFixed, yFixed) {
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  var w = Number(svg.getAttribute("width")), h = Number(svg.getAttribute("height"));
  var pts = [];
  series.forEach(function (s) { pts = pts.concat(s.points.filter(function (p) { return isFinite(p[1]); })); });
  var total = series.reduce(function (n, s) { return n + s.points.length; }, 0);
  svg.setAttribute("data-points", String(total));
  el("line", { x1: PAD.l, y1: h - PAD.b, x2: w - PAD.r, y2: h - PAD.b, class: "axis" }, svg);
  el("line", { x1: PAD.l, y1: PAD.t, x2: PAD.l, y2: h - PAD.b, class: "axis" }, svg);
  if (pts.length === 0) { el("text", { x: PAD.l + 8, y: h / 2 }, svg).textContent = "waiting for data…"; return; }
  var xs = pts.map(function (p) { return p[0]; }), ys = pts.map(function (p) { return p[1]; });
  var x0 = xFixed ? xFixed[0] : Math.min.apply(null, xs), x1 = xFixed ? Math.max(xFixed[1], Math.max.apply(null, xs)) : Math.max.apply(null, xs);
  var y0 = yFixed ? yFixed[0] : Math.min.apply(null, ys), y1 = yFixed ? yFixed[1] : Math.max.apply(null, ys);
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) { y1 = y0 + 1; }
  var sx = function (x) { return PAD.l + (x - x0) / (x1 - x0) * (w - PAD.l - PAD.r); };
  var sy = function (y) { return h - PAD.b - (y - y0) / (y1 - y0) * (h - PAD.t - PAD.b); };
  [y0, (y0 + y1) / 2, y1].forEach(function (v) {
    el("text", { x: 4, y: sy(v) + 4 }, svg).textContent = fmt(v, 3);
  });
  el("text", { x: PAD.l, y: h - 6 }, svg).textContent = String(x0);
  el("text", { x: w - PAD.r, y: h - 6, "text-anchor": "end" }, svg).textContent = String(x1) + " " + (series[0].unit || "");
  series.forEach(function (s) {
    var good = s.points.filter(function (p) { return isFinite(p[1]); });
    if (good.length === 0) return;
    el("polyline", { class: s.cls, "data-series": s.name, points: good.map(function (p) { return sx(p[0]).toFixed(1) + "," + sy(p[1]).toFixed(1); }).join(" ") }, svg);
    if (s.dots) good.forEach(function (p) { el("circle", { cx: sx(p[0]), cy: sy(p[1]), r: 3, class: s.cls }, svg); });
  });
}

function render(s) {
  setText("job", s.job || "");
  var st = document.getElementById("state");
  st.textContent = s.state + (s.error ? ": " + s.error.code + " " + s.error.message : "");
  st.className = s.state === "failed" ? "failed" : "";
  setText("progress", "epoch " + s.epoch + "/" + s.epochs + " · step " + s.step + "/" + s.totalSteps);
  setText("loss", "loss " + fmt(s.loss, 4));
  setText("rate", fmt(s.samplesPerSec, 0) + " samples/s");
  setText("eta", "ETA " + (s.etaSeconds === null ? "–" : fmt(s.etaSeconds, 0) + " s"));
  setText("generation", "generation " + s.generation + (s.restarts ? " (" + s.restarts + " restarts)" : ""));
  // Both charts span the whole run, so their x axes line up and progress is visible.
  var steps = [0, Math.max(1, s.totalSteps)];
  var perEpoch = function (key) { return s.epochHistory.filter(function (e) { return e[key] !== null; }).map(function (e) { return [e.step, e[key]]; }); };
  plot(document.getElementById("loss-chart"), [
    { name: "train", cls: "train", points: s.lossCurve, unit: "steps" },
    { name: "test", cls: "test", points: perEpoch("testLoss"), dots: true },
    { name: "validation", cls: "val", points: perEpoch("valLoss"), dots: true },
  ], steps);
  plot(document.getElementById("accuracy-chart"), [
    { name: "test", cls: "test", points: perEpoch("testAccuracy"), dots: true, unit: "steps" },
    { name: "validation", cls: "val", points: perEpoch("valAccuracy"), dots: true },
  ], steps, [0, 1]);
  var body = document.querySelector("#workers tbody");
  while (body.firstChild) body.removeChild(body.firstChild);
  s.workers.forEach(function (w) {
    var tr = document.createElement("tr");
    tr.setAttribute("data-rank", String(w.rank));
    [[w.rank, ""], [w.host, "text"], [w.pid, ""], [w.engine, "text"], [fmt(w.stepMs, 1), ""], [fmt(w.computeMs, 1), ""], [fmt(w.allreduceMs, 1), ""]].forEach(function (c) {
      var td = document.createElement("td");
      td.textContent = String(c[0]);
      if (c[1]) td.className = c[1];
      tr.appendChild(td);
    });
    body.appendChild(tr);
  });
}

var stopped = false;
function poll() {
  var ctl = new AbortController();
  var timer = setTimeout(function () { ctl.abort(); }, 5000);
  fetch("status", { cache: "no-store", signal: ctl.signal })
    .then(function (r) { return r.json(); })
    .then(function (s) { render(s); stopped = s.state === "done" || s.state === "failed"; })
    .catch(function () { setText("state", "coordinator unreachable (the run may have ended)"); })
    .finally(function () { clearTimeout(timer); if (!stopped) setTimeout(poll, 1000); });
}
poll();
</script>
</body>
</html>
`;
