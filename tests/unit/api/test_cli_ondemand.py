"""`routepilot probe-now` and `routepilot traceroute-now` in-process against the API over
FakeView with the fake measurer: the tables, --json, and a refusal as one line."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from tests.unit.api.conftest import READ, WRITE
from typer.testing import CliRunner

from routepilot.api import client as api_client
from routepilot.api.app import create_app
from routepilot.api.config import ApiConfig
from routepilot.api.fake import FakeView
from routepilot.api.fake_ondemand import fake_measurer
from routepilot.cli.main import app as cli_app

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def api(monkeypatch) -> FakeView:
    view = FakeView()
    app = create_app(view, ApiConfig(write_token=WRITE, read_token=READ),
                     measurer=fake_measurer(view))  # fmt: skip

    def client(base_url: str, headers: dict, timeout: float) -> TestClient:
        assert timeout >= 60  # a probe train outlasts the usual 10 s
        return TestClient(app, base_url=base_url, headers=headers)

    monkeypatch.setattr(api_client.httpx, "Client", client)
    for name in ("ROUTEPILOT_API", "ROUTEPILOT_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return view


def run(*args: str, token: str = WRITE):
    return CliRunner().invoke(cli_app, [*args, "--token", token])


def test_probe_now_prints_each_provider() -> None:
    r = run("probe-now", "198.18.3.7", "-n", "4", "-p", "isp1", "-p", "isp3")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert (
        lines[0]
        == "icmp probes to 198.18.3.7 (in 198.18.3.0/24), 4 through each provider, 0.4 s apart"
    )
    assert lines[1].split() == [
        "PROVIDER", "SENT", "RECV", "LOSS", "MIN", "MEDIAN", "P90", "MAX", "JITTER(ms)",
        "ANSWERED-BY",
    ]  # fmt: skip
    assert [line.split()[:4] for line in lines[2:]] == [
        ["isp1", "4", "4", "0.0%"], ["isp3", "4", "4", "0.0%"],
    ]  # fmt: skip
    data = json.loads(run("probe-now", "198.18.3.7", "--json").output)
    assert [x["provider"] for x in data["results"]] == ["isp1", "isp2", "isp3"]


def test_traceroute_now_prints_hops_with_their_as() -> None:
    r = run("traceroute-now", "198.18.3.7", "--provider", "isp3", "--kind", "tcp")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0] == "tcp traceroute to 198.18.3.7 through isp3: reached"
    assert [line.split()[:3] for line in lines[2:]] == [
        ["1", "100.64.0.1", "-"], ["2", "100.64.3.2", "AS65003"], ["3", "198.18.3.7", "AS64500"],
    ]  # fmt: skip


def test_refusals_are_one_line() -> None:
    r = run("probe-now", "8.8.8.8")
    assert r.exit_code == 1
    assert r.output.strip().startswith("error: the API answered 403: 8.8.8.8 is outside")
    r = run("traceroute-now", "198.18.3.7", "-p", "isp1", token=READ)
    assert r.exit_code == 1 and "read-only token" in r.output
