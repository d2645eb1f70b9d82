"""The CLI as a user runs it (a subprocess) against a real API server on loopback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import httpx
from tests.integration.api.conftest import READ, WRITE
from tests.unit.api.test_endpoints import STATUS_KEYS


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ROUTEPILOT_")}
    return subprocess.run(
        [sys.executable, "-m", "routepilot.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**base, **(env or {})},
    )


def test_reads_print_tables(api_server) -> None:
    common = ["--api", api_server.url, "--token", READ]
    r = cli("status", *common)
    assert r.returncode == 0, r.stderr
    assert "routepilot 0.1.0" in r.stdout and "edge established" in r.stdout
    r = cli("providers", *common)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[:4] == ["PROVIDER", "ASN", "SESSION", "HEALTH"]
    assert [line.split()[0] for line in lines[1:]] == ["isp1", "isp2", "isp3"]
    r = cli("prefixes", "--top", "3", *common)
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 4
    assert r.stdout.splitlines()[1].startswith("198.18.0.0/24")
    r = cli("decisions", "--since", "10m", *common)
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 1 + 5
    r = cli("explain", "198.18.3.0/24", *common)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("198.18.3.0/24: ")
    assert "isp1 (default)" in r.stdout and "(exit)" in r.stdout


def test_json_output_is_the_api_contract(api_server) -> None:
    common = ["--api", api_server.url, "--token", READ, "--json"]
    status = json.loads(cli("status", *common).stdout)
    assert list(status) == STATUS_KEYS  # the same contract as the API's own test
    providers = json.loads(cli("providers", *common).stdout)
    assert [p["name"] for p in providers] == ["isp1", "isp2", "isp3"]
    prefixes = json.loads(cli("prefixes", "--top", "2", *common).stdout)
    assert [p["prefix"] for p in prefixes] == ["198.18.0.0/24", "198.18.1.0/24"]
    decisions = json.loads(cli("decisions", "--reason", "outage", *common).stdout)
    assert decisions and {d["reason"] for d in decisions} == {"outage"}
    detail = json.loads(cli("explain", "198.18.3.0_24", *common).stdout)
    assert detail["prefix"] == "198.18.3.0/24" and len(detail["measurements"]) == 3


def test_actions_change_the_controller(api_server, fake_view) -> None:
    common = ["--api", api_server.url, "--token", WRITE]
    r = cli("pin", "198.18.5.0/24", "isp3", *common)
    assert r.returncode == 0, r.stderr
    assert "exit isp3" in r.stdout and "pinned:isp3" in r.stdout
    assert fake_view._prefixes["198.18.5.0/24"]["pinned"] == "isp3"
    assert cli("unpin", "198.18.5.0/24", *common).returncode == 0
    assert fake_view._prefixes["198.18.5.0/24"]["pinned"] is None
    assert cli("exclude", "198.18.5.0/24", *common).returncode == 0
    assert fake_view._prefixes["198.18.5.0/24"]["excluded"] is True
    assert cli("include", "198.18.5.0/24", *common).returncode == 0
    assert cli("pause", *common).stdout.strip() == "control paused, dry-run off"
    assert fake_view.paused
    assert cli("dry-run", "on", *common).stdout.strip() == "control paused, dry-run on"
    assert cli("resume", *common).stdout.strip() == "control active, dry-run on"
    status = json.loads(cli("dry-run", "off", "--json", *common).stdout)
    assert status["dry_run"] is False and not fake_view.dry_run


def test_environment_gives_the_api_and_token(api_server, fake_view) -> None:
    env = {"ROUTEPILOT_API": api_server.url, "ROUTEPILOT_TOKEN": WRITE}
    r = cli("pause", env=env)
    assert r.returncode == 0, r.stderr
    assert fake_view.paused


def test_errors_are_one_line(api_server, fake_view) -> None:
    r = cli("pause", "--api", api_server.url, "--token", READ)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        "error: the API answered 403: the read-only token cannot change anything: "
        "use the write token"
    ]
    assert not fake_view.paused
    r = cli("status", "--api", api_server.url)
    assert r.returncode == 1 and "401" in r.stderr and len(r.stderr.splitlines()) == 1
    r = cli("explain", "203.0.113.0/24", "--api", api_server.url, "--token", READ)
    assert r.stderr.strip() == "error: the API answered 404: unknown prefix 203.0.113.0/24"
    r = cli("pin", "198.18.1.0/24", "nope", "--api", api_server.url, "--token", WRITE)
    assert r.stderr.strip() == "error: the API answered 404: unknown provider 'nope'"
    r = cli("decisions", "--since", "soon", "--api", api_server.url, "--token", READ)
    assert r.returncode == 1 and "bad since 'soon'" in r.stderr


def test_unreachable_api_is_one_clear_line() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = cli("status", "--api", f"http://127.0.0.1:{port}")
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: cannot reach the routepilot API at http://127.0.0.1:{port}")
    assert "connection refused" in lines[0]


def test_metrics_over_http(api_server) -> None:
    r = httpx.get(f"{api_server.url}/metrics", headers={"Authorization": f"Bearer {READ}"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert 'routepilot_provider_healthy{provider="isp2"} 1' in r.text


def test_api_fake_command_serves(tmp_path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = {k: v for k, v in os.environ.items() if not k.startswith("ROUTEPILOT_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "routepilot.cli.main", "api", "fake", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=base,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/api/v1/status", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read()
                assert time.monotonic() < deadline, "api fake did not start"
                time.sleep(0.1)
        assert r.status_code == 200 and r.json()["sessions"] == {"edge": "established"}
        r = httpx.post(f"http://127.0.0.1:{port}/api/v1/control/pause")
        assert r.status_code == 403
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stderr.close()


def test_keep_alive_answers_do_not_wait_for_a_delayed_ack(api_server) -> None:
    """Without TCP_NODELAY each keep-alive answer took ~44 ms (a delayed ACK); now ~2.5 ms."""
    with httpx.Client(base_url=api_server.url, headers={"Authorization": f"Bearer {READ}"}) as c:
        c.get("/api/v1/status")
        times = []
        for _ in range(20):
            t = time.perf_counter()
            assert c.get("/api/v1/status").status_code == 200
            times.append(time.perf_counter() - t)
    assert sorted(times)[10] < 0.02, times


def test_a_port_in_use_is_a_clear_error_at_start(api_server) -> None:
    import asyncio

    from routepilot.api.app import create_app
    from routepilot.api.config import ApiConfig
    from routepilot.api.fake import FakeView
    from routepilot.api.server import ApiServer

    busy = ApiServer(create_app(FakeView(), ApiConfig()), "127.0.0.1", api_server.server.port)
    try:
        asyncio.run(busy.start())
    except OSError as exc:
        assert f"api cannot listen on 127.0.0.1:{api_server.server.port}" in str(exc)
    else:
        raise AssertionError("a second server bound the same port")
