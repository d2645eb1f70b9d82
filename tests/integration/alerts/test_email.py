"""Email alerts against a real SMTP server on 127.0.0.1 (aiosmtpd) that requires STARTTLS
with a certificate made for the test, then AUTH: the message arrives, threaded; a wrong
password or an untrusted certificate fails at once (no retries), and nothing is ever sent
in clear text."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from aiosmtpd.controller import Controller
from tests.alertrecv import SmtpServer, TrapDaemon, free_port, wait_for

from routepilot.alerts.component import Alerting
from routepilot.api.fake import FakeView
from routepilot.config.alerts import AlertsConfig, EmailConfig

USER, PASSWORD = "routepilot", "correct horse battery staple"


def email_config(tmp_path: Path, smtp: SmtpServer, **overrides) -> EmailConfig:
    (tmp_path / "pw").write_text(overrides.pop("password", PASSWORD) + "\n")
    fields = {
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp.port,
        "username": USER,
        "password_file": str(tmp_path / "pw"),
        "tls_ca_file": str(smtp.cert),
        "from": "routepilot@ctl.example.net",
        "to": ["noc@example.net", "oncall@example.net"],
        "timeout_s": 5,
    }
    return EmailConfig.model_validate({**fields, **overrides})


def outage_and_back(config: AlertsConfig) -> Alerting:
    async def run() -> Alerting:
        alerting = Alerting(config)
        await alerting.start()
        view = FakeView()
        status, providers = view.status(), view.providers()
        providers[1]["loss"] = 1.0
        alerting.observe(status, providers)
        providers[1]["loss"] = 0.0
        status["now"] += 10
        alerting.observe(status, providers)
        assert await alerting.sender.drain(20)
        await alerting.stop()
        return alerting

    return asyncio.run(run())


def test_firing_and_resolved_arrive_over_starttls_with_auth(tmp_path: Path) -> None:
    with SmtpServer(tmp_path, USER, PASSWORD) as smtp:
        config = AlertsConfig(email=[email_config(tmp_path, smtp)], clear_after=1)
        alerting = outage_and_back(config)
    assert alerting.sender.metrics.sent == {"email/0": 2}
    assert (
        smtp.envelopes
        == [("routepilot@ctl.example.net", ["noc@example.net", "oncall@example.net"])] * 2
    )
    firing, resolved = smtp.messages
    assert firing["Subject"] == "[routepilot] FIRING critical provider_outage isp2"
    assert resolved["Subject"] == "[routepilot] RESOLVED critical provider_outage isp2"
    assert firing["To"] == "noc@example.net, oncall@example.net"
    assert firing["X-Routepilot-Event"] == "provider_outage"
    body = firing.get_content().replace("\r\n", "\n")  # CRLF on the wire (RFC 5321)
    assert body.startswith("provider isp2 is out: 100% probe loss\n")
    assert "session_up  True" in body
    # The resolution is a reply to the firing: mail clients show them as one thread.
    assert resolved["In-Reply-To"] == firing["Message-ID"] == resolved["References"]
    assert smtp.auth_failures == 0


def test_a_wrong_password_fails_once_without_retrying(tmp_path: Path) -> None:
    with SmtpServer(tmp_path, USER, PASSWORD) as smtp:
        config = AlertsConfig(
            email=[email_config(tmp_path, smtp, password="wrong password")],
            clear_after=1,
            backoff_initial_s=0.01,
        )
        alerting = outage_and_back(config)
    m = alerting.sender.metrics
    assert m.failed == {"email/0": 2} and m.retries == {} and smtp.messages == []
    assert len(smtp.failed_sessions) == 2  # one connection per alert: no retry


def test_an_untrusted_certificate_is_refused(tmp_path: Path) -> None:
    with SmtpServer(tmp_path, USER, PASSWORD) as smtp:
        # No tls_ca_file: the system's CAs, which did not sign the test's certificate.
        config = AlertsConfig(
            email=[email_config(tmp_path, smtp, tls_ca_file=None)],
            clear_after=1,
            backoff_initial_s=0.01,
        )
        alerting = outage_and_back(config)
    m = alerting.sender.metrics
    assert m.failed == {"email/0": 2} and m.retries == {}
    assert smtp.messages == [] and smtp.auth_failures == 0  # the password never went out


def test_a_server_without_starttls_gets_nothing(tmp_path: Path) -> None:
    # A plain SMTP listener that offers no STARTTLS: routepilot must not fall back.
    got: list[bytes] = []

    class Handler:
        async def handle_DATA(self, smtp, session, envelope):  # noqa: N802
            got.append(envelope.content)
            return "250 OK"

    port = free_port()
    plain = Controller(Handler(), hostname="127.0.0.1", port=port)
    plain.start()
    try:
        cfg = EmailConfig.model_validate(
            {
                "smtp_host": "127.0.0.1",
                "smtp_port": port,
                "from": "routepilot@ctl.example.net",
                "to": ["noc@example.net"],
                "timeout_s": 5,
            }
        )
        alerting = outage_and_back(AlertsConfig(email=[cfg], clear_after=1, backoff_initial_s=0.01))
    finally:
        plain.stop()
    assert got == []
    assert alerting.sender.metrics.failed == {"email/0": 2}
    assert alerting.sender.metrics.retries == {}


def test_alert_test_command_mails_and_traps(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text(PASSWORD)
    (tmp_path / "community").write_text("rp-test")
    trap_dir = tmp_path / "trapd"
    trap_dir.mkdir()
    with (
        SmtpServer(tmp_path, USER, PASSWORD) as smtp,
        TrapDaemon(
            trap_dir,
            community="rp-test",
            user="unused",
            engine_id="8000000001020304",
            auth_key="unused-auth",
            priv_key="unused-priv",
        ) as trapd,
    ):
        cfg = tmp_path / "routepilot.yaml"
        cfg.write_text(
            "alerts:\n"
            "  email:\n"
            f"    - {{smtp_host: 127.0.0.1, smtp_port: {smtp.port}, username: {USER},"
            f" password_file: {tmp_path / 'pw'}, tls_ca_file: {smtp.cert},"
            " from: rp@ctl.example.net, to: [noc@example.net],"
            " events: [provider_outage]}\n"  # filters do not apply to the test alert
            "  snmp_traps:\n"
            f"    - {{host: 127.0.0.1, port: {trapd.port},"
            f" community_file: {tmp_path / 'community'}}}\n"
        )
        p = subprocess.run(
            [sys.executable, "-m", "routepilot.cli.main", "api", "alert-test", "-c", str(cfg)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert p.returncode == 0, p.stderr
        assert p.stdout.splitlines() == [
            f"email 0 127.0.0.1:{smtp.port}: accepted",
            f"snmp 0 127.0.0.1:{trapd.port}: accepted",
        ]
        (msg,) = smtp.messages
        assert msg["Subject"] == "[routepilot] FIRING info test routepilot"
        wait_for(lambda: len(trapd.traps()) == 1, 10, "the test trap")
        assert trapd.traps()[0][".1.3.6.1.6.3.1.1.4.1.0"] == "OID: .1.3.6.1.4.1.32473.0.6"
