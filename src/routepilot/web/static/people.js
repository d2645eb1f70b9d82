// The pages about people: the login form, the users (admin) and the audit log (operator).
// What a role may not do is not drawn; the API refuses it anyway (403, said here as is).

import { ApiError, can, esc, get, send, session, setToken } from "./api.js";

const when = (t) => new Date(t * 1000).toISOString().replace("T", " ").slice(0, 19);

// -- login ----------------------------------------------------------------------------

export function renderLogin(onDone) {
  document.getElementById("view").innerHTML = `
  <section class="card login">
    <h2>Log in to routepilot</h2>
    <form id="login-form">
      <label>user <input id="login-name" autocomplete="username" required></label>
      <label>password <input id="login-password" type="password" autocomplete="current-password" required></label>
      <button id="login-submit" type="submit">log in</button>
      <p id="login-error" class="error" role="alert"></p>
    </form>
    <details><summary>or use an API token</summary>
      <form id="token-form"><input id="login-token" type="password" placeholder="token" autocomplete="off">
      <button type="submit">use</button></form></details>
    <p class="muted">No user yet? On the controller's host: <code>routepilot users add NAME --role admin --password --config FILE</code></p>
  </section>`;
  document.getElementById("login-form").onsubmit = async (ev) => {
    ev.preventDefault();
    try {
      session.me = await send("POST", "/session", {
        name: document.getElementById("login-name").value,
        password: document.getElementById("login-password").value,
      });
      setToken(null);
      onDone();
    } catch (err) {
      document.getElementById("login-error").textContent = err.message;
    }
  };
  document.getElementById("token-form").onsubmit = (ev) => {
    ev.preventDefault();
    setToken(document.getElementById("login-token").value);
    onDone();
  };
  document.getElementById("login-name").focus();
}

// -- users (admin) ----------------------------------------------------------------------

const USERS = `
<section class="card full"><h2>Users <small>viewer reads · operator also pins, excludes, pauses, switches dry-run · admin also manages users</small></h2>
  <div id="users-table" class="scroll"></div></section>
<section class="card full"><h2>Add a user</h2>
  <form id="user-form" class="inline-form">
    <label>name <input id="user-name" required pattern="[A-Za-z0-9][A-Za-z0-9_.@\\-]{0,63}"></label>
    <label>role <select id="user-role"><option>viewer</option><option>operator</option><option>admin</option></select></label>
    <label>dashboard password <input id="user-password" type="password" minlength="10" placeholder="optional" autocomplete="new-password"></label>
    <button id="user-add" type="submit">add</button>
  </form>
  <div id="user-token" class="token-box" hidden></div>
  <p id="user-error" class="error" role="alert"></p></section>`;

function showToken(name, token) {
  const box = document.getElementById("user-token");
  box.hidden = false;
  box.innerHTML = `API token of <b>${esc(name)}</b>, shown this once (only its hash is kept):
    <code id="new-token">${esc(token)}</code>`;
}

async function loadUsers() {
  const rows = await get("/users");
  const body = rows.map((u) => `<tr data-user="${esc(u.name)}"><td>${esc(u.name)}</td><td>${esc(u.role)}</td>
    <td>${u.has_password ? "dashboard login" : "token only"}</td><td>${when(u.created)} UTC</td>
    <td><button class="rotate" data-name="${esc(u.name)}">new token</button>
        <button class="remove danger" data-name="${esc(u.name)}">remove</button></td></tr>`).join("");
  const box = document.getElementById("users-table");
  box.innerHTML = rows.length
    ? `<table class="grid-table"><thead><tr><th>name</th><th>role</th><th>access</th><th>added</th><th></th></tr></thead><tbody>${body}</tbody></table>`
    : `<p class="muted">No users yet; the configured api tokens still work.</p>`;
  const fail = (err) => { document.getElementById("user-error").textContent = err.message; };
  for (const b of box.querySelectorAll("button.remove")) {
    b.onclick = async () => {
      if (!confirm(`Remove ${b.dataset.name}? Their tokens and sessions stop working at once.`)) return;
      try { await send("DELETE", `/users/${encodeURIComponent(b.dataset.name)}`); await loadUsers(); } catch (err) { fail(err); }
    };
  }
  for (const b of box.querySelectorAll("button.rotate")) {
    b.onclick = async () => {
      try { const u = await send("POST", `/users/${encodeURIComponent(b.dataset.name)}/token`); showToken(u.name, u.token); } catch (err) { fail(err); }
    };
  }
}

export async function renderUsers(full) {
  if (!full) return;
  if (!can("admin")) {
    document.getElementById("view").innerHTML = `<section class="card full"><p>Managing users needs the admin role.</p></section>`;
    return;
  }
  document.getElementById("view").innerHTML = USERS;
  document.getElementById("user-form").onsubmit = async (ev) => {
    ev.preventDefault();
    const password = document.getElementById("user-password").value;
    const body = { name: document.getElementById("user-name").value, role: document.getElementById("user-role").value };
    if (password) body.password = password;
    try {
      const u = await send("POST", "/users", body);
      showToken(u.name, u.token);
      document.getElementById("user-error").textContent = "";
      ev.target.reset();
      await loadUsers();
    } catch (err) {
      document.getElementById("user-error").textContent = err instanceof ApiError ? err.message : String(err);
    }
  };
  await loadUsers();
}

// -- audit (operator) -------------------------------------------------------------------

const AUDIT = `
<section class="card full"><h2>Audit log <small>every change made through the API, newest first; it cannot be edited</small></h2>
  <form id="audit-form" class="inline-form">
    <label>user <input id="audit-user" size="12"></label>
    <label>action <input id="audit-action" size="12" placeholder="e.g. pause"></label>
    <label>since <select id="audit-since"><option value="1h">1 h</option><option value="1d" selected>24 h</option><option value="7d">7 d</option><option value="">all</option></select></label>
    <button type="submit">filter</button></form>
  <div id="audit-table" class="scroll"></div></section>`;

function short(text) {
  if (!text || text === "null") return "";
  return text.length > 80 ? `${esc(text.slice(0, 80))}…` : esc(text);
}

async function loadAudit() {
  const params = {
    user: document.getElementById("audit-user").value.trim(),
    action: document.getElementById("audit-action").value.trim(),
    since: document.getElementById("audit-since").value,
    limit: 500,
  };
  const rows = await get("/audit", params);
  const body = rows.map((r) => `<tr class="o-${esc(r.outcome)}"><td>${when(r.time)}</td><td>${esc(r.user ?? "(nobody identified)")}</td>
    <td>${esc(r.address ?? "–")}</td><td>${esc(r.action)}</td><td><span class="chip ${r.outcome === "ok" ? "ok" : "bad"}">${r.status} ${esc(r.outcome)}</span></td>
    <td class="path">${esc(r.method)} ${esc(r.path)}</td>
    <td class="json" title="${esc(r.request)}">${short(r.request)}</td><td class="json" title="${esc(r.change)}">${short(r.change)}</td></tr>`).join("");
  document.getElementById("audit-table").innerHTML = rows.length
    ? `<table class="grid-table audit"><thead><tr><th>time (UTC)</th><th>user</th><th>from</th><th>action</th><th>outcome</th>
       <th>request</th><th>sent</th><th>result</th></tr></thead><tbody>${body}</tbody></table>`
    : `<p class="muted">no changes recorded in this window</p>`;
}

export async function renderAudit(full) {
  if (full) {
    if (!can("operator")) {
      document.getElementById("view").innerHTML = `<section class="card full"><p>The audit log needs the operator role.</p></section>`;
      return;
    }
    document.getElementById("view").innerHTML = AUDIT;
    document.getElementById("audit-form").onsubmit = (ev) => { ev.preventDefault(); loadAudit(); };
  }
  if (document.getElementById("audit-table")) await loadAudit();
}
