// "Check by hand" on a prefix's page: probe an address of the prefix now through every
// provider with a route (POST /probe), or traceroute it through one (POST /traceroute),
// and show what came back. Operators and admins only; the API holds the address to the
// learned prefixes, limits the rate and keeps these numbers out of the decisions.

import { can, esc, ms, pct, providerColour, send } from "./api.js";

// The prefix's first host: 198.18.3.0/24 -> 198.18.3.1, 2001:db8:1003::/48 -> 2001:db8:1003::1.
export function firstHost(prefix) {
  const [addr, len] = prefix.split("/");
  if (addr.includes(":")) return addr.endsWith("::") ? `${addr}1` : addr;
  if (Number(len) >= 31) return addr;
  const parts = addr.split(".").map(Number);
  const value = ((parts[0] << 24) >>> 0) + (parts[1] << 16) + (parts[2] << 8) + parts[3] + 1;
  return [24, 16, 8, 0].map((s) => (value >>> s) & 255).join(".");
}

function form(p, routed) {
  return `<div class="actions">
    <label>address <input id="od-address" size="22" value="${esc(firstHost(p.prefix))}"></label>
    <label>kind <select id="od-kind"><option>icmp</option><option>tcp</option><option>udp</option></select></label>
    <label>probes <input id="od-count" type="number" min="1" max="100" value="10" style="width:4em"></label>
    <button id="probe-now">Probe now</button>
    <label>through <select id="trace-via">${routed.map((n) => `<option>${esc(n)}</option>`).join("")}</select></label>
    <button id="traceroute">Traceroute</button>
    <span id="od-error" class="error" role="alert"></span></div>
    <div id="od-result" class="scroll"></div>`;
}

export function probeTable(r) {
  const rows = r.results.map((x) => `<tr><td><i class="dot" style="background:${providerColour(x.provider)}"></i>${esc(x.provider)}</td>
    <td class="num">${x.sent}</td><td class="num">${x.answered}</td><td class="num">${pct(x.loss, 1)}</td>
    <td class="num">${ms(x.rtt_min_ms)}</td><td class="num">${ms(x.rtt_median_ms)}</td><td class="num">${ms(x.rtt_p90_ms)}</td>
    <td class="num">${ms(x.rtt_max_ms)}</td><td class="num">${ms(x.jitter_ms)}</td><td>${x.responders.map(esc).join(", ") || "–"}</td></tr>`).join("");
  return `<p id="od-summary">${esc(r.kind)} probes to ${esc(r.address)} (in ${esc(r.prefix)}), ${r.count} through each provider, ${r.interval_s} s apart</p>
    <table class="grid-table" id="od-probe"><thead><tr><th>provider</th><th>sent</th><th>answered</th><th>loss</th><th>min</th>
    <th>median</th><th>p90</th><th>max</th><th>jitter</th><th>answered by</th></tr></thead><tbody>${rows}</tbody></table>`;
}

export function traceTable(r) {
  const rows = r.hops.map((h) => `<tr class="${h.reached ? "is-exit" : ""}"><td class="num">${h.ttl}</td><td>${esc(h.responder ?? "*")}</td>
    <td>${h.asn ? `AS${h.asn}` : "–"}</td><td class="num">${h.rtts_ms.map((v) => ms(v)).join(" ") || "–"}</td>
    <td class="num">${pct(h.loss, 0)}</td></tr>`).join("");
  const end = r.reached ? "reached" : "<b class=\"bad\">not reached</b>";
  return `<p id="od-summary">${esc(r.kind)} traceroute to ${esc(r.address)} through ${esc(r.provider)}: ${end}</p>
    <table class="grid-table" id="od-trace"><thead><tr><th>ttl</th><th>responder</th><th>AS</th><th>RTTs</th><th>loss</th></tr></thead>
    <tbody>${rows}</tbody></table>`;
}

function bind(box) {
  const value = (id) => document.getElementById(id).value;
  const run = (button, path, body, table) => async () => {
    const error = document.getElementById("od-error");
    const out = document.getElementById("od-result");
    error.textContent = "";
    out.innerHTML = '<p class="muted">measuring…</p>';
    button.disabled = true;
    try {
      out.innerHTML = table(await send("POST", path, body()));
    } catch (err) {
      out.innerHTML = "";
      error.textContent = err.message;
    } finally {
      button.disabled = false;
    }
  };
  const probe = box.querySelector("#probe-now");
  probe.onclick = run(probe, "/probe", () => ({ address: value("od-address").trim(), kind: value("od-kind"),
    count: Number(value("od-count")) }), probeTable);
  const trace = box.querySelector("#traceroute");
  trace.onclick = run(trace, "/traceroute", () => ({ address: value("od-address").trim(), kind: value("od-kind"),
    provider: value("trace-via") }), traceTable);
}

// Drawn once per prefix (a refresh of the page keeps a result on screen); nothing for viewers.
export function renderCheck(p) {
  const box = document.getElementById("p-check");
  if (!box) return;
  const routed = p.measurements.filter((m) => m.has_route).map((m) => m.provider);
  const key = `${p.prefix}|${routed.join(",")}|${can("operator")}`;
  if (box.dataset.key === key) return;
  box.dataset.key = key;
  if (!can("operator")) {
    box.hidden = true;
    box.innerHTML = "";
    return;
  }
  box.hidden = false;
  box.innerHTML = `<h2>Check by hand <small>measured now, for you only: decisions never use these numbers</small></h2>${form(p, routed)}`;
  bind(box);
}
