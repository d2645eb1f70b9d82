"""Receivers' configuration: secrets come from files or the environment and are never
shown (config dump, /api/v1/config); incomplete receivers are refused with a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from routepilot.api.app import create_app
from routepilot.api.config import ApiConfig
from routepilot.api.fake import FakeView
from routepilot.config import Config, ConfigError, dump_yaml, load_text

SMTP_PASSWORD = "smtp-s3cret-pw"
PD_KEY = "pd-routing-key-0123456789abcdef"
AUTH_KEY = "v3-auth-s3cret"
PRIV_KEY = "v3-priv-s3cret"
COMMUNITY = "c0mmunity-s3cret"
SLACK_URL = "https://hooks.slack.example/services/T0/B0/s3cretpath"
SECRETS = (SMTP_PASSWORD, PD_KEY, AUTH_KEY, PRIV_KEY, COMMUNITY, "s3cretpath")


def yaml_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "smtp").write_text(SMTP_PASSWORD + "\n")
    (tmp_path / "auth").write_text(AUTH_KEY)
    (tmp_path / "priv").write_text(PRIV_KEY)
    monkeypatch.setenv("RP_PD_KEY", PD_KEY)
    monkeypatch.setenv("RP_COMMUNITY", COMMUNITY)
    (tmp_path / "slack-url").write_text(SLACK_URL + "\n")
    return f"""
alerts:
  webhooks:
    - url_file: {tmp_path / "slack-url"}
      preset: slack
      events: [provider_outage, bgp_session_down]
    - preset: pagerduty
      routing_key_env: RP_PD_KEY
      min_severity: critical
  email:
    - smtp_host: mail.example.net
      username: routepilot
      password_file: {tmp_path / "smtp"}
      from: routepilot@example.net
      to: [noc@example.net]
      rate_limit: {{max_alerts: 10, per_s: 3600}}
      quiet_hours: {{start: "22:00", end: "07:00", timezone: Europe/Paris}}
  snmp_traps:
    - host: 192.0.2.10
      community_env: RP_COMMUNITY
    - host: 192.0.2.11
      version: "3"
      user: rp
      engine_id: "0x8000000001020304"
      auth_key_file: {tmp_path / "auth"}
      priv_key_file: {tmp_path / "priv"}
"""


def test_secrets_are_read_and_never_shown(tmp_path: Path, monkeypatch) -> None:
    config = load_text(yaml_text(tmp_path, monkeypatch), Config)
    a = config.alerts
    assert a.email[0].password is not None
    assert a.email[0].password.get_secret_value() == SMTP_PASSWORD
    assert a.email[0].from_ == "routepilot@example.net"
    assert a.webhooks[1].routing_key.get_secret_value() == PD_KEY  # type: ignore[union-attr]
    assert a.webhooks[1].target == "https://events.pagerduty.com/v2/enqueue"
    assert a.webhooks[0].target == SLACK_URL
    assert a.webhooks[0].shown == f"(url from {tmp_path / 'slack-url'})"
    assert a.snmp_traps[0].community.get_secret_value() == COMMUNITY  # type: ignore[union-attr]
    assert a.snmp_traps[1].priv_key.get_secret_value() == PRIV_KEY  # type: ignore[union-attr]
    shown = [dump_yaml(config), repr(config), str(config.model_dump(mode="json"))]
    view = FakeView()
    view.config = lambda: config.model_dump(mode="json")  # type: ignore[method-assign]
    app = create_app(view, ApiConfig(), static_dir=Path("/nonexistent"))
    body = TestClient(app).get("/api/v1/config")
    assert body.status_code == 200
    shown.append(body.text)
    for text in shown:
        for secret in SECRETS:
            assert secret not in text
    assert body.json()["alerts"]["email"][0]["from"] == "routepilot@example.net"
    # The dump loads back to the same configuration (secrets read again from their files).
    assert load_text(dump_yaml(config), Config) == config


@pytest.mark.parametrize(
    "receiver,message",
    [
        ("webhooks: [{preset: pagerduty}]", "routing_key_file or routing_key_env"),
        ("webhooks: [{preset: slack}]", "a slack webhook needs url, url_file or url_env"),
        ("webhooks: [{url: 'http://a/b', url_env: HOME}]", "one of url, url_file and url_env"),
        ("webhooks: [{url_env: HOME}]", "not an http"),
        (
            "email: [{smtp_host: m, username: u, from: a@b.c, to: [n@b.c]}]",
            "password_file or password_env",
        ),
        ("email: [{smtp_host: m, from: a@b.c, to: [not-an-address]}]", "not an email address"),
        ("email: [{smtp_host: m, from: a@b.c, to: [n@b.c], password: x}]", "password"),
        ("snmp_traps: [{host: h}]", "community_file or community_env"),
        ("snmp_traps: [{host: h, version: '3', user: u}]", "engine_id"),
        ("snmp_traps: [{host: h, community: public}]", "community"),
        (
            "email: [{smtp_host: m, from: a@b.c, to: [n@b.c], password_file: /nonexistent/pw}]",
            "cannot read /nonexistent/pw",
        ),
    ],
)
def test_incomplete_receivers_are_refused(receiver: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_text(f"alerts:\n  {receiver}\n", Config)


def test_short_v3_passphrase_is_refused(tmp_path: Path) -> None:
    (tmp_path / "k").write_text("short")
    text = (
        "alerts:\n  snmp_traps: [{host: h, version: '3', user: u, engine_id: '8000000001',"
        f" auth_key_file: {tmp_path / 'k'}, priv_key_file: {tmp_path / 'k'}}}]\n"
    )
    with pytest.raises(ConfigError, match="at least 8 characters"):
        load_text(text, Config)
