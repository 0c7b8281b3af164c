// Charts drawn as inline SVG from JSON. Text goes in through textContent only,
// so nothing a user controls is ever parsed as markup.
"use strict";
const SVGNS = "http://www.w3.org/2000/svg";
const PALETTE = ["#1f6f50", "#c2410c", "#2563eb", "#9333ea", "#b91c1c", "#0f766e", "#a16207"];

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else e.setAttribute(k, v);
  }
  for (const c of children) {
    if (c == null) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function svg(tag, attrs) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  return e;
}

function fmtTime(sec, span) {
  const d = new Date(sec * 1000);
  if (span > 2 * 86400) return d.toISOString().slice(5, 10);
  return d.toISOString().slice(11, 16);
}

// lineChart draws lines ({label, points: [[unixSeconds, value], ...]}) over time
// and returns the chart's element. fmt formats a value for the axis.
function lineChart(title, lines, fmt) {
  fmt = fmt || (v => (Math.abs(v) >= 100 ? v.toFixed(0) : +v.toPrecision(3)).toString());
  const box = el("div", { class: "chart" }, el("h3", {}, title));
  const all = lines.flatMap(l => l.points || []);
  if (all.length === 0) {
    box.append(el("p", { class: "muted nodata" }, "no data yet"));
    return box;
  }
  const W = 600, H = 190, L = 52, R = 10, T = 10, B = 24;
  let x0 = Math.min(...all.map(p => p[0])), x1 = Math.max(...all.map(p => p[0]));
  let y1 = Math.max(...all.map(p => p[1]), 0), y0 = Math.min(...all.map(p => p[1]), 0);
  if (x1 === x0) { x0 -= 30; x1 += 30; }
  if (y1 === y0) y1 = y0 + 1;
  const sx = t => L + (t - x0) / (x1 - x0) * (W - L - R);
  const sy = v => H - B - (v - y0) / (y1 - y0) * (H - T - B);
  const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img" });
  s.append(svg("title")); s.lastChild.textContent = title;
  for (const f of [0, 0.5, 1]) {
    const v = y0 + f * (y1 - y0), y = sy(v);
    s.append(svg("line", { x1: L, x2: W - R, y1: y, y2: y, stroke: "#e3e8e5" }));
    const t = svg("text", { x: L - 6, y: y + 4, "text-anchor": "end", "font-size": 11, fill: "#66737a" });
    t.textContent = fmt(v); s.append(t);
  }
  for (const [x, anchor] of [[x0, "start"], [x1, "end"]]) {
    const t = svg("text", { x: sx(x), y: H - 6, "text-anchor": anchor, "font-size": 11, fill: "#66737a" });
    t.textContent = fmtTime(x, x1 - x0); s.append(t);
  }
  const legend = el("div", { class: "legend" });
  lines.forEach((l, i) => {
    const color = l.color || PALETTE[i % PALETTE.length];
    const pts = (l.points || []).slice().sort((a, b) => a[0] - b[0]);
    if (pts.length === 1) {
      s.append(svg("circle", { cx: sx(pts[0][0]), cy: sy(pts[0][1]), r: 3, fill: color }));
    } else {
      const d = pts.map((p, j) => (j ? "L" : "M") + sx(p[0]).toFixed(1) + " " + sy(p[1]).toFixed(1)).join("");
      s.append(svg("path", { d, fill: "none", stroke: color, "stroke-width": 2, "stroke-linejoin": "round" }));
    }
    const sw = el("i"); sw.style.background = color;
    legend.append(el("span", {}, sw, l.label));
  });
  box.append(s, legend);
  return box;
}

// barChart draws horizontal bars ({label, value, color}) and returns the element.
function barChart(title, bars, fmt) {
  fmt = fmt || (v => String(+v.toPrecision(3)));
  const box = el("div", { class: "chart" }, el("h3", {}, title));
  if (bars.length === 0) {
    box.append(el("p", { class: "muted nodata" }, "no data yet"));
    return box;
  }
  const W = 600, row = 22, H = bars.length * row + 4, L = 210;
  const max = Math.max(...bars.map(b => b.value), 1e-9);
  const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", class: "bars" });
  bars.forEach((b, i) => {
    const y = i * row + 2;
    const label = svg("text", { x: L - 6, y: y + 15, "text-anchor": "end", "font-size": 12, fill: "#1d2428" });
    // Go test names carry their package: keep the test's own name.
    const i2 = b.label.search(/\.(Test|Benchmark|Example|Fuzz)/), name = i2 >= 0 ? b.label.slice(i2 + 1) : b.label;
    label.textContent = name.length > 30 ? name.slice(0, 29) + "…" : name;
    label.append(svg("title")); label.lastChild.textContent = b.label;
    const w = Math.max(1, b.value / max * (W - L - 70));
    const val = svg("text", { x: L + w + 4, y: y + 15, "font-size": 12, fill: "#66737a" });
    val.textContent = fmt(b.value);
    s.append(label, svg("rect", { x: L, y: y + 3, width: w, height: row - 8, rx: 3, fill: b.color || PALETTE[0] }), val);
  });
  box.append(s);
  return box;
}
