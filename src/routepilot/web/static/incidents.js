// The incidents page (#/incidents): where the trouble is, as GET /incidents says it —
// the cause (an AS, a provider, or one prefix), when it opened and closed, the prefixes
// it affects, and the evidence: each degraded path with its loss, RTT, AS path and the
// traceroute hops mapped to their ASNs.

import { ago, esc, get, providerColour } from "./api.js";
import { state } from "./state.js";

const PAGE = `
<section class="card full"><h2><a href="#/">overview</a> / incidents <small id="i-count"></small></h2>
  <div id="i-list"></div></section>`;

function cause(c) {
  if (c.kind === "as") return `<b>AS${c.asn}</b> <span class="chip">AS</span>`;
  if (c.kind === "provider") return `<b style="color:${providerColour(c.provider)}">${esc(c.provider)}</b> <span class="chip">provider</span>`;
  return `<a href="#/prefix/${esc(c.prefix)}">${esc(c.prefix)}</a> <span class="chip">prefix</span>`;
}

const when = (t) => (t === null || t === undefined ? "–" : `${new Date(t * 1000).toISOString().slice(0, 19).replace("T", " ")} <span class="muted">${ago(t, state.now)}</span>`);
const pct = (v) => (v === null || v === undefined ? "–" : `${(v * 100).toFixed(1)} %`);
const ms = (v) => (v === null || v === undefined ? "–" : `${v.toFixed(1)} ms`);

function hops(list) {
  if (!list.length) return `<span class="muted">no traceroute yet</span>`;
  return list.map((h) => `<span class="hop" title="ttl ${h.ttl}, ${ms(h.rtt_ms)}">${esc(h.address ?? "*")}${h.asn ? ` <small>AS${h.asn}</small>` : ""}</span>`).join(" → ");
}

function evidence(rows) {
  if (!rows.length) return "";
  const body = rows.map((e) => `<tr><td><a href="#/prefix/${esc(e.prefix)}">${esc(e.prefix)}</a></td>
    <td style="color:${providerColour(e.provider)}">${esc(e.provider)}</td><td class="num">${pct(e.loss)}</td>
    <td class="num">${ms(e.rtt_ms)}</td><td>${e.as_path.map((a) => `AS${a}`).join(" ")}</td><td>${hops(e.hops)}</td></tr>`).join("");
  return `<table class="grid-table evidence"><thead><tr><th>prefix</th><th>provider</th><th>loss</th><th>RTT</th>
    <th>AS path</th><th>traceroute</th></tr></thead><tbody>${body}</tbody></table>`;
}

function incident(i) {
  const open = i.closed === null;
  return `<article class="incident ${open ? "open" : "closed"}" data-id="${i.id}" data-kind="${esc(i.cause.kind)}">
    <h3>#${i.id} ${cause(i.cause)} ${open ? '<span class="chip warn">open</span>' : '<span class="chip">closed</span>'}</h3>
    <p>opened ${when(i.opened)} · ${open ? `last seen ${when(i.updated)}` : `closed ${when(i.closed)}`} ·
      ${i.prefixes.length} prefix${i.prefixes.length === 1 ? "" : "es"}:
      ${i.prefixes.slice(0, 20).map((x) => `<a href="#/prefix/${esc(x)}">${esc(x)}</a>`).join(", ")}${i.prefixes.length > 20 ? " …" : ""}</p>
    ${evidence(i.evidence)}</article>`;
}

export async function renderIncidents(full) {
  if (full) document.getElementById("view").innerHTML = PAGE;
  const rows = await get("/incidents", { limit: 100 });
  const open = rows.filter((i) => i.closed === null).length;
  document.getElementById("i-count").textContent = `${open} open, ${rows.length - open} closed`;
  document.getElementById("i-list").innerHTML = rows.length
    ? rows.map(incident).join("")
    : `<p class="muted">no incidents: every degraded path has its own explanation, or none is degraded</p>`;
}
