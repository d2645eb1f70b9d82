// The dashboard's only door to the controller: the REST API under /api/v1, with the
// login session's cookie, or an API token kept in the browser's storage.
// Formatting helpers live here too so every view prints numbers the same way.

const BASE = "/api/v1";
const TOKEN_KEY = "routepilot.token";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function setToken(token) {
  if (token) localStorage.setItem(TOKEN_KEY, token);
  else localStorage.removeItem(TOKEN_KEY);
}

// Who is looking, as the API says (GET /session): name, role, and for a dashboard
// login the CSRF token every change must carry. null until known or when nobody is.
export const session = { me: null };
const RANK = { viewer: 1, operator: 2, admin: 3 };
export const can = (role) => (RANK[session.me?.role] ?? 0) >= RANK[role];

function headers(extra = {}) {
  const h = { Accept: "application/json", ...extra };
  const token = localStorage.getItem(TOKEN_KEY);
  if (token) h.Authorization = `Bearer ${token}`;
  return h;
}

async function answer(resp) {
  if (!resp.ok) {
    let detail = resp.statusText;
    try {
      const body = await resp.json();
      detail = body.detail ?? body.error ?? detail;
    } catch (_) {
      // Not JSON: keep the status text.
    }
    throw new ApiError(resp.status, typeof detail === "string" ? detail : JSON.stringify(detail));
  }
  return resp.status === 204 ? null : resp.json();
}

export async function get(path, params = {}) {
  const url = new URL(BASE + path, location.origin);
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
  }
  return answer(await fetch(url, { headers: headers(), credentials: "same-origin" }));
}

// A change: the session cookie goes by itself (SameSite=Strict); the CSRF token and the
// JSON body go along. The API refuses what the role may not do, whatever the page shows.
export async function send(method, path, body) {
  const extra = body === undefined ? {} : { "Content-Type": "application/json" };
  if (session.me?.csrf_token) extra["X-CSRF-Token"] = session.me.csrf_token;
  const resp = await fetch(BASE + path, {
    method, headers: headers(extra), credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return answer(resp);
}

// A prefix keeps its slash in the path ("/prefixes/198.18.0.0/24"): the API
// routes the rest of the path as the prefix, and IPv6 colons need no escaping.
export const prefixPath = (prefix) => `/prefixes/${prefix}`;

// -- formatting ---------------------------------------------------------------

export function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

export function bps(v) {
  if (v === null || v === undefined) return "–";
  const units = [["Tb/s", 1e12], ["Gb/s", 1e9], ["Mb/s", 1e6], ["kb/s", 1e3]];
  for (const [u, f] of units) if (Math.abs(v) >= f) return `${(v / f).toFixed(v / f >= 100 ? 0 : 1)} ${u}`;
  return `${Math.round(v)} b/s`;
}

// Milliseconds with the digits the magnitude needs: a lab's veth paths take 15 µs.
const msDigits = (v) => (Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 1 || v === 0 ? 1 : 3);
export const ms = (v) => (v === null || v === undefined ? "–" : `${v.toFixed(msDigits(v))} ms`);
// Axis labels: as few digits as tell the ticks apart.
export const msAxis = (v) => `${v.toFixed(Number.isInteger(v) ? 0 : Math.abs(v) >= 1 ? 1 : 3)} ms`;
export const pct = (v, digits = 1) => (v === null || v === undefined ? "–" : `${(v * 100).toFixed(digits)}%`);

// Loss axes: enough digits to tell 0.25% from 0.5%.
export const lossFmt = (v) => pct(v, v > 0 && v < 0.1 ? 2 : 1);

export function hhmm(t, seconds = false) {
  const d = new Date(t * 1000);
  const p = (n) => String(n).padStart(2, "0");
  const s = `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}`;
  return seconds ? `${s}:${p(d.getUTCSeconds())}` : s;
}

export function ago(t, now) {
  const s = Math.max(0, now - t);
  if (s < 90) return `${Math.round(s)} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  return `${(s / 3600).toFixed(1)} h ago`;
}

export function reasonBadge(reason) {
  return `<span class="reason r-${esc(reason)}">${esc(reason)}</span>`;
}

// One colour per provider, fixed by its position in /providers.
const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
  "#7f7f7f", "#bcbd22", "#393b79", "#637939", "#843c39", "#7b4173", "#3182bd", "#e6550d"];
const colours = new Map();
export function providerColour(name, order) {
  if (order) order.forEach((n, i) => colours.set(n, PALETTE[i % PALETTE.length]));
  if (!colours.has(name)) colours.set(name, PALETTE[colours.size % PALETTE.length]);
  return colours.get(name);
}
