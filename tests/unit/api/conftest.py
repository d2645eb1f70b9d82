"""Fixtures for the API tests: the app over FakeView, with and without tokens."""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from routepilot.api.app import create_app
from routepilot.api.config import ApiConfig
from routepilot.api.fake import FakeView
from routepilot.store.base import AuditQuery

READ = "read-token-123"
WRITE = "write-token-456"


def make_client(config: ApiConfig, view: FakeView | None = None, **kw) -> TestClient:
    kw.setdefault("static_dir", Path("/nonexistent"))
    return TestClient(create_app(view or FakeView(), config, **kw), raise_server_exceptions=False)


@pytest.fixture
def view() -> FakeView:
    return FakeView()


@pytest.fixture
def client(view: FakeView) -> TestClient:
    """Both tokens configured; sends the write token, which reads too."""
    c = make_client(ApiConfig(write_token=WRITE, read_token=READ), view)
    c.headers["Authorization"] = f"Bearer {WRITE}"
    return c


# -- every write leaves an audit record naming the right caller ---------------------------
#
# Every TestClient built while an API test runs is watched: for each write it sends, the
# caller its credentials name is worked out here, independently of the app (the configured
# tokens, and the users' tokens and sessions the app handed out in earlier answers). After
# the test, each app's audit log must hold exactly those writes, in order, with those names.

_APPS: weakref.WeakSet = weakref.WeakSet()


def _bearer(request: httpx.Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _cookie(request: httpx.Request) -> str | None:
    for part in request.headers.get("cookie", "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == "routepilot_session":
            return value
    return None


def _expected_caller(app, request: httpx.Request) -> str | None:
    config, known = app.state.api_config, app.state.test_known
    token = _bearer(request)
    if token is not None:
        if config.write_token and token == config.write_token:
            return "api.write_token"
        if config.read_token and token == config.read_token:
            return "api.read_token"
        return known["tokens"].get(token)
    cookie = _cookie(request)
    return known["sessions"].get(cookie) if cookie else None


def _learn(app, response: httpx.Response, caller: str | None) -> str | None:
    """Updates what the test knows of tokens and sessions from an answer; returns the
    caller the audit must name (a login names the user it logged in)."""
    known = app.state.test_known
    request = response.request
    path, method, status = request.url.path, request.method, response.status_code
    parts = path.rstrip("/").split("/")
    body = response.json() if response.content and "json" in response.headers.get(
        "content-type", "") else None  # fmt: skip

    def forget(name: str) -> None:
        for table in ("tokens", "sessions"):
            known[table] = {k: v for k, v in known[table].items() if v != name}

    if path == "/api/v1/session" and method == "POST" and status == 200:
        cookie = response.cookies.get("routepilot_session")
        known["sessions"][cookie] = body["name"]
        return body["name"]
    if path == "/api/v1/session" and method == "DELETE":
        known["sessions"].pop(_cookie(request), None)
    elif path == "/api/v1/users" and method == "POST" and status == 201:
        known["tokens"][body["token"]] = body["name"]
    elif len(parts) == 6 and parts[-1] == "token" and method == "POST" and status == 200:
        forget(body["name"])
        known["tokens"][body["token"]] = body["name"]
    elif len(parts) == 5 and parts[3] == "users" and method == "DELETE" and status == 204:
        forget(parts[4])
    elif len(parts) == 6 and parts[-1] == "password" and method == "PUT" and status == 200:
        known["sessions"] = {k: v for k, v in known["sessions"].items() if v != parts[4]}
    return caller


def _watch(app):
    if not hasattr(app.state, "test_known"):
        app.state.test_known = {"tokens": {}, "sessions": {}}
        app.state.test_expected = []
        _APPS.add(app)

    def on_response(response: httpx.Response) -> None:
        request = response.request
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return
        response.read()
        caller = _learn(app, response, _expected_caller(app, request))
        app.state.test_expected.append((request.method, request.url.path, caller))

    return on_response


@pytest.fixture(autouse=True)
def every_write_is_audited(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    original = TestClient.__init__

    def init(self, app, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        original(self, app, *args, **kwargs)
        if hasattr(app, "state") and hasattr(app.state, "accounts"):
            hooks = self.event_hooks
            hooks["response"] = [*hooks["response"], _watch(app)]
            self.event_hooks = hooks

    monkeypatch.setattr(TestClient, "__init__", init)
    yield
    for app in list(_APPS):
        records = list(reversed(app.state.accounts.store.audit(AuditQuery())))
        got = [(r.method, r.path, r.user) for r in records]
        assert got == app.state.test_expected, "the audit log misses or misnames a write"
        closing = getattr(app.state, "closing_store", None)
        if closing is not None:
            closing.close()
            _APPS.discard(app)
