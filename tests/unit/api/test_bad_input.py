"""Bad input gets a 4xx with one clear sentence in ``{"error": ...}``, never a 500."""

from __future__ import annotations

import pytest
from tests.unit.api.conftest import make_client

from routepilot.api.config import ApiConfig

CASES = [
    ("GET", "/api/v1/prefixes?top=0", None, 400, "query parameter 'top'"),
    ("GET", "/api/v1/prefixes?top=1000000", None, 400, "less than or equal to 10000"),
    ("GET", "/api/v1/prefixes?top=ten", None, 400, "valid integer"),
    ("GET", "/api/v1/prefixes/not-a-prefix", None, 400, "bad prefix 'not-a-prefix'"),
    ("GET", "/api/v1/prefixes/198.18.3.0/33", None, 400, "bad prefix"),
    ("GET", "/api/v1/prefixes/" + "1" * 500, None, 400, "bad prefix"),
    ("GET", "/api/v1/prefixes/198.18.3.0/24/extra", None, 404, "no such endpoint"),
    ("GET", "/api/v1/prefixes/203.0.113.0/24", None, 404, "unknown prefix"),
    ("GET", "/api/v1/decisions?since=yesterday", None, 400, "bad since '"),
    ("GET", "/api/v1/decisions?since=-5", None, 400, "bad since '"),
    ("GET", "/api/v1/decisions?since=nan", None, 400, "bad since '"),
    ("GET", "/api/v1/decisions?since=1h&until=2h", None, 400, "is after until"),
    ("GET", "/api/v1/decisions?limit=0", None, 400, "query parameter 'limit'"),
    ("GET", "/api/v1/decisions?limit=99999999", None, 400, "query parameter 'limit'"),
    ("GET", "/api/v1/decisions?provider=isp9", None, 404, "unknown provider 'isp9' (known"),
    ("GET", "/api/v1/decisions?provider=%00", None, 400, "bad provider"),
    ("GET", "/api/v1/decisions?reason=DROP%20TABLE", None, 400, "bad reason 'DROP TABLE'"),
    ("GET", "/api/v1/decisions?prefix=300.1.1.0/24", None, 400, "bad prefix"),
    ("GET", "/api/v1/measurements?step=0", None, 400, "query parameter 'step'"),
    ("GET", "/api/v1/measurements?since=52w&step=1", None, 400, "at most 10000"),
    ("GET", "/api/v1/measurements?since=2h&until=3h", None, 400, "is after until"),
    ("GET", "/api/v1/utilization?provider=nope", None, 404, "unknown provider"),
    ("GET", "/api/v1/utilization?until=9e99", None, 400, "bad until"),
    ("POST", "/api/v1/prefixes/198.18.1.0/24/pin", None, 400, "request body"),
    ("POST", "/api/v1/prefixes/198.18.1.0/24/pin", {}, 400, "body field 'provider'"),
    ("POST", "/api/v1/prefixes/198.18.1.0/24/pin", {"provider": ""}, 400, "provider"),
    ("POST", "/api/v1/prefixes/198.18.1.0/24/pin", {"provider": "a b"}, 400, "bad provider"),
    ("POST", "/api/v1/prefixes/198.18.1.0/24/pin", {"provider": "isp1", "x": 1}, 400, "'x'"),
    ("POST", "/api/v1/prefixes/198.18.1.0/24/pin", {"provider": "isp9"}, 404, "unknown provider"),
    ("POST", "/api/v1/prefixes/bogus/pin", {"provider": "isp1"}, 400, "bad prefix"),
    ("POST", "/api/v1/prefixes/203.0.113.0/24/exclude", None, 404, "unknown prefix"),
    ("PUT", "/api/v1/control/dry-run", {"enabled": "perhaps"}, 400, "body field 'enabled'"),
    ("PUT", "/api/v1/control/dry-run", [1, 2], 400, "request body"),
    ("POST", "/api/v1/control/dry-run", {"enabled": True}, 405, "method POST not allowed"),
    ("GET", "/api/v1/control/pause", None, 405, "method GET not allowed"),
    ("GET", "/api/v1/nothing-here", None, 404, "no such endpoint"),
    ("GET", "/api/v2/status", None, 404, "no such endpoint"),
    ("GET", "/api/v1/utilization?provder=isp1", None, 400, "unknown query parameter 'provder'"),
    ("GET", "/api/v1/status?x=1", None, 400, "(this endpoint takes: none)"),
]


@pytest.mark.parametrize("method,url,body,status,fragment", CASES)
def test_bad_input(client, method, url, body, status, fragment) -> None:
    r = client.request(method, url, json=body)
    assert r.status_code == status, r.text
    data = r.json()
    assert list(data) == ["error"]
    assert fragment in data["error"]


def test_invalid_json_body(client) -> None:
    r = client.post(
        "/api/v1/prefixes/198.18.1.0/24/pin",
        content=b'{"provider": ',
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 400
    assert r.json() == {"error": "request body: invalid JSON"}


def test_a_view_that_breaks_the_contract_is_a_clear_500(view) -> None:

    view.status = lambda: {"version": "x"}
    r = make_client(ApiConfig(), view).get("/api/v1/status")
    assert r.status_code == 500
    assert "does not match the API contract" in r.json()["error"]


def test_a_view_that_crashes_is_a_json_500(view) -> None:

    def boom() -> list:
        raise RuntimeError("disk on fire")

    view.providers = boom
    r = make_client(ApiConfig(), view).get("/api/v1/providers")
    assert r.status_code == 500
    assert r.json() == {"error": "internal error: RuntimeError (logged)"}
