// The dashboard: a hash router (#/ overview, #/prefix/<prefix>, #/audit, #/users,
// #/login), polling the REST API every few seconds. Times on every axis come from the
// controller's clock (status.now), not the browser's, so a skewed laptop shows the truth.
// Actions are drawn only for a role that may take them (GET /session says which).

import { ApiError, bps, can, esc, get, lossFmt, ms, msAxis, pct, providerColour, reasonBadge, send, session, setToken } from "./api.js";
import { Trail, axisStart, byProvider, heat, legend, lineChart, withLive } from "./charts.js";
import { checklist } from "./checklist.js";
import { decisionsTable } from "./moves.js";
import { renderBilling } from "./billing.js";
import { renderIncidents } from "./incidents.js";
import { renderAudit, renderLogin, renderUsers } from "./people.js";
import { renderPrefix } from "./prefix.js";
import { state, stepFor } from "./state.js";

// The series folding is part of what the dashboard offers (its browser test checks
// the arithmetic through this module); it lives with the charts it feeds.
export { byProvider };

const FAST_S = 5;   // status, providers, the moves feed
const SLOW_S = 30;  // time series
const HEAT_S = 15;  // the heat map (one request per prefix)

let timer = null;

function showError(err) {
  const box = document.getElementById("alert");
  if (!err) { box.hidden = true; return; }
  box.hidden = false;
  if (err instanceof ApiError && err.status === 401) {
    box.innerHTML = `The API wants a read token or a login (${esc(err.message)}). <a href="#/login">log in</a> or
      <input id="token" type="password" placeholder="token" aria-label="API token"> <button id="token-save">use</button>`;
    document.getElementById("token-save").onclick = () => { setToken(document.getElementById("token").value); start(); };
  } else if (err instanceof ApiError && err.status === 403) {
    box.textContent = `refused: ${err.message}`;
  } else if (err instanceof ApiError) {
    box.textContent = `API error ${err.status}: ${err.message}`;
  } else {
    box.textContent = `controller unreachable: ${err.message}`;
  }
}

async function loadStatus() {
  const st = await get("/status");
  state.now = st.now;
  state.status = st;
  const sessions = Object.entries(st.sessions ?? {}).map(([r, s]) => `<span class="chip ${s === "established" ? "ok" : "bad"}">${esc(r)}: ${esc(s)}</span>`).join("");
  const flags = [st.paused ? `<span class="chip warn">paused</span>` : "", st.dry_run ? `<span class="chip warn">dry-run</span>` : "",
    ...(st.degraded ?? []).map((d) => `<span class="chip bad">${esc(d)}</span>`)].join("");
  document.getElementById("status").innerHTML = `${sessions}${flags}
    <span>${st.counts.prefixes} prefixes · ${st.counts.active_improvements} improved · ${st.counts.moves_last_hour} moves/h · cycle ${st.cycle?.duration_ms != null ? st.cycle.duration_ms.toFixed(0) : "–"} ms</span>`;
  document.getElementById("updated").textContent = `updated ${new Date(st.now * 1000).toISOString().slice(11, 19)} UTC`;
  renderControls(st);
}

// Pause/resume and the dry-run switch, for operators and admins only.
function renderControls(st) {
  const box = document.getElementById("controls");
  if (!can("operator")) { box.replaceChildren(); return; }
  const want = `${st.paused}|${st.dry_run}`;
  if (box.dataset.drawn === want) return;
  box.dataset.drawn = want;
  box.innerHTML = `${st.paused ? '<button id="resume">resume</button>' : '<button id="pause" title="stop making changes; announced routes stay">pause</button>'}
    <button id="dry-run-toggle" title="${st.dry_run ? "announce routes again" : "withdraw every injected route; only record decisions"}">${st.dry_run ? "go live" : "dry-run"}</button>`;
  const act = (method, path, body, question) => async () => {
    if (question && !confirm(question)) return;
    try { await send(method, path, body); } catch (err) { showError(err); }
    box.dataset.drawn = "";
    await loadStatus().catch(showError);
  };
  const p = document.getElementById("pause") ?? document.getElementById("resume");
  p.onclick = st.paused ? act("POST", "/control/resume") : act("POST", "/control/pause");
  document.getElementById("dry-run-toggle").onclick = st.dry_run
    ? act("PUT", "/control/dry-run", { enabled: false }, "Go live: announce the chosen routes to the routers?")
    : act("PUT", "/control/dry-run", { enabled: true }, "Switch to dry-run: every injected route is withdrawn. Continue?");
}

function renderMe() {
  const me = session.me;
  const box = document.getElementById("me");
  const links = [`<a href="#/">overview</a>`, `<a class="nav" href="#/billing">billing</a>`,
    `<a href="#/incidents">incidents</a>`];
  if (can("operator")) links.push(`<a href="#/audit">audit</a>`);
  if (can("admin")) links.push(`<a href="#/users">users</a>`);
  document.getElementById("nav").innerHTML = links.join("");
  if (me && me.name) {
    box.innerHTML = `<span title="${esc(me.via)}">${esc(me.name)} · ${esc(me.role)}</span> <button id="logout">log out</button>`;
    document.getElementById("logout").onclick = async () => {
      if (me.via === "session") await send("DELETE", "/session").catch(() => {});
      setToken(null);
      session.me = null;
      location.hash = "#/login";
    };
  } else {
    box.innerHTML = `<span class="muted">${me ? "anonymous · viewer" : ""}</span> <a href="#/login">log in</a>`;
  }
}

async function loadMe() {
  try {
    session.me = await get("/session");
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 401) throw err;
    session.me = null;
  }
  renderMe();
}

// -- overview -------------------------------------------------------------------

const OVERVIEW = `
<section class="card full" id="checklist-card"><h2>First-run checklist</h2><div id="checklist"></div></section>
<section class="card full"><h2>Providers</h2><div id="providers" class="scroll-x"></div></section>
<section class="card"><h2>RTT per provider <small>median over probed prefixes</small></h2><div id="rtt-chart" class="chart-box"></div></section>
<section class="card"><h2>Loss per provider</h2><div id="loss-chart" class="chart-box"></div></section>
<section class="card"><h2>Utilization <small>against capacity and commit</small></h2><div id="util-chart"></div></section>
<section class="card"><h2>With routepilot vs BGP default <small id="benefit-period"></small></h2><div id="benefit"></div></section>
<section class="card wide"><h2>Moves <small>live, newest first</small>
  <select id="reason-filter"><option value="">every reason</option></select></h2><div id="feed" class="scroll"></div></section>
<section class="card full"><h2>Heat map <small>top prefixes × providers; ● current exit, ◇ BGP default</small>
  <span class="toggle"><label><input type="radio" name="metric" value="rtt" checked> RTT</label>
  <label><input type="radio" name="metric" value="loss"> loss</label>
  <select id="top"><option>10</option><option selected>20</option><option>50</option></select></span></h2>
  <div id="heatmap" class="scroll"></div></section>`;

function renderProviders(rows) {
  const order = rows.map((p) => p.name);
  providerColour(null, order);
  const tr = rows.map((p) => {
    const u = p.utilization ?? 0;
    const commitAt = p.capacity_bps ? p.commit_bps / p.capacity_bps : 0;
    return `<tr>
      <td><i class="dot" style="background:${providerColour(p.name)}"></i>${esc(p.name)}${p.exchange ? ` <small>@ ${esc(p.exchange)}</small>` : ""}</td><td class="num">${p.asn ?? "–"}</td>
      <td>${p.session_up ? '<span class="chip ok">up</span>' : '<span class="chip bad">down</span>'}
          ${p.healthy ? "" : '<span class="chip bad">unhealthy</span>'}</td>
      <td class="num">${ms(p.rtt_ms)}</td><td class="num">${pct(p.loss, 2)}</td>
      <td class="num">${bps(p.rate_bps)}</td>
      <td><div class="bar" title="${pct(u)} of ${bps(p.capacity_bps)}"><b style="width:${Math.min(100, u * 100)}%" class="${u > 0.9 ? "hot" : ""}"></b>
          ${commitAt ? `<s style="left:${Math.min(100, commitAt * 100)}%" title="commit ${bps(p.commit_bps)}"></s>` : ""}</div></td>
      <td class="num">${pct(u)}</td><td class="num">${bps(p.capacity_bps)}</td>
      <td class="num">${p.commit_bps ? bps(p.commit_bps) : "–"}</td>
      <td class="num ${p.commit_bps && p.p95_bps > p.commit_bps ? "over" : ""}">${bps(p.p95_bps)}</td>
      <td class="num">${p.cost_per_mbps ?? "–"}</td><td class="num">${p.prefixes_routed ?? "–"}</td></tr>`;
  }).join("") + exchangeRows(rows);
  document.getElementById("providers").innerHTML = `<table class="grid-table"><thead><tr>
    <th>provider</th><th>ASN</th><th>session</th><th>RTT</th><th>loss</th><th>rate</th><th>utilization</th><th></th>
    <th>capacity</th><th>commit</th><th>95th pct</th><th>cost/Mbps</th><th>prefixes</th></tr></thead><tbody>${tr}</tbody></table>`;
}

// One row per exchange LAN under its peers: peers up and healthy, their traffic and
// capacity added up (as /api/v1/exchanges does).
export function exchangeRows(rows) {
  const groups = {};
  for (const p of rows) if (p.exchange) (groups[p.exchange] ??= []).push(p);
  return Object.keys(groups).sort().map((name) => {
    const peers = groups[name];
    const sum = (key) => peers.reduce((s, p) => s + (p[key] ?? 0), 0);
    const up = peers.filter((p) => p.session_up).length, healthy = peers.filter((p) => p.healthy).length;
    const cap = sum("capacity_bps"), u = cap ? sum("rate_bps") / cap : 0;
    return `<tr class="exchange"><td>exchange ${esc(name)}</td><td></td>
      <td><span class="chip ${up === peers.length ? "ok" : "bad"}">${up}/${peers.length} up</span>
          ${healthy < peers.length ? `<span class="chip bad">${peers.length - healthy} unhealthy</span>` : ""}</td>
      <td></td><td></td><td class="num">${bps(sum("rate_bps"))}</td><td></td>
      <td class="num">${pct(u)}</td><td class="num">${bps(cap)}</td><td></td><td></td><td></td>
      <td class="num">${sum("prefixes_routed")}</td></tr>`;
  }).join("");
}

// Traffic-weighted means over the moves that took a prefix away from BGP's
// default: what that traffic had on the default path against what it got.
export function benefit(decisions) {
  const moves = decisions.filter((d) => !d.dry_run && d.to_provider && d.to_provider !== d.default_provider
    && d.from_provider === d.default_provider);
  const wmean = (key) => {
    let sw = 0, sv = 0;
    for (const d of moves) if (d.old_rtt_ms !== null && d.new_rtt_ms !== null && d[key] !== null) { sw += d.traffic_bps; sv += d.traffic_bps * d[key]; }
    return sw ? sv / sw : null;
  };
  const byReason = {};
  for (const d of decisions) if (!d.dry_run) byReason[d.reason] = (byReason[d.reason] ?? 0) + 1;
  return {
    moves: moves.length,
    prefixes: new Set(moves.map((d) => d.prefix)).size,
    traffic: moves.reduce((s, d) => s + d.traffic_bps, 0),
    rtt: [wmean("old_rtt_ms"), wmean("new_rtt_ms")],
    loss: [wmean("old_loss"), wmean("new_loss")],
    byReason,
    dryRun: decisions.filter((d) => d.dry_run).length,
  };
}

function renderBenefit(decisions) {
  const b = benefit(decisions);
  const delta = (a, z, f) => (a === null || z === null ? "–" : a === z ? "±0" : `<b class="${z <= a ? "good" : "bad"}">${z <= a ? "−" : "+"}${f(Math.abs(a - z))}</b>`);
  const max = Math.max(1, ...Object.values(b.byReason));
  const reasons = Object.entries(b.byReason).sort((x, y) => y[1] - x[1]).map(([r, n]) =>
    `<tr><td>${reasonBadge(r)}</td><td class="num">${n}</td><td class="wide-cell"><div class="hbar" style="width:${(100 * n) / max}%"></div></td></tr>`).join("");
  document.getElementById("benefit-period").textContent = `last ${document.getElementById("period").selectedOptions[0].text}`;
  document.getElementById("benefit").innerHTML = `
    <p>${b.moves} moves away from BGP's default, ${b.prefixes} prefixes, ${bps(b.traffic)} moved (traffic-weighted).</p>
    <table class="grid-table compare"><thead><tr><th></th><th>BGP default</th><th>routepilot</th><th>difference</th></tr></thead><tbody>
      <tr><th>RTT</th><td class="num">${ms(b.rtt[0])}</td><td class="num">${ms(b.rtt[1])}</td><td class="num">${delta(b.rtt[0], b.rtt[1], ms)}</td></tr>
      <tr><th>loss</th><td class="num">${pct(b.loss[0], 2)}</td><td class="num">${pct(b.loss[1], 2)}</td><td class="num">${delta(b.loss[0], b.loss[1], (v) => pct(v, 2))}</td></tr>
    </tbody></table>
    <table class="grid-table reasons"><tbody>${reasons}</tbody></table>
    ${b.dryRun ? `<p class="muted">${b.dryRun} dry-run recommendations not applied.</p>` : ""}
    <p class="muted">Full counterfactual from measurements: <code>routepilot report</code>.</p>`;
}

async function loadFeed() {
  const since = state.now - state.period;
  const reason = document.getElementById("reason-filter")?.value;
  const all = await get("/decisions", { since, limit: 1000 });
  renderBenefit(all);
  const sel = document.getElementById("reason-filter");
  for (const r of new Set(all.map((d) => d.reason))) {
    if (![...sel.options].some((o) => o.value === r)) sel.add(new Option(r, r));
  }
  const rows = (reason ? all.filter((d) => d.reason === reason) : all).slice(0, 100);
  const fresh = new Set();
  for (const d of rows) {
    const key = `${d.time}|${d.prefix}|${d.to_provider}`;
    if (state.seen.size && !state.seen.has(key)) fresh.add(key);
  }
  for (const d of rows) state.seen.add(`${d.time}|${d.prefix}|${d.to_provider}`);
  document.getElementById("feed").innerHTML = decisionsTable(rows, { highlight: fresh });
}


let series = null;  // the last /measurements and /utilization answers, redrawn every tick
// What /providers said at each poll since the page opened, per metric.
const trails = { rtt_ms: new Trail(), loss: new Trail(), rate_bps: new Trail() };

function keepLive() {
  for (const [key, trail] of Object.entries(trails)) {
    trail.add(state.now, Object.fromEntries(state.providers.map((p) => [p.name, p[key]])));
  }
}

async function loadSeries() {
  const q = { since: state.now - state.period, until: state.now, step: stepFor(state.period) };
  const [meas, util] = await Promise.all([get("/measurements", q), get("/utilization", q)]);
  series = { q, meas, util };
  drawSeries();
}

function drawSeries() {
  if (!series || !document.getElementById("rtt-chart")) return;
  const { q, meas, util } = series;
  const rtt = withLive(byProvider(meas, "rtt_ms"), trails.rtt_ms);
  const loss = withLive(byProvider(meas, "loss"), trails.loss);
  const rate = withLive(byProvider(util, "rate_bps"), trails.rate_bps);
  const x = { x0: axisStart(q.since, state.now, [...rtt, ...rate], state.status?.started), x1: state.now };
  const names = state.providers.map((p) => p.name);
  const key = legend(names.map((n) => [n, providerColour(n)]));
  lineChart(document.getElementById("rtt-chart"), { ...x, series: rtt, yFmt: msAxis });
  document.getElementById("rtt-chart").insertAdjacentHTML("beforeend", key);
  lineChart(document.getElementById("loss-chart"), { ...x, series: loss, yMax: 0.01, yFmt: lossFmt });
  document.getElementById("loss-chart").insertAdjacentHTML("beforeend", key);
  const box = document.getElementById("util-chart");
  box.replaceChildren();
  for (const s of rate) {
    const p = state.providers.find((r) => r.name === s.name);
    const last = util.filter((u) => u.provider === s.name).at(-1) ?? p;
    if (!last) continue;
    const div = document.createElement("div");
    div.className = "small-multiple";
    div.innerHTML = `<span class="sm-title" style="color:${s.colour}">${esc(s.name)}</span><div></div>`;
    box.append(div);
    const hlines = [{ v: last.capacity_bps, label: `capacity ${bps(last.capacity_bps)}`, colour: "#c00" }];
    if (last.commit_bps) hlines.push({ v: last.commit_bps, label: `commit ${bps(last.commit_bps)}`, colour: "#e80" });
    lineChart(div.lastChild, { ...x, series: [s], hlines, height: 90, yFmt: bps });
  }
}

async function loadHeat() {
  const top = Number(document.getElementById("top").value);
  const metric = document.querySelector("input[name=metric]:checked").value;
  const rows = await get("/prefixes", { top });
  const details = await Promise.all(rows.map((r) => get(`/prefixes/${r.prefix}`)));
  const names = state.providers.map((p) => p.name);
  const body = details.map((d) => {
    const byName = Object.fromEntries(d.measurements.map((m) => [m.provider, m]));
    const values = names.map((n) => byName[n] ? (metric === "rtt" ? byName[n].rtt_ms : byName[n].loss) : null);
    const best = Math.min(...values.filter((v) => v !== null));
    const cells = names.map((n, i) => {
      const m = byName[n];
      const v = values[i];
      if (!m || !m.has_route) return `<td class="cell none" title="no route">no route</td>`;
      const colour = v === null ? "#eee" : metric === "rtt" ? heat(v - best, 0, Math.max(20, best)) : heat(v, 0, 0.05);
      const mark = (d.exit === n ? "●" : "") + (d.default === n ? "◇" : "");
      const text = metric === "rtt" ? ms(v) : pct(v, 1);
      return `<td class="cell ${d.exit === n ? "exit" : ""}" style="background:${colour}"
        title="${esc(n)}: RTT ${ms(m.rtt_ms)} (p90 ${ms(m.rtt_p90_ms)}), loss ${pct(m.loss, 2)}, ${m.samples ?? 0} samples">${mark} ${text}</td>`;
    }).join("");
    return `<tr><td><a href="#/prefix/${esc(d.prefix)}">${esc(d.prefix)}</a></td><td class="num">${bps(d.traffic_bps)}</td>
      <td>${reasonBadge(d.reason)}</td>${cells}</tr>`;
  }).join("");
  document.getElementById("heatmap").innerHTML = `<table class="grid-table heat"><thead><tr><th>prefix</th><th>traffic</th><th>why</th>
    ${names.map((n) => `<th style="color:${providerColour(n)}">${esc(n)}</th>`).join("")}</tr></thead><tbody>${body}</tbody></table>`;
}

async function overview(full) {
  if (full) {
    series = null;
    for (const trail of Object.values(trails)) trail.clear();
    document.getElementById("view").innerHTML = OVERVIEW;
    document.getElementById("reason-filter").onchange = () => loadFeed().catch(showError);
    document.getElementById("top").onchange = () => loadHeat().catch(showError);
    for (const r of document.querySelectorAll("input[name=metric]")) r.onchange = () => loadHeat().catch(showError);
  }
  state.providers = await get("/providers");
  keepLive();
  renderProviders(state.providers);
  document.getElementById("checklist").innerHTML = checklist(state.status, state.providers);
  const jobs = [loadFeed()];
  // The stored minutes every SLOW_S; the live point moves every tick. While the series is
  // still short (a fresh start), the stored minutes are asked for every tick too.
  const short = !series || series.meas.length < 3 * Math.max(1, state.providers.length);
  if (full || short || state.tick % (SLOW_S / FAST_S) === 0) jobs.push(loadSeries());
  else drawSeries();
  if (full || state.tick % (HEAT_S / FAST_S) === 0) jobs.push(loadHeat());
  await Promise.all(jobs);
}

// -- routing and polling --------------------------------------------------------

function route() {
  if (location.hash === "#/billing") return { page: "billing" };
  if (location.hash === "#/incidents") return { page: "incidents" };
  const m = location.hash.match(/^#\/prefix\/(.+)$/);
  if (m) return { page: "prefix", prefix: decodeURIComponent(m[1]) };
  const page = { "#/audit": "audit", "#/users": "users", "#/login": "login" }[location.hash];
  return { page: page ?? "overview" };
}

let busy = false;
let generation = 0;

async function refresh(full = false) {
  // A slow controller must not pile requests up: a tick that finds the last one still
  // running is skipped (a full redraw, after navigation, always runs).
  if (busy && !full) return;
  busy = true;
  const mine = generation;
  try {
    const r = route();
    if (r.page === "login") {
      if (full) renderLogin(() => { location.hash = "#/"; });
      showError(null);
      return;
    }
    if (full || session.me === null) await loadMe();
    await loadStatus();
    if (r.page === "prefix") {
      if (full || !state.providers.length) state.providers = await get("/providers");
      providerColour(null, state.providers.map((p) => p.name));
      await renderPrefix(r.prefix, full);
    } else if (r.page === "billing") {
      if (full || !state.providers.length) state.providers = await get("/providers");
      providerColour(null, state.providers.map((p) => p.name));
      if (full || state.tick % (SLOW_S / FAST_S) === 0) await renderBilling(full);
    } else if (r.page === "incidents") {
      if (full || !state.providers.length) state.providers = await get("/providers");
      providerColour(null, state.providers.map((p) => p.name));
      await renderIncidents(full);
    } else if (r.page === "audit") {
      await renderAudit(full);
    } else if (r.page === "users") {
      await renderUsers(full);
    } else {
      await overview(full);
    }
    showError(null);
  } catch (err) {
    // A poll overtaken by navigation may find its page gone: not an error to show.
    if (mine === generation) showError(err);
  } finally {
    if (mine === generation) busy = false;
  }
  document.body.dataset.loaded = "1";
}

function start() {
  clearInterval(timer);
  generation += 1;
  busy = false;
  state.tick = 0;
  state.seen = new Set();
  refresh(true);
  timer = setInterval(() => { state.tick += 1; refresh(false); }, FAST_S * 1000);
}

const periodSel = document.getElementById("period");
periodSel.value = localStorage.getItem("routepilot.period") ?? "3600";
state.period = Number(periodSel.value);
periodSel.onchange = () => { state.period = Number(periodSel.value); localStorage.setItem("routepilot.period", periodSel.value); start(); };
window.addEventListener("hashchange", start);
start();
