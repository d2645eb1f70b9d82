// The billing page (#/billing): per provider and billing group, where it stands in its
// billing period, and the period's 5-minute samples with the billed 95th percentile and
// the commit drawn across them. Numbers come from GET /billing?series=true as is; the
// percentile line is recomputed here from the samples by the same rank rule, so the
// page shows a line that matches the points it is drawn over.

import { bps, esc, get, providerColour } from "./api.js";
import { lineChart } from "./charts.js";

const PAGE = `
<section class="card full"><h2><a href="#/">overview</a> / billing <small id="b-source"></small></h2>
  <div id="b-table" class="scroll"></div></section>
<section class="card full"><h2>5-minute samples <small>— 95th percentile, — commit</small></h2>
  <div id="b-charts"></div></section>`;

// The billed sample: sort ascending, take rank ceil(p/100 * n) (1-based).
export function percentileOf(values, p = 95) {
  const v = values.filter((x) => x !== null && x !== undefined).sort((a, b) => a - b);
  if (!v.length) return null;
  const k = Math.max(1, Math.ceil(Math.round((p / 100) * v.length * 1e9) / 1e9));
  return v[k - 1];
}

const money = (v) => (v === null || v === undefined ? "–" : v.toFixed(2));

function table(entries) {
  const rows = entries.map((e) => `<tr>
    <td><i class="dot" style="background:${providerColour(e.name)}"></i>${esc(e.name)}${e.kind === "group" ? ' <span class="chip">group</span>' : ""}</td>
    <td>${esc(e.mode)}</td><td class="num">${e.samples} / ${e.slots}</td>
    <td class="num ${e.commit_bps && e.current_bps > e.commit_bps ? "over" : ""}">${bps(e.current_bps)}</td>
    <td class="num">${bps(e.projected_bps)}</td><td class="num">${bps(e.projected_without_bps)}</td>
    <td class="num">${e.commit_bps ? bps(e.commit_bps) : "–"}</td><td class="num">${bps(e.level_bps)}</td>
    <td class="num">${e.burst_left} / ${e.burst_free}</td>
    <td class="num">${money(e.cost)}</td><td class="num">${money(e.cost_projected)}</td>
    <td class="num">${money(e.saving_projected)}</td></tr>`).join("");
  return `<table class="grid-table"><thead><tr><th>provider</th><th>mode</th><th>samples</th><th>95th now</th>
    <th>95th projected</th><th>without routepilot</th><th>commit</th><th>relieve above</th><th>bursts left</th>
    <th>cost now</th><th>cost projected</th><th>saving projected</th></tr></thead><tbody>${rows}</tbody></table>`;
}

export async function renderBilling(full) {
  if (full) document.getElementById("view").innerHTML = PAGE;
  const body = await get("/billing", { series: true });
  const entries = [...body.providers, ...body.groups];
  document.getElementById("b-source").textContent =
    `from ${body.source === "snmp" ? "interface counters (SNMP)" : "flows (no SNMP configured)"}, ${body.sample_s} s samples, ${body.percentile}th percentile`;
  document.getElementById("b-table").innerHTML = table(entries);
  const box = document.getElementById("b-charts");
  box.replaceChildren();
  for (const e of entries) {
    const series = e.series ?? [];
    const points = series.map((s, i) => [s.start ?? body.time - (series.length - i) * body.sample_s, s.billable_bps]);
    const div = document.createElement("div");
    div.className = "small-multiple billing-chart";
    div.dataset.name = e.name;
    div.innerHTML = `<span class="sm-title" style="color:${providerColour(e.name)}">${esc(e.name)}</span><div></div>`;
    box.append(div);
    const p95 = percentileOf(series.map((s) => s.billable_bps), body.percentile);
    const hlines = [];
    if (p95 !== null) hlines.push({ v: p95, label: `95th ${bps(p95)}`, colour: "#1a7f37" });
    if (e.commit_bps) hlines.push({ v: e.commit_bps, label: `commit ${bps(e.commit_bps)}`, colour: "#e80" });
    const x0 = points.length ? points[0][0] : body.time - 3600;
    lineChart(div.lastChild, {
      x0, x1: Math.max(body.time, x0 + body.sample_s), height: 140, yFmt: bps, hlines,
      series: [{ name: e.name, colour: providerColour(e.name), points }],
    });
  }
}
