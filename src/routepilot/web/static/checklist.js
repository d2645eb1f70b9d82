// The overview's first-run checklist: is everything routepilot needs arriving, and if
// not, what to fix. Computed from /status and /providers alone; the same rows every
// time (no layout jump), each a tick or a cross with one line of advice.

import { bps, esc } from "./api.js";

function item(ok, title, detail, fix) {
  return `<li class="${ok === null ? "check-warn" : ok ? "check-ok" : "check-bad"}">
    <span class="mark" aria-hidden="true">${ok === null ? "!" : ok ? "✓" : "✗"}</span>
    <span><b>${title}</b> ${detail}${!ok && fix ? `<br><span class="fix">${fix}</span>` : ""}</span></li>`;
}

export function checklistItems(st, providers) {
  const sessions = Object.entries(st?.sessions ?? {});
  const down = sessions.filter(([, s]) => s !== "established").map(([r]) => r);
  const rate = providers.reduce((sum, p) => sum + (p.rate_bps ?? 0), 0);
  const carrying = providers.filter((p) => (p.rate_bps ?? 0) > 0).map((p) => p.name);
  const silent = providers.filter((p) => p.rtt_ms === null || p.rtt_ms === undefined || p.loss >= 1).map((p) => p.name);
  const prefixes = st?.counts?.prefixes ?? 0;
  return [
    {
      key: "sessions", ok: sessions.length > 0 && !down.length,
      title: "BGP sessions up:",
      detail: sessions.length ? sessions.map(([r, s]) => `${esc(r)} ${esc(s)}`).join(", ") : "no router configured",
      fix: "check the router's iBGP neighbor toward routepilot (add-path send) and routers[].address, asn in the config",
    },
    {
      key: "flows", ok: rate > 0 && prefixes > 0,
      title: "Flows arriving and attributed to providers:",
      detail: rate > 0 ? `${bps(rate)} over ${carrying.map(esc).join(", ")}; ${prefixes} busy prefixes` : "no traffic attributed to a provider yet",
      fix: "point the routers' NetFlow/IPFIX/sFlow export at flows.listen, and map each provider's interfaces or next-hops in providers[]",
    },
    {
      key: "probes", ok: providers.length > 0 && !silent.length,
      title: "Probes answering through each provider:",
      detail: silent.length ? `no answers through ${silent.map(esc).join(", ")}` : providers.length ? `all ${providers.length} answer` : "no provider configured",
      fix: "check probe.enabled, each provider's probe source address, and the router's policy routing of that source to the provider",
    },
    {
      key: "mode", ok: st?.paused ? false : st?.dry_run ? null : true,
      title: "Mode:",
      detail: st?.paused ? "paused: no changes are made" : st?.dry_run ? "dry-run: decisions are recorded, nothing is announced" : "live: improvements are announced",
      fix: st?.paused ? "resume when the maintenance is over" : "when the moves look right, set inject.dry_run: false (or switch it off here as an operator)",
    },
  ];
}

export function checklist(st, providers) {
  const items = checklistItems(st, providers);
  const bad = items.filter((i) => i.ok === false).length;
  const head = bad ? `<p class="check-summary bad">${bad} of ${items.length} need attention</p>` : `<p class="check-summary ok">ready</p>`;
  return `${head}<ul class="checklist">${items.map((i) => item(i.ok, i.title, i.detail, i.fix)).join("")}</ul>`;
}
