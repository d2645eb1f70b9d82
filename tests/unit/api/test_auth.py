"""Who may read and who may act: every combination of configured and sent tokens."""

from __future__ import annotations

import pytest
from tests.unit.api.conftest import READ, WRITE, make_client

from routepilot.api.config import ApiConfig

READS = [
    ("GET", "/api/v1/status", None),
    ("GET", "/api/v1/providers", None),
    ("GET", "/api/v1/prefixes", None),
    ("GET", "/api/v1/prefixes/198.18.1.0/24", None),
    ("GET", "/api/v1/routes/198.18.1.7", None),
    ("GET", "/api/v1/routers", None),
    ("GET", "/api/v1/decisions", None),
    ("GET", "/api/v1/measurements", None),
    ("GET", "/api/v1/utilization", None),
    ("GET", "/api/v1/config", None),
    ("GET", "/metrics", None),
]
WRITES = [
    ("POST", "/api/v1/prefixes/198.18.1.0/24/pin", {"provider": "isp2"}),
    ("DELETE", "/api/v1/prefixes/198.18.1.0/24/pin", None),
    ("POST", "/api/v1/prefixes/198.18.1.0/24/exclude", None),
    ("DELETE", "/api/v1/prefixes/198.18.1.0/24/exclude", None),
    ("POST", "/api/v1/control/pause", None),
    ("POST", "/api/v1/control/resume", None),
    ("PUT", "/api/v1/control/dry-run", {"enabled": True}),
]

BOTH = ApiConfig(write_token=WRITE, read_token=READ)
WRITE_ONLY = ApiConfig(write_token=WRITE)
NONE = ApiConfig()


_CLIENTS: dict[int, object] = {}


def call(config: ApiConfig, method: str, url: str, body, token: str | None):
    # One app per configuration: building one per case would dominate the run time.
    c = _CLIENTS.setdefault(id(config), make_client(config))
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return c.request(method, url, json=body, headers=headers)


# (config, token sent, expected status for reads, expected status for writes)
MATRIX = [
    (NONE, None, 200, 403),
    (NONE, "anything", 200, 403),
    (WRITE_ONLY, None, 200, 401),
    (WRITE_ONLY, "wrong", 200, 401),
    (WRITE_ONLY, WRITE, 200, 200),
    (BOTH, None, 401, 401),
    (BOTH, "wrong", 401, 401),
    (BOTH, READ, 200, 403),
    (BOTH, WRITE, 200, 200),
]


@pytest.mark.parametrize("config,token,read_status,write_status", MATRIX)
@pytest.mark.parametrize("method,url,body", READS + WRITES)
def test_auth_matrix(config, token, read_status, write_status, method, url, body) -> None:
    r = call(config, method, url, body, token)
    expected = write_status if (method, url, body) in WRITES else read_status
    assert r.status_code == expected, r.text
    if expected != 200:
        assert list(r.json()) == ["error"]
    if expected == 401:
        assert r.headers["www-authenticate"] == "Bearer"


def test_messages_say_what_to_do() -> None:
    pause = ("POST", "/api/v1/control/pause", None)
    assert "no api.write_token is configured" in call(NONE, *pause, None).json()["error"]
    assert "Authorization: Bearer" in call(WRITE_ONLY, *pause, None).json()["error"]
    assert call(WRITE_ONLY, *pause, "nope").json() == {"error": "invalid token"}
    assert "read-only token" in call(BOTH, *pause, READ).json()["error"]
    assert "needs a token" in call(BOTH, "GET", "/api/v1/status", None, None).json()["error"]


def test_a_refused_write_changes_nothing() -> None:
    from routepilot.api.fake import FakeView

    view = FakeView()
    c = make_client(BOTH, view)
    c.post("/api/v1/control/pause", headers={"Authorization": f"Bearer {READ}"})
    assert view.paused is False


def test_openapi_and_docs_are_public() -> None:
    c = make_client(BOTH)
    assert c.get("/api/v1/openapi.json").status_code == 200
    assert c.get("/api/v1/docs").status_code == 200
