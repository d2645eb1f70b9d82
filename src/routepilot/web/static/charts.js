// Small SVG charts drawn by hand: a time-series line chart with move markers,
// a band showing which provider was the exit, hover read-outs; the colour
// scale of the heat map; and the folding of API rows into one series per provider.
// No library: the dashboard must work offline.

import { esc, hhmm, providerColour } from "./api.js";

const NS = "http://www.w3.org/2000/svg";

function el(name, attrs = {}, text) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function niceStep(span, count) {
  const raw = span / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  for (const f of [1, 2, 2.5, 5, 10]) if (raw <= f * mag) return f * mag;
  return 10 * mag;
}

const TIME_STEPS = [60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];

/**
 * lineChart(container, opts) draws into container (replacing its content).
 * opts: {series: [{name, colour, points: [[t, v], ...]}], x0, x1, height,
 *        yFmt, yMin, yMax, markers: [{t, colour, label}], hlines: [{v, label, colour}],
 *        band: [{t0, t1, colour, label}], title}
 */
export function lineChart(container, opts) {
  const width = Math.max(280, container.clientWidth || 480);
  const height = opts.height ?? 180;
  const bandH = opts.band ? 8 : 0;
  const m = { l: 56, r: 18, t: 8, b: 20 + bandH };
  const w = width - m.l - m.r;
  const h = height - m.t - m.b;
  const { x0, x1 } = opts;
  const yFmt = opts.yFmt ?? ((v) => v.toFixed(1));

  let yMax = opts.yMax ?? -Infinity;
  for (const s of opts.series) for (const [, v] of s.points) if (v !== null && v > yMax) yMax = v;
  // Head-room above a reference line, so its label sits clear of the top grid label.
  for (const l of opts.hlines ?? []) if (l.v * 1.15 > yMax) yMax = l.v * 1.15;
  if (!Number.isFinite(yMax) || yMax <= 0) yMax = 1;
  const yMin = opts.yMin ?? 0;
  const step = niceStep(yMax - yMin, 4);
  yMax = Math.ceil(yMax / step) * step;
  const X = (t) => m.l + ((t - x0) / Math.max(1, x1 - x0)) * w;
  const Y = (v) => m.t + h - ((v - yMin) / Math.max(1e-12, yMax - yMin)) * h;

  const svg = el("svg", { width, height, class: "chart", role: "img" });
  if (opts.title) svg.append(el("title", {}, opts.title));
  for (let v = yMin; v <= yMax + step / 2; v += step) {
    svg.append(el("line", { x1: m.l, x2: m.l + w, y1: Y(v), y2: Y(v), class: "grid" }));
    svg.append(el("text", { x: m.l - 4, y: Y(v) + 3, class: "ylab" }, yFmt(v)));
  }
  const tStep = TIME_STEPS.find((s) => (x1 - x0) / s <= 8) ?? 86400;
  for (let t = Math.ceil(x0 / tStep) * tStep; t <= x1; t += tStep) {
    svg.append(el("line", { x1: X(t), x2: X(t), y1: m.t, y2: m.t + h, class: "grid" }));
    svg.append(el("text", { x: X(t), y: height - 4, class: "xlab" }, hhmm(t)));
  }
  for (const b of opts.band ?? []) {
    const r = el("rect", { x: X(b.t0), y: m.t + h + 2, width: Math.max(1, X(b.t1) - X(b.t0)), height: bandH - 2, fill: b.colour });
    r.append(el("title", {}, b.label));
    svg.append(r);
  }
  for (const l of opts.hlines ?? []) {
    svg.append(el("line", { x1: m.l, x2: m.l + w, y1: Y(l.v), y2: Y(l.v), stroke: l.colour ?? "#555", class: "hline" }));
    svg.append(el("text", { x: m.l + w - 2, y: Y(l.v) - 3, class: "hlab" }, l.label));
  }
  for (const s of opts.series) {
    let d = "";
    let pen = false;
    const pts = s.points;
    const has = (i) => i >= 0 && i < pts.length && pts[i][1] !== null && pts[i][1] !== undefined;
    for (const [i, [t, v]] of pts.entries()) {
      if (!has(i)) { pen = false; continue; }
      d += `${pen ? "L" : "M"}${X(t).toFixed(1)},${Y(Math.min(v, yMax)).toFixed(1)}`;
      pen = true;
      // A point with no neighbour draws no line: a dot shows it (the first minute of a run,
      // a gap between losses), and the live "now" point is always marked.
      if ((!has(i - 1) && !has(i + 1)) || pts[i][2] === "now") {
        const dot = el("circle", { cx: X(t), cy: Y(Math.min(v, yMax)), r: 3, fill: s.colour, class: pts[i][2] === "now" ? "point now" : "point" });
        dot.append(el("title", {}, `${s.name}: ${yFmt(v)}${pts[i][2] === "now" ? " (now)" : ""}`));
        svg.append(dot);
      }
    }
    svg.append(el("path", { d, stroke: s.colour, class: "series", "data-series": s.name }));
  }
  for (const mk of opts.markers ?? []) {
    if (mk.t < x0 || mk.t > x1) continue;
    const line = el("line", { x1: X(mk.t), x2: X(mk.t), y1: m.t, y2: m.t + h, stroke: mk.colour, class: "marker" });
    line.append(el("title", {}, mk.label));
    svg.append(line);
    svg.append(el("path", { d: `M${X(mk.t) - 4},${m.t} h8 l-4,6 z`, fill: mk.colour, class: "marker-head" }));
  }
  hover(svg, opts, { X, m, w, h, yFmt });
  container.replaceChildren(svg);
  return svg;
}

// A vertical rule and a read-out of every series at the nearest time under the pointer.
function hover(svg, opts, { X, m, w, h, yFmt }) {
  const rule = el("line", { y1: m.t, y2: m.t + h, class: "rule", visibility: "hidden" });
  const tip = el("g", { visibility: "hidden", class: "tip" });
  const box = el("rect", { rx: 3 });
  tip.append(box);
  svg.append(rule, tip);
  const area = el("rect", { x: m.l, y: m.t, width: w, height: h, fill: "transparent" });
  svg.append(area);
  const times = [...new Set(opts.series.flatMap((s) => s.points.map((p) => p[0])))].sort((a, b) => a - b);
  area.addEventListener("mouseleave", () => { rule.setAttribute("visibility", "hidden"); tip.setAttribute("visibility", "hidden"); });
  area.addEventListener("mousemove", (ev) => {
    if (!times.length) return;
    const px = ev.offsetX;
    let t = times[0];
    for (const x of times) if (Math.abs(X(x) - px) < Math.abs(X(t) - px)) t = x;
    rule.setAttribute("x1", X(t));
    rule.setAttribute("x2", X(t));
    rule.setAttribute("visibility", "visible");
    for (const n of [...tip.querySelectorAll("text")]) n.remove();
    const lines = [hhmm(t, true)];
    for (const s of opts.series) {
      const p = s.points.find((q) => q[0] === t);
      if (p && p[1] !== null) lines.push([s, `${s.name}: ${yFmt(p[1])}`]);
    }
    const tx = X(t) + 8 > m.l + w - 130 ? X(t) - 138 : X(t) + 8;
    lines.forEach((line, i) => {
      const text = el("text", { x: tx + 6, y: m.t + 14 + i * 13 }, typeof line === "string" ? line : line[1]);
      if (typeof line !== "string") text.setAttribute("fill", line[0].colour);
      tip.append(text);
    });
    box.setAttribute("x", tx);
    box.setAttribute("y", m.t + 2);
    box.setAttribute("width", 130);
    box.setAttribute("height", lines.length * 13 + 6);
    tip.setAttribute("visibility", "visible");
  });
}

export function legend(items) {
  return `<div class="legend">${items.map(([name, colour]) => `<span><i style="background:${colour}"></i>${esc(name)}</span>`).join("")}</div>`;
}

// Green (good) → yellow → red (bad) for a value between lo and hi.
export function heat(v, lo, hi) {
  if (v === null || v === undefined) return "#ddd";
  const x = Math.max(0, Math.min(1, (v - lo) / Math.max(1e-9, hi - lo)));
  return `hsl(${Math.round(120 - 120 * x)}, 70%, ${Math.round(82 - 12 * x)}%)`;
}

// One series per provider. The contract's provider aggregate has a null prefix; a
// source that answers with every prefix's rows instead is folded here, per minute:
// the median RTT over the prefixes, the mean loss.
export function byProvider(rows, key) {
  const own = rows.filter((r) => r.prefix === null || r.prefix === undefined);
  const use = own.length ? own : rows;
  const out = new Map();
  for (const r of use) {
    if (!out.has(r.provider)) out.set(r.provider, new Map());
    const at = out.get(r.provider);
    if (!at.has(r.time)) at.set(r.time, []);
    if (r[key] !== null && r[key] !== undefined) at.get(r.time).push(r[key]);
  }
  const fold = (vs) => {
    if (!vs.length) return null;
    if (key === "loss") return vs.reduce((a, b) => a + b, 0) / vs.length;
    const s = [...vs].sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
  };
  return [...out.entries()].map(([name, at]) => ({
    name, colour: providerColour(name), points: [...at.entries()].sort((a, b) => a[0] - b[0]).map(([t, vs]) => [t, fold(vs)]),
  }));
}

// The live values of each provider (from /providers or a prefix's measurements, kept by
// the page every few seconds: ``trail`` maps a name to [[t, v], ...], oldest first) appended
// after its last stored minute, the newest marked "now": the charts show the present, and
// draw a line before the first minute is even stored.
export function withLive(series, trail) {
  const out = series.map((s) => {
    const live = trail.get(s.name) ?? [];
    // After the last stored bucket's start: the bucket of the minute in progress is partial,
    // and the values seen since are the newer ones.
    const last = s.points.length ? s.points.at(-1)[0] : -Infinity;
    const extra = live.filter(([t, v]) => t > last && v !== null && v !== undefined);
    if (!extra.length) return s;
    return { ...s, points: [...s.points, ...extra.map(([t, v], i) => (i === extra.length - 1 ? [t, v, "now"] : [t, v]))] };
  });
  for (const [name, live] of trail) {
    if (series.some((s) => s.name === name)) continue;
    const pts = live.filter(([, v]) => v !== null && v !== undefined);
    if (pts.length) out.push({ name, colour: providerColour(name), points: pts.map(([t, v], i) => (i === pts.length - 1 ? [t, v, "now"] : [t, v])) });
  }
  return out;
}

// Keeps the live values the page saw: ``trail.add(now, {name: value})`` once per poll.
export class Trail extends Map {
  add(now, values, keep = 720) {
    for (const [name, v] of Object.entries(values)) {
      if (!this.has(name)) this.set(name, []);
      const pts = this.get(name);
      if (pts.length && pts.at(-1)[0] >= now) continue;
      pts.push([now, v ?? null]);
      if (pts.length > keep) pts.shift();
    }
    return this;
  }
}

// Where a chart's time axis starts: the period's start, or later when the data starts later
// (a controller up for two minutes fills its charts instead of a sliver at the right edge).
export function axisStart(since, now, series, started) {
  let first = Infinity;
  for (const s of series) for (const [t, v] of s.points) if (v !== null && v !== undefined && t < first) first = t;
  const from = Math.min(first, started ?? Infinity);
  if (!Number.isFinite(from) || from <= since) return since;
  // At least three minutes shown, so that a few points are not stretched over the width.
  return Math.max(since, Math.min(Math.floor(from / 60) * 60, now - 180));
}
