"""The API commands in-process (typer's runner, the app behind httpx): tables, --json,
one-line errors. tests/integration/api/ runs the same CLI as a subprocess over TCP."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi.testclient import TestClient
from tests.unit.api.conftest import READ, WRITE
from typer.testing import CliRunner

from routepilot.api import client as api_client
from routepilot.api.app import create_app
from routepilot.api.config import ApiConfig
from routepilot.api.fake import FakeView
from routepilot.cli.main import app as cli_app

REAL_CLIENT = httpx.Client


@pytest.fixture
def view(monkeypatch) -> FakeView:
    """Every httpx.Client the CLI makes talks to the app in-process."""
    view = FakeView()
    api = create_app(view, ApiConfig(write_token=WRITE, read_token=READ))

    def client(base_url: str, headers: dict, timeout: float) -> httpx.Client:
        return TestClient(api, base_url=base_url, headers=headers)

    monkeypatch.setattr(api_client.httpx, "Client", client)
    for name in ("ROUTEPILOT_API", "ROUTEPILOT_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return view


def run(*args: str, token: str = READ):
    return CliRunner().invoke(cli_app, [*args, "--token", token])


def test_status_table(view) -> None:
    r = run("status")
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[0] == "routepilot 0.1.0, up 1h 0m"
    assert "control     active, dry-run off" in r.output


def test_providers_table_and_json(view) -> None:
    r = run("providers")
    assert r.exit_code == 0
    head, *rows = r.output.splitlines()
    assert head.split() == [
        "PROVIDER", "ASN", "SESSION", "HEALTH", "RTT", "LOSS", "RATE", "UTIL", "CAPACITY",
        "COMMIT", "P95", "PREFIXES",
    ]  # fmt: skip
    assert rows[2].split()[:4] == ["isp3", "65003", "up", "ok"]
    data = json.loads(run("providers", "--json").output)
    assert data == json.loads(json.dumps(view.providers()))


def test_decisions_filters_reach_the_api(view) -> None:
    r = run("decisions", "--provider", "isp2", "--reason", "loss", "--json")
    rows = json.loads(r.output)
    assert rows and all(d["reason"] == "loss" for d in rows)
    assert run("decisions", "--since", "1m").output.strip().endswith("(no decisions match)")


def test_explain_marks_exit_and_default(view) -> None:
    r = run("explain", "198.18.0.0/24")
    assert r.exit_code == 0
    lines = r.output.splitlines()
    assert lines[0] == (
        "198.18.0.0/24: 20.0 Mb/s, exit isp2 (BGP default isp1), reason latency, flags -"
    )
    assert any(line.startswith("isp1 (default)") for line in lines)
    assert any(line.startswith("isp2 (exit)") for line in lines)


def test_routes_shows_the_covering_prefix_bgps_pick_and_the_injection(view) -> None:
    r = run("routes", "198.18.0.9")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0] == "198.18.0.9/32 is covered by 198.18.0.0/24; BGP picks isp1"
    assert lines[1].startswith("routepilot announces via isp2: next hop 100.64.2.2")
    best = [line for line in lines if line.startswith("*")]
    assert len(best) == 1 and " isp1 " in best[0]
    assert json.loads(run("routes", "198.18.0.0/24", "--json").output)["bgp_choice"] == "isp1"


def test_routers_table(view) -> None:
    r = run("routers")
    assert r.exit_code == 0, r.output
    head, row = r.output.splitlines()[:2]
    assert head.split() == [
        "ROUTER",
        "ADDRESS",
        "SESSION",
        "SOURCE",
        "SYNCED",
        "PATHS",
        "PROVIDERS",
        "ANNOUNCED",
    ]
    assert row.split()[:5] == ["edge", "100.64.0.1", "up", "addpath", "yes"]


def test_actions(view) -> None:
    r = run("pin", "198.18.4.0/24", "isp3", token=WRITE)
    assert r.output.strip() == (
        "198.18.4.0/24: exit isp3 (BGP default isp2), reason pinned, flags pinned:isp3"
    )
    assert run("dry-run", "ON", token=WRITE).output.strip() == "control active, dry-run on"
    assert view.dry_run


def test_errors_are_one_line_and_exit_1(view) -> None:
    r = run("pause")
    assert r.exit_code == 1
    assert r.output.strip() == (
        "error: the API answered 403: the read-only token cannot change anything: "
        "use the write token"
    )
    r = run("dry-run", "sometimes", token=WRITE)
    assert r.exit_code == 2 and "dry-run takes on or off" in r.output


def test_unreachable(monkeypatch) -> None:
    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused")

    def client(base_url: str, headers: dict, timeout: float) -> httpx.Client:
        return REAL_CLIENT(base_url=base_url, transport=httpx.MockTransport(refused))

    monkeypatch.setattr(api_client.httpx, "Client", client)
    r = CliRunner().invoke(cli_app, ["status", "--api", "http://10.0.0.1:9"])
    assert r.exit_code == 1, repr(r.exception)
    assert r.output.strip() == (
        "error: cannot reach the routepilot API at http://10.0.0.1:9 (connection refused): "
        "is the controller running? (set --api or ROUTEPILOT_API)"
    )


def test_explain_names_the_rule_and_the_allowlist_entry(view, monkeypatch) -> None:
    plain = view.prefix

    def with_policy(prefix: str) -> dict:
        return {
            **plain(prefix),
            "policy": {
                "rule": "pin-s", "action": "static", "allowlist": "198.18.0.0/20",
                "inside_allowlist": True,
                "text": "rule pin-s (prefix 198.18.0.0/24: static isp1)",
                "note": "static isp1 not held: rtt 92.0 ms above max_rtt_ms 80",
            },
        }  # fmt: skip

    monkeypatch.setattr(view, "prefix", with_policy)
    r = run("explain", "198.18.0.0/24")
    assert r.exit_code == 0
    assert (
        "policy: rule pin-s (prefix 198.18.0.0/24: static isp1); allowlist entry "
        "198.18.0.0/20; static isp1 not held: rtt 92.0 ms above max_rtt_ms 80"
    ) in r.output.splitlines()
    assert json.loads(run("explain", "198.18.0.0/24", "--json").output)["policy"]["rule"] == "pin-s"
