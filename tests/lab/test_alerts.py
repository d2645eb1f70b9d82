"""Alerts from the running daemon in the lab (issue 16): a blackholed provider sends an
email that arrives at a local SMTP server (STARTTLS, AUTH), a Slack-shaped webhook, and an
SNMP trap that snmptrapd logs; a receiver whose filter excludes the event gets nothing.

The controller runs in the lab's ``ctl`` namespace, so the receivers listen on that
namespace's loopback: the SMTP and HTTP servers are made in a thread that entered it, and
snmptrapd is started there with ``ip netns exec``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from routepilot.lab.spec import LabSpec
from tests.alertrecv import HttpRecorder, SmtpServer, TrapDaemon, wait_for
from tests.fixtures.netns import netns
from tests.lab.looplab import FAST_EXPORT, TOKEN, LoopLab
from tests.samples import parse

SPEC = {
    "name": "rplabal",
    "providers": [{"name": "isp1", "asn": 65001}, {"name": "isp2", "asn": 65002}],
    "prefixes": 8,
    "prefixes_v6": 2,
    "export": FAST_EXPORT,  # the traffic's first records come sooner
}
SMTP_PORT, HTTP_PORT, TRAP_PORT = 2525, 8099, 16162
USER, PASSWORD, COMMUNITY = "routepilot", "lab smtp password", "lab-traps"
RP = ".1.3.6.1.4.1.32473"


class Receivers:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.stack = contextlib.ExitStack()
        (tmp / "smtp-password").write_text(PASSWORD + "\n")
        (tmp / "community").write_text(COMMUNITY + "\n")
        self.smtp: SmtpServer
        self.http: HttpRecorder
        self.trapd: TrapDaemon

    def start(self, ns: str) -> None:
        with netns(ns):
            self.smtp = self.stack.enter_context(SmtpServer(self.tmp, USER, PASSWORD, SMTP_PORT))
            self.http = self.stack.enter_context(HttpRecorder(status=200, port=HTTP_PORT))
        trap_dir = self.tmp / "trapd"
        trap_dir.mkdir(exist_ok=True)
        self.trapd = self.stack.enter_context(
            TrapDaemon(
                trap_dir,
                community=COMMUNITY,
                user="unused",
                engine_id="8000000001020304",
                auth_key="unused-auth-key",
                priv_key="unused-priv-key",
                port=TRAP_PORT,
                netns=ns,
            )
        )

    def config(self) -> dict[str, object]:
        outage = ["provider_outage"]
        base = f"http://127.0.0.1:{HTTP_PORT}"
        return {
            "alerts__webhooks": [
                {"url": f"{base}/slack", "preset": "slack", "events": outage},
                # The excluded one: it wants only commit overruns, which never happen here.
                {"url": f"{base}/excluded", "preset": "slack", "events": ["commit_overrun"]},
            ],
            "alerts__email": [
                {
                    "smtp_host": "127.0.0.1",
                    "smtp_port": SMTP_PORT,
                    "username": USER,
                    "password_file": str(self.tmp / "smtp-password"),
                    "tls_ca_file": str(self.smtp.cert),
                    "from": "routepilot@ctl.lab",
                    "to": ["noc@lab.example"],
                    "events": outage,
                }
            ],
            "alerts__snmp_traps": [
                {
                    "host": "127.0.0.1",
                    "port": TRAP_PORT,
                    "community_file": str(self.tmp / "community"),
                    "events": outage,
                }
            ],
        }

    def posts(self, path: str) -> list[dict]:
        return [body for p, body in self.http.posts if p == path]

    def close(self) -> None:
        self.stack.close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LoopLab, Receivers]]:
    tmp = tmp_path_factory.mktemp("alerts")
    ll = LoopLab(LabSpec.model_validate(SPEC), tmp)
    receivers = Receivers(tmp)
    try:
        # LoopLab.up(), with the receivers started in ctl before the controller.
        ll.lab.down()
        ll.lab.up(wait_s=30)
        receivers.start(ll.lab.ns("ctl"))
        ll.overrides = receivers.config()
        ll.write_config()
        ll.lab.traffic_start(rate_mbps=2, duration_s=1800)
        ll.lab.controller_start(ll.config_path)
        ll.wait(lambda: len(ll.api("/prefixes?top=5")) >= 5, 60, "traffic in the API")
        yield ll, receivers
    finally:
        with contextlib.suppress(Exception):
            ll.lab.clear_all()
        receivers.close()
        ll.down()


def filtered(loop: LoopLab, receiver: str, reason: str) -> float:
    r = httpx.get(
        f"http://127.0.0.1:{loop.port}/metrics",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )
    r.raise_for_status()
    samples = parse(r.text)
    key = (("reason", reason), ("receiver", receiver))
    return samples.get(("routepilot_alerts_filtered_total", key), 0.0)


def early_alerts(loop: LoopLab, rx: Receivers) -> str:
    """What a false alert said, for the failure message: each Slack post's summary and
    facts (the loss, the session state, when it started) and the controller's own log of
    its alerts and of the routes' states, which tell a loss from a missing route."""
    posts = [
        (b["text"], [f["text"] for f in b["blocks"][1].get("fields", [])])
        for b in rx.posts("/slack")
    ]
    log = loop.lab.dir / "ctl-controller.log"
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    said = [line for line in lines if "msg=alert" in line or "msg=routes" in line]
    return f"alerts before the blackhole: slack={posts} controller log: {said}"


def test_blackholed_provider_alerts_by_email_slack_and_trap(lab) -> None:
    loop, rx = lab
    subject = "[routepilot] FIRING critical provider_outage isp2"

    def mails() -> list:
        return [m for m in rx.smtp.messages if m["Subject"] == subject]

    def slack() -> list[dict]:
        title = "FIRING critical provider_outage isp2"
        return [b for b in rx.posts("/slack") if b["blocks"][0]["text"]["text"] == title]

    def traps() -> list[dict]:
        return [t for t in rx.trapd.traps() if t.get(f"{RP}.1.1.0") == 'STRING: "isp2"']

    # Nothing about isp2 before it is blackholed (a false alert would show here, #18).
    assert mails() == [] and slack() == [] and traps() == [], early_alerts(loop, rx)
    loop.lab.impair("isp2", None, blackhole=True)
    took = loop.wait(
        lambda: bool(mails() and slack() and traps()),
        60,
        "an email, a Slack webhook and a trap",
        step=0.2,
        diag=lambda: (
            f"mails={len(rx.smtp.messages)} slack={len(rx.posts('/slack'))} "
            f"traps={len(rx.trapd.traps())} providers={loop.api('/providers')}"
        ),
    )
    (mail,) = mails()
    assert mail["To"] == "noc@lab.example"
    assert "provider isp2 is out" in mail.get_content()
    (body,) = slack()
    assert "provider isp2 is out" in body["text"]
    (trap,) = traps()
    assert trap[".1.3.6.1.6.3.1.1.4.1.0"] == f"OID: {RP}.0.1"  # rpProviderOutage
    assert trap[f"{RP}.1.2.0"] == "INTEGER: 1"  # firing
    # The receiver whose filter excludes the event got nothing, and says why in /metrics.
    wait_for(lambda: filtered(loop, "webhook/1", "event") >= 1, 10, "the filtered count")
    assert rx.posts("/excluded") == []
    print(f"outage alert by email, Slack and trap {took:.1f} s after the blackhole")
