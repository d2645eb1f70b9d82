"""`routepilot users …` and `routepilot audit`: on the host's database, and through the API."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from tests.unit.api.conftest import WRITE
from typer.testing import CliRunner

from routepilot.api import client as api_client
from routepilot.api.app import create_app
from routepilot.api.config import ApiConfig
from routepilot.api.fake import FakeView
from routepilot.cli.main import app as cli_app
from routepilot.store import SqliteStore, StoreConfig

CONFIG = """
routers:
  - {{name: edge, address: 100.66.1.1, asn: 65000}}
providers:
  - {{name: isp1, asn: 65001, next_hops: [100.64.1.2], capacity_mbps: 1000}}
  - {{name: isp2, asn: 65002, next_hops: [100.64.2.2], capacity_mbps: 1000}}
store: {{path: {db}}}
"""


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def run(*args: str, stdin: str | None = None):
    return CliRunner().invoke(cli_app, list(args), input=stdin)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "rp.yaml"
    path.write_text(CONFIG.format(db=tmp_path / "rp.db"))
    return path


def test_the_first_admin_is_made_on_the_host_and_its_token_works(config: Path) -> None:
    r = run("users", "add", "root", "--role", "admin", "--config", str(config))
    assert r.exit_code == 0, r.output
    assert run("users", "add", "keeper", "--role", "viewer", "--config", str(config)).exit_code == 0
    lines = r.output.strip().splitlines()
    assert lines[0] == "added root (admin); API token, shown this once:"
    token = lines[1]
    assert token.startswith("rp_")
    r = run("users", "list", "--config", str(config))
    assert (
        r.output.splitlines()[1].startswith("root")
        and "admin" in r.output
        and "token only" in r.output
    )
    # The token is only in the output: the database holds its hash.
    assert token.encode() not in (config.parent / "rp.db").read_bytes()
    # The daemon's API (over the same database) takes it as an admin.
    store = SqliteStore.open(StoreConfig(path=str(config.parent / "rp.db")))
    try:
        from routepilot.api.accounts import Accounts

        app = create_app(FakeView(), ApiConfig(), accounts=Accounts(store))
        c = TestClient(app)
        known = app.state.test_known["tokens"]  # conftest's audit check learns host-made tokens
        known[token] = "root"
        assert (
            c.get("/api/v1/users", headers={"Authorization": f"Bearer {token}"}).json()[1]["name"]
            == "root"
        )
        # Rotated and removed on the host, beside the running daemon (which holds the lock).
        r = run("users", "token", "root", "--config", str(config))
        assert r.exit_code == 0, r.output
        new = r.output.strip().splitlines()[1]
        known.pop(token)
        known[new] = "root"
        assert c.post("/api/v1/control/pause", headers=bearer(token)).status_code == 401
        assert c.post("/api/v1/control/pause", headers=bearer(new)).status_code == 200
        r = run("audit", "--config", str(config), "--json")
        assert r.exit_code == 0, r.output
        rows = json.loads(r.output)
        assert [(x["user"], x["action"], x["status"]) for x in rows] == [
            ("root", "pause", 200), (None, "pause", 401),
        ]  # fmt: skip
        assert run("users", "remove", "root", "--config", str(config)).exit_code == 0
        known.pop(new)
        assert c.get("/api/v1/users", headers=bearer(new)).status_code == 401
        assert c.post("/api/v1/control/resume", headers=bearer(new)).status_code == 401
        app.state.closing_store = store  # closed after the audit check of conftest
    except BaseException:
        store.close()
        raise


def test_host_errors_are_one_line(config: Path) -> None:
    r = run("users", "add", "x", "--role", "root", "--config", str(config))
    assert r.exit_code == 1 and "unknown role 'root'" in r.output
    r = run("users", "remove", "ghost", "--config", str(config))
    assert r.exit_code == 1 and "no user 'ghost'" in r.output
    r = run("users", "add", "pat", "--role", "viewer", "--password-stdin", "--config", str(config),
            stdin="short\n")  # fmt: skip
    assert r.exit_code == 1 and "password" in r.output


@pytest.fixture
def remote(monkeypatch) -> TestClient:
    api = create_app(FakeView(), ApiConfig(write_token=WRITE))

    def client(base_url: str, headers: dict, timeout: float) -> httpx.Client:
        return TestClient(api, base_url=base_url, headers=headers)

    monkeypatch.setattr(api_client.httpx, "Client", client)
    for name in ("ROUTEPILOT_API", "ROUTEPILOT_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return TestClient(api)


def test_users_through_the_api(remote: TestClient) -> None:
    r = run("users", "add", "vic", "--role", "operator", "--password-stdin", "--token", WRITE,
            stdin="correct horse battery\n")  # fmt: skip
    assert r.exit_code == 0, r.output
    token = r.output.strip().splitlines()[1]
    r = run("users", "list", "--token", WRITE)
    assert "vic" in r.output and "operator" in r.output and "dashboard login" in r.output
    r = run("pause", "--token", token)
    assert r.exit_code == 0, r.output
    r = run("audit", "--token", WRITE)
    assert r.exit_code == 0
    first, second = r.output.strip().splitlines()[:2]
    assert "vic" in first and "pause" in first and "200 ok" in first
    assert "api.write_token" in second and "add_user" in second
    r = run("users", "add", "x", "--role", "admin", "--token", token)
    assert r.exit_code == 1 and "needs the admin role" in r.output
