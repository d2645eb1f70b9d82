// The prefix page: where this prefix leaves and why, every provider's RTT and
// loss over the period, and the moves on the same time axis (markers above, a
// band below showing which provider carried the traffic).

import { bps, can, esc, get, lossFmt, ms, msAxis, pct, providerColour, reasonBadge, send } from "./api.js";
import { Trail, axisStart, byProvider, legend, lineChart, withLive } from "./charts.js";
import { decisionsTable } from "./moves.js";
import { renderCheck } from "./ondemand.js";
import { state, stepFor } from "./state.js";

const PAGE = `
<section class="card full"><div id="prefix-head"></div><div id="prefix-actions"></div></section>
<section class="card full" id="p-check" hidden></section>
<section class="card half"><h2>RTT per provider <small>▼ moves, band: exit</small></h2><div id="p-rtt" class="chart-box"></div></section>
<section class="card half"><h2>Loss per provider <small>▼ moves, band: exit</small></h2><div id="p-loss" class="chart-box"></div></section>
<section class="card wide"><h2>Measurements now</h2><div id="p-meas" class="scroll"></div></section>
<section class="card"><h2>Why it is where it is</h2><div id="p-why"></div></section>
<section class="card full"><h2>Moves of this prefix</h2><div id="p-moves" class="scroll"></div></section>
<section class="card full"><h2>Looking glass <small>every router's path, BGP's pick (★), routepilot's route</small></h2><div id="p-routes" class="scroll"></div></section>
<section class="card full"><h2>Traceroutes <small>the newest through each provider, hops with their AS</small></h2><div id="p-traces" class="scroll"></div></section>`;

// Which provider carried the prefix when, from the journal (oldest first).
export function exitBand(moves, x0, x1, current) {
  const asc = [...moves].sort((a, b) => a.time - b.time);
  const band = [];
  let who = asc.length ? asc[0].from_provider ?? asc[0].default_provider : current;
  let t = x0;
  for (const d of asc) {
    if (d.time < x0) { who = d.to_provider ?? d.default_provider; continue; }
    band.push({ t0: t, t1: d.time, who });
    t = d.time;
    who = d.to_provider ?? d.default_provider;
  }
  band.push({ t0: t, t1: x1, who });
  return band.filter((b) => b.t1 > b.t0 && b.who).map((b) => ({ ...b, colour: providerColour(b.who), label: `exit: ${b.who}` }));
}

function head(p) {
  const flags = [p.pinned ? `<span class="chip warn">pinned to ${esc(p.pinned)}</span>` : "", p.excluded ? '<span class="chip warn">excluded</span>' : ""].join("");
  return `<h2><a href="#/">overview</a> / ${esc(p.prefix)} ${flags}</h2>
    <dl class="facts"><dt>exit</dt><dd><b style="color:${providerColour(p.exit)}">${esc(p.exit ?? "–")}</b></dd>
    <dt>BGP default</dt><dd>${esc(p.default ?? "–")}</dd><dt>reason</dt><dd>${reasonBadge(p.reason)}</dd>
    <dt>since</dt><dd>${p.since ? new Date(p.since * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC" : "–"}</dd>
    <dt>traffic</dt><dd>${bps(p.traffic_bps)}</dd></dl>`;
}

// Pin, unpin, exclude, include: drawn for operators and admins only.
function actions(p) {
  if (!can("operator")) return "";
  const routed = p.measurements.filter((m) => m.has_route).map((m) => m.provider);
  const pin = p.pinned
    ? `<button id="unpin">unpin from ${esc(p.pinned)}</button>`
    : `<label>pin to <select id="pin-to">${routed.map((n) => `<option>${esc(n)}</option>`).join("")}</select></label> <button id="pin">pin</button>`;
  const ex = p.excluded ? `<button id="include">give back to routepilot</button>` : `<button id="exclude">leave to BGP</button>`;
  return `<div class="actions">${pin} ${ex} <span id="action-error" class="error" role="alert"></span></div>`;
}

function bindActions(p) {
  const path = `/prefixes/${p.prefix}`;
  const run = (method, suffix, body) => async () => {
    try {
      await send(method, path + suffix, body);
      await renderPrefix(p.prefix, false);
    } catch (err) {
      const box = document.getElementById("action-error");
      if (box) box.textContent = err.message;
    }
  };
  const on = (id, fn) => { const b = document.getElementById(id); if (b) b.onclick = fn; };
  on("unpin", run("DELETE", "/pin"));
  on("pin", () => run("POST", "/pin", { provider: document.getElementById("pin-to").value })());
  on("include", run("DELETE", "/exclude"));
  on("exclude", run("POST", "/exclude"));
}

function measTable(p) {
  const rows = p.measurements.map((m) => `<tr class="${m.provider === p.exit ? "is-exit" : ""}">
    <td><i class="dot" style="background:${providerColour(m.provider)}"></i>${esc(m.provider)}
      ${m.provider === p.exit ? "●" : ""}${m.provider === p.default ? "◇" : ""}</td>
    <td>${m.has_route ? "yes" : '<span class="chip bad">no</span>'}</td><td class="num">${m.as_path_len ?? "–"}</td>
    <td class="num">${ms(m.rtt_ms)}</td><td class="num">${ms(m.rtt_p90_ms)}</td><td class="num">${ms(m.jitter_ms)}</td>
    <td class="num">${pct(m.loss, 2)} <span class="muted">[${pct(m.loss_low, 1)}, ${pct(m.loss_high, 1)}]</span></td>
    <td class="num">${m.samples ?? "–"}</td><td class="num ${m.consecutive_losses ? "over" : ""}">${m.consecutive_losses ?? "–"}</td></tr>`).join("");
  return `<table class="grid-table"><thead><tr><th>provider</th><th>route</th><th>AS path</th><th>RTT</th><th>p90</th>
    <th>jitter</th><th>loss [95% interval]</th><th>samples</th><th title="consecutive losses">lost in a row</th></tr></thead><tbody>${rows}</tbody></table>`;
}

// GET /routes/{prefix}: what the routers sent for the covering prefix, as `birdc show
// route all` would list it, and what routepilot announces (or would, in dry-run).
function routesTable(r) {
  if (!r) return `<p class="muted">No learned route covers this prefix.</p>`;
  const origin = ["IGP", "EGP", "incomplete"];
  const rows = r.paths.map((x) => `<tr class="${x.best ? "is-exit" : ""}">
    <td>${esc(x.router)}</td><td class="num">${x.path_id}</td>
    <td>${x.provider ? `<i class="dot" style="background:${providerColour(x.provider)}"></i>${esc(x.provider)}` : x.own ? "routepilot" : "–"}</td>
    <td>${esc(x.next_hop)}</td><td>${esc(x.as_path.join(" ")) || "–"}</td><td>${origin[x.origin] ?? x.origin}</td>
    <td class="num">${x.local_pref ?? "–"}</td><td class="num">${x.med ?? "–"}</td>
    <td>${esc(x.communities.join(" ")) || "–"}</td><td>${x.best ? "★" : ""}</td></tr>`).join("");
  const inj = r.injected
    ? `routepilot ${r.dry_run ? "would announce" : "announces"} ${esc(r.prefix)} via ${esc(r.injected.provider ?? "?")} (next hop ${esc(r.injected.next_hop)}, local-pref ${r.injected.local_pref}, communities ${esc(r.injected.communities.join(" ")) || "none"})`
    : "routepilot announces nothing for it: BGP decides";
  return `<p class="lg-head">${esc(r.prefix)}${r.prefix !== r.query ? ` covers ${esc(r.query)}` : ""}; BGP picks <b>${esc(r.bgp_choice ?? "none")}</b>. <span id="p-injected">${inj}</span>.</p>
    <table class="grid-table"><thead><tr><th>router</th><th>path id</th><th>provider</th><th>next hop</th><th>AS path</th>
    <th>origin</th><th>local-pref</th><th>MED</th><th>communities</th><th>best</th></tr></thead><tbody>${rows}</tbody></table>`;
}

// GET /traces?prefix=: the newest kept trace through each provider.
function tracesTable(traces) {
  const newest = new Map();
  for (const t of traces) if (!newest.has(t.provider)) newest.set(t.provider, t);
  if (!newest.size) return `<p class="muted">No traceroute kept: diagnose/ traces degraded and the busiest prefixes.</p>`;
  return [...newest.values()].map((t) => {
    const hops = t.hops.map((h) => `<tr><td class="num">${h.ttl}</td><td>${esc(h.address ?? "*")}</td>
      <td>${h.asn != null ? `AS${h.asn}` : "–"}</td><td class="num">${ms(h.rtt_ms)}</td><td class="num">${pct(h.loss, 0)}</td></tr>`).join("");
    const when = new Date(t.time * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC";
    return `<h3><i class="dot" style="background:${providerColour(t.provider)}"></i>${esc(t.provider)}
      <small>${esc(t.target)}, ${when}, ${t.reached ? "reached" : "not reached"}; ASes ${esc(t.asns.map((a) => `AS${a}`).join(" → ")) || "–"}</small></h3>
      <table class="grid-table trace"><thead><tr><th>ttl</th><th>address</th><th>AS</th><th>RTT</th><th>loss</th></tr></thead><tbody>${hops}</tbody></table>`;
  }).join("");
}

function why(e) {
  if (!e) return `<p class="muted">No move recorded: BGP's default carries it.</p>`;
  return `<p class="sentence" id="p-sentence">${esc(e.summary ?? "")}</p>
    <details><summary>the numbers behind it</summary>${numbers(e)}</details>`;
}

function numbers(e) {
  const show = (k, v) => (k === "time" || k.endsWith("_time")) && typeof v === "number"
    ? new Date(v * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC"
    : typeof v === "object" && v !== null ? JSON.stringify(v) : v;
  const rows = Object.entries(e).filter(([k]) => k !== "summary").map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(show(k, v))}</td></tr>`).join("");
  return `<table class="grid-table kv">${rows}</table>`;
}

function policyLine(c) {
  if (!c) return "";
  const parts = [c.text, c.allowlist ? `allowlist entry ${c.allowlist}` : "", c.note].filter(Boolean);
  return `<p class="policy"><strong>Policy:</strong> ${esc(parts.join("; "))}</p>`;
}

function confirmingLine(p) {
  if (!p.confirming) return "";
  return `<p class="confirming"><strong>Confirming:</strong> a target's RTT spread was wide, so its paths are being re-measured with longer trains; no loss, jitter or latency move until they are back.</p>`;
}

// The live values seen on this prefix's page since it opened (see charts.js withLive).
const trails = { prefix: null, rtt_ms: new Trail(), loss: new Trail() };

export async function renderPrefix(prefix, full) {
  if (full) document.getElementById("view").innerHTML = PAGE;
  const since = state.now - state.period;
  const q = { since, until: state.now, prefix, step: stepFor(state.period) };
  const [p, meas, moves, routes, traces] = await Promise.all([
    get(`/prefixes/${prefix}`), get("/measurements", q), get("/decisions", { prefix, since, limit: 500 }),
    get(`/routes/${prefix}`).catch((e) => (e.status === 404 ? null : Promise.reject(e))),
    get("/traces", { prefix }),
  ]);
  document.getElementById("prefix-head").innerHTML = head(p);
  // Redrawn only when what it offers changes, so a choice being made is not reset.
  const box = document.getElementById("prefix-actions");
  const html = actions(p);
  if (box.dataset.html !== html) {
    box.innerHTML = html;
    box.dataset.html = html;
    bindActions(p);
  }
  renderCheck(p);
  document.getElementById("p-meas").innerHTML = measTable(p);
  document.getElementById("p-why").innerHTML = policyLine(p.policy) + confirmingLine(p) + why(p.explanation);
  document.getElementById("p-moves").innerHTML = decisionsTable(moves, { linkPrefix: false });
  document.getElementById("p-routes").innerHTML = routesTable(routes);
  document.getElementById("p-traces").innerHTML = tracesTable(traces);
  if (full || trails.prefix !== prefix) Object.assign(trails, { prefix, rtt_ms: new Trail(), loss: new Trail() });
  for (const key of ["rtt_ms", "loss"]) {
    trails[key].add(state.now, Object.fromEntries(p.measurements.filter((m) => m.has_route).map((m) => [m.provider, m[key]])));
  }
  const rtt = withLive(byProvider(meas, "rtt_ms"), trails.rtt_ms);
  const loss = withLive(byProvider(meas, "loss"), trails.loss);
  const x = { x0: axisStart(since, state.now, rtt, state.status?.started), x1: state.now };
  const markers = moves.map((d) => ({ t: d.time, colour: providerColour(d.to_provider), label: `${d.reason}: ${d.from_provider} → ${d.to_provider}` }));
  const band = exitBand(moves, x.x0, state.now, p.exit);
  const names = rtt.map((r) => r.name);
  const key = legend(names.map((n) => [n, providerColour(n)]));
  lineChart(document.getElementById("p-rtt"), { ...x, series: rtt, markers, band, height: 220, yFmt: msAxis });
  document.getElementById("p-rtt").insertAdjacentHTML("beforeend", key);
  lineChart(document.getElementById("p-loss"), { ...x, series: loss, markers, band, height: 220, yMax: 0.01, yFmt: lossFmt });
  document.getElementById("p-loss").insertAdjacentHTML("beforeend", key);
}
