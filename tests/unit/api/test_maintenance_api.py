"""Maintenance windows, the control journal and reloads over the API and the CLI (FakeView)."""

from __future__ import annotations

import json

import pytest
from tests.unit.api.conftest import READ, WRITE
from tests.unit.api.test_cli_api import run
from tests.unit.api.test_cli_api import view as cli_view  # noqa: F401 (fixture)

from routepilot.cli.maintenance_cmd import parse_for

pytestmark = pytest.mark.unit


def test_start_list_end_a_window(client) -> None:
    r = client.post(
        "/api/v1/maintenance",
        json={"provider": "isp2", "duration_s": 1800, "drain": True, "reason": "fibre"},
    )
    assert r.status_code == 200, r.text
    w = r.json()
    assert w["id"] == 1 and w["provider"] == "isp2" and w["drain"] and w["state"] == "active"
    assert w["end"] - w["start"] == 1800 and w["source"] == "api"
    assert [x["id"] for x in client.get("/api/v1/maintenance").json()] == [1]
    r = client.delete("/api/v1/maintenance/1")
    assert r.status_code == 200 and r.json()["state"] == "ended"
    kinds = [e["kind"] for e in client.get("/api/v1/events").json()]
    assert kinds == ["maintenance_end", "maintenance_start"]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"provider": "nope", "duration_s": 60}, 404, "unknown provider"),
        ({"provider": "isp1"}, 400, "duration_s or until"),
        ({"provider": "isp1", "duration_s": 60, "until": 2e9}, 400, "duration_s or until"),
        ({"provider": "isp1", "until": 1.0}, 400, "in the future"),
        ({"provider": "isp1", "duration_s": -5}, 400, "duration_s"),
        ({"provider": "isp1", "duration_s": 60, "colour": "red"}, 400, "colour"),
    ],
)
def test_bad_windows_get_a_clear_error(client, body, status, message) -> None:
    r = client.post("/api/v1/maintenance", json=body)
    assert r.status_code == status, r.text
    assert message in r.json()["error"]


def test_windows_and_reloads_need_the_write_token(client) -> None:
    client.headers["Authorization"] = f"Bearer {READ}"
    assert client.get("/api/v1/maintenance").status_code == 200
    assert (
        client.post("/api/v1/maintenance", json={"provider": "isp1", "duration_s": 60}).status_code
        == 403
    )  # noqa: E501
    assert client.delete("/api/v1/maintenance/1").status_code == 403
    assert client.post("/api/v1/control/reload").status_code == 403
    assert client.put("/api/v1/config", json={}).status_code == 403
    assert client.delete("/api/v1/maintenance/0").status_code in (400, 403)


def test_put_config_refuses_an_invalid_configuration_with_its_key(client) -> None:
    r = client.put("/api/v1/config", json={"policy": {"latency_threshold_ms": -1}})
    assert r.status_code == 400
    assert r.json()["error"].startswith("request body: policy.latency_threshold_ms:")
    assert client.get("/api/v1/events").json()[0]["kind"] == "config_refused"


def test_cli_maintenance_and_reload(cli_view) -> None:  # noqa: F811
    r = run("maintenance", "start", "isp1", "--for", "30m", "--drain", "--reason", "tkt 42",
            token=WRITE)  # fmt: skip
    assert r.exit_code == 0, r.output
    assert r.output.startswith("#1 isp1 active drain") and "(tkt 42)" in r.output
    r = run("maintenance", "list")
    assert r.exit_code == 0
    head, row = r.output.splitlines()
    assert head.split()[:4] == ["ID", "PROVIDER", "STATE", "DRAIN"]
    assert row.split()[:4] == ["1", "isp1", "active", "yes"]
    data = json.loads(run("maintenance", "list", "--json").output)
    assert data[0]["end"] - data[0]["start"] == 1800
    r = run("maintenance", "end", "1", token=WRITE)
    assert r.exit_code == 0 and "ended" in r.output
    r = run("maintenance", "end", "7", token=WRITE)
    assert r.exit_code == 1 and "no maintenance window 7" in r.output
    r = run("maintenance", "start", "isp1", "--for", "soon", token=WRITE)
    assert r.exit_code == 2 and "bad duration" in r.output
    r = run("reload", token=WRITE)
    assert r.exit_code == 0 and r.output.strip() == "configuration applied: nothing changed"


def test_durations() -> None:
    assert parse_for("90") == 90 and parse_for("30m") == 1800 and parse_for("1h30m") == 5400
    assert parse_for("1d") == 86400 and parse_for("0.5h") == 1800
    for bad in ("", "m", "1y", "0s", "-5m"):
        with pytest.raises(ValueError):
            parse_for(bad)
