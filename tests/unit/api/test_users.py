"""Users and roles through the real API: who may do what, tokens, logins, and the audit log."""

from __future__ import annotations

import json

import pytest
from tests.unit.api.conftest import READ, WRITE, make_client

from routepilot.api.accounts import Accounts, Role
from routepilot.api.auth import declared_role
from routepilot.api.config import ApiConfig
from routepilot.api.fake import FakeView
from routepilot.store import MemoryStore

PAUSE = "/api/v1/control/pause"
ADMIN = {"Authorization": f"Bearer {WRITE}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def api():
    view = FakeView()
    c = make_client(ApiConfig(write_token=WRITE, read_token=READ), view)
    c.view = view
    return c


def add(c, name: str, role: str, **extra) -> str:
    r = c.post("/api/v1/users", json={"name": name, "role": role, **extra}, headers=ADMIN)
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["name"], body["role"]) == (name, role)
    assert body["token"].startswith("rp_")
    return body["token"]


def test_a_viewer_cannot_pause_an_operator_can(api) -> None:
    viewer, operator = add(api, "vera", "viewer"), add(api, "otto", "operator")
    assert api.get("/api/v1/status", headers=bearer(viewer)).status_code == 200
    r = api.post(PAUSE, headers=bearer(viewer))
    assert r.status_code == 403
    assert r.json()["error"] == (
        "vera has the viewer role; pause needs the operator role "
        "(an admin can change it: routepilot users add/remove)"
    )
    assert api.view.paused is False
    r = api.post(PAUSE, headers=bearer(operator))
    assert r.status_code == 200 and r.json()["paused"] is True
    assert api.view.paused is True
    # Operators act on routing, not on people.
    r = api.post("/api/v1/users", json={"name": "x", "role": "admin"}, headers=bearer(operator))
    assert r.status_code == 403 and "needs the admin role" in r.json()["error"]
    assert api.get("/api/v1/users", headers=bearer(operator)).status_code == 403


def test_an_admin_adds_lists_and_removes_users_and_a_removed_token_stops_at_once(api) -> None:
    admin = add(api, "ada", "admin")
    token = add(api, "bob", "operator")
    r = api.get("/api/v1/users", headers=bearer(admin))
    assert r.status_code == 200
    assert [(u["name"], u["role"]) for u in r.json()] == [("ada", "admin"), ("bob", "operator")]
    assert "token" not in json.dumps(r.json())
    assert api.post(PAUSE, headers=bearer(token)).status_code == 200
    assert api.delete("/api/v1/users/bob", headers=bearer(admin)).status_code == 204
    r = api.post("/api/v1/control/resume", headers=bearer(token))
    assert r.status_code == 401 and r.json() == {"error": "invalid token"}
    assert api.get("/api/v1/status", headers=bearer(token)).status_code == 401
    assert api.view.paused is True  # the refused resume changed nothing
    r = api.delete("/api/v1/users/bob", headers=bearer(admin))
    assert r.status_code == 404 and r.json() == {"error": "no user 'bob'"}
    r = api.post("/api/v1/users", json={"name": "ada", "role": "viewer"}, headers=ADMIN)
    assert r.status_code == 409


def test_rotating_a_token_revokes_the_old_one(api) -> None:
    old = add(api, "carl", "operator")
    assert api.post(PAUSE, headers=bearer(old)).status_code == 200
    r = api.post("/api/v1/users/carl/token", headers=ADMIN)
    assert r.status_code == 200
    new = r.json()["token"]
    assert new != old
    assert api.post(PAUSE, headers=bearer(old)).status_code == 401
    assert api.post(PAUSE, headers=bearer(new)).status_code == 200


def test_configured_tokens_keep_their_meaning(api) -> None:
    # The write token is an admin (users too), the read token a viewer.
    assert api.get("/api/v1/users", headers=ADMIN).status_code == 200
    assert api.post(PAUSE, headers=bearer(READ)).status_code == 403
    assert api.get("/api/v1/users", headers=bearer(READ)).status_code == 403
    who = api.get("/api/v1/session", headers=bearer(READ)).json()
    assert who == {
        "name": "api.read_token", "role": "viewer", "via": "read_token", "csrf_token": None,
        "expires": None,
    }  # fmt: skip


def test_bad_users_are_refused_clearly(api) -> None:
    r = api.post("/api/v1/users", json={"name": "x", "role": "root"}, headers=ADMIN)
    assert r.status_code == 400 and "role" in r.json()["error"]
    r = api.post("/api/v1/users", json={"name": "-x", "role": "viewer"}, headers=ADMIN)
    assert r.status_code == 400
    r = api.post("/api/v1/users", json={"name": "x", "role": "viewer", "password": "short"},
                 headers=ADMIN)  # fmt: skip
    assert r.status_code == 400 and "password" in r.json()["error"]


def test_dashboard_login_sets_a_strict_httponly_cookie_and_needs_csrf_for_writes(api) -> None:
    add(api, "olga", "operator", password="correct horse battery")
    r = api.post("/api/v1/session", json={"name": "olga", "password": "wrong password!"})
    assert r.status_code == 401 and r.json() == {"error": "wrong user name or password"}
    r = api.post("/api/v1/session", json={"name": "nobody", "password": "whatever123"})
    assert r.status_code == 401
    r = api.post("/api/v1/session", json={"name": "olga", "password": "correct horse battery"})
    assert r.status_code == 200
    body = r.json()
    assert (body["name"], body["role"], body["via"]) == ("olga", "operator", "session")
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Max-Age=43200" in cookie
    # The session reads without a token; a write needs the CSRF token too.
    assert api.get("/api/v1/session").json()["name"] == "olga"
    r = api.post(PAUSE)
    assert r.status_code == 403 and "X-CSRF-Token" in r.json()["error"]
    r = api.post(PAUSE, headers={"X-CSRF-Token": "forged"})
    assert r.status_code == 403
    r = api.post(PAUSE, headers={"X-CSRF-Token": body["csrf_token"]})
    assert r.status_code == 200 and api.view.paused is True
    # Logging out ends it.
    assert api.delete("/api/v1/session").status_code == 204
    r = api.post("/api/v1/control/resume", headers={"X-CSRF-Token": body["csrf_token"]})
    assert r.status_code == 401


def test_a_removed_users_session_ends_at_once(api) -> None:
    add(api, "pia", "operator", password="correct horse battery")
    body = api.post("/api/v1/session", json={"name": "pia", "password": "correct horse battery"})
    csrf = body.json()["csrf_token"]
    api.cookies.clear()  # the admin acts with the write token alone
    cookie = body.cookies["routepilot_session"]
    assert api.delete("/api/v1/users/pia", headers=ADMIN).status_code == 204
    api.cookies.set("routepilot_session", cookie)
    r = api.post(PAUSE, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 401


def test_sessions_expire() -> None:
    now = [1000.0]
    accounts = Accounts(MemoryStore(), session_ttl_s=60, clock=lambda: now[0])
    accounts.add_user("eve", Role.VIEWER, password="correct horse battery")
    opened = accounts.login("eve", "correct horse battery")
    assert opened is not None
    assert accounts.session(opened[0]) is not None
    now[0] += 61
    assert accounts.session(opened[0]) is None


def test_reads_are_closed_when_the_config_says_so() -> None:
    c = make_client(ApiConfig(write_token=WRITE, anonymous_reads=False))
    r = c.get("/api/v1/status")
    assert r.status_code == 401 and "needs a token" in r.json()["error"]
    assert c.get("/api/v1/status", headers=ADMIN).status_code == 200
    assert make_client(ApiConfig()).get("/api/v1/status").status_code == 200


def test_tokens_and_passwords_are_never_shown(api) -> None:
    token = add(api, "tess", "admin", password="correct horse battery")
    config = api.get("/api/v1/config", headers=bearer(token)).text
    assert WRITE not in config and READ not in config
    audit = api.get("/api/v1/audit", headers=bearer(token)).text
    assert token not in audit and "correct horse battery" not in audit
    (added,) = json.loads(audit)
    assert json.loads(added["request"])["password"] == "***"
    assert json.loads(added["change"])["token"] == "***"
    assert json.loads(added["change"])["has_password"] is True
    store = api.app.state.accounts.store
    assert token not in repr(store.token_rows) and "correct horse" not in repr(store.user_rows)


def test_every_write_is_audited_with_who_where_what_and_outcome(api) -> None:
    token = add(api, "otto", "operator")
    api.post("/api/v1/prefixes/198.18.1.0/24/pin", json={"provider": "isp2"},
             headers=bearer(token))  # fmt: skip
    api.post(PAUSE, headers=bearer(READ))
    api.post(PAUSE, headers=bearer("rp_nope_nope"))
    rows = api.get("/api/v1/audit", headers=ADMIN).json()
    assert [(r["user"], r["action"], r["status"], r["outcome"]) for r in rows] == [
        (None, "pause", 401, "refused"),
        ("api.read_token", "pause", 403, "refused"),
        ("otto", "pin", 200, "ok"),
        ("api.write_token", "add_user", 201, "ok"),
    ]
    pin = rows[2]
    assert pin["address"] == "testclient"
    assert pin["path"] == "/api/v1/prefixes/198.18.1.0/24/pin"
    assert json.loads(pin["request"]) == {"provider": "isp2"}
    assert json.loads(pin["change"])["pinned"] == "isp2"
    assert "viewer role" not in rows[1]["change"] and "read-only" in rows[1]["change"]
    # Filters: user, action, time.
    q = api.get("/api/v1/audit", params={"user": "otto"}, headers=ADMIN).json()
    assert [r["action"] for r in q] == ["pin"]
    q = api.get("/api/v1/audit", params={"action": "pause"}, headers=ADMIN).json()
    assert len(q) == 2
    assert api.get("/api/v1/audit", params={"until": "0"}, headers=ADMIN).json() == []
    # A viewer may not read it.
    assert api.get("/api/v1/audit", headers=bearer(READ)).status_code == 403


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_the_audit_log_cannot_be_changed_or_deleted_through_the_api(api, method) -> None:
    add(api, "ada", "admin")
    before = api.get("/api/v1/audit", headers=ADMIN).json()
    for path in ("/api/v1/audit", f"/api/v1/audit/{before[0]['id']}"):
        r = api.request(method, path, json={"user": "someone else"}, headers=ADMIN)
        assert r.status_code in (404, 405), (method, path, r.status_code)
    after = api.get("/api/v1/audit", headers=ADMIN).json()
    assert after[-len(before) :] == before  # nothing changed, only the attempts were added
    assert len(after) == len(before) + 2


def test_every_write_route_declares_its_role() -> None:
    app = make_client(ApiConfig()).app
    roles = {
        (route.path, m): declared_role(route)
        for route in app.routes
        for m in getattr(route, "methods", ()) or ()
    }
    assert roles[("/api/v1/control/pause", "POST")] == Role.OPERATOR
    assert roles[("/api/v1/prefixes/{prefix:ipprefix}/pin", "POST")] == Role.OPERATOR
    assert roles[("/api/v1/users", "POST")] == Role.ADMIN
    assert roles[("/api/v1/status", "GET")] == Role.VIEWER
    assert roles[("/api/v1/audit", "GET")] == Role.OPERATOR


def test_a_write_route_without_a_role_stops_the_app_from_being_built() -> None:
    from fastapi import FastAPI

    from routepilot.api.app import _check_access_declared

    app = FastAPI()

    @app.post("/api/v1/forgotten")
    def forgotten() -> None: ...

    with pytest.raises(RuntimeError, match="declares no role"):
        _check_access_declared(app)
