// The moves table, shown by the overview's feed and by each prefix's page.

import { ago, bps, esc, providerColour, reasonBadge } from "./api.js";
import { state } from "./state.js";

function moveCell(d) {
  const from = d.from_provider ?? "–";
  const to = d.to_provider ?? "–";
  return `<span style="color:${providerColour(from)}">${esc(from)}</span> → <b style="color:${providerColour(to)}">${esc(to)}</b>`;
}

export function decisionsTable(rows, { highlight = new Set(), linkPrefix = true } = {}) {
  if (!rows.length) return `<p class="muted">no moves in this period</p>`;
  const body = rows.map((d) => {
    const key = `${d.time}|${d.prefix}|${d.to_provider}`;
    return `<tr class="${highlight.has(key) ? "new" : ""}">
      <td title="${new Date(d.time * 1000).toISOString()}">${new Date(d.time * 1000).toISOString().slice(11, 19)} <span class="muted">${ago(d.time, state.now)}</span></td>
      <td>${linkPrefix ? `<a href="#/prefix/${esc(d.prefix)}">${esc(d.prefix)}</a>` : esc(d.prefix)}</td>
      <td>${moveCell(d)}</td><td>${esc(d.default_provider ?? "–")}</td>
      <td>${reasonBadge(d.reason)}${d.dry_run ? ' <span class="chip warn">dry-run</span>' : ""}</td>
      <td class="num">${bps(d.traffic_bps)}</td>
      <td class="why">${esc(d.summary ?? "")}</td></tr>`;
  }).join("");
  return `<table class="grid-table feed"><thead><tr><th>time (UTC)</th><th>prefix</th><th>move</th><th>BGP default</th>
    <th>reason</th><th>traffic</th><th>why</th></tr></thead><tbody>${body}</tbody></table>`;
}
