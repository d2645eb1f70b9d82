"""SNMP trap alerts against Debian's snmptrapd on 127.0.0.1: v2c with a community and v3
authPriv (SHA, AES) keyed to routepilot's engine ID; the trap is the event's
NOTIFICATION-TYPE of ROUTEPILOT-MIB carrying the alert's objects. Traps with a wrong
community or wrong v3 keys are not logged: the receiver's own check works."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from tests.alertrecv import TrapDaemon, wait_for

from routepilot.alerts.component import Alerting
from routepilot.api.fake import FakeView
from routepilot.config.alerts import AlertsConfig, SnmpTrapConfig

COMMUNITY, USER, ENGINE = "rp-traps", "rptrap", "8000000001020304"
AUTH, PRIV = "auth-pass-phrase", "priv-pass-phrase"
TRAP_OID = ".1.3.6.1.6.3.1.1.4.1.0"
RP = ".1.3.6.1.4.1.32473"


@pytest.fixture
def trapd(tmp_path: Path):
    with TrapDaemon(
        tmp_path, community=COMMUNITY, user=USER, engine_id=ENGINE, auth_key=AUTH, priv_key=PRIV
    ) as d:
        yield d


def receiver(tmp_path: Path, trapd: TrapDaemon, version: str, **wrong: str) -> SnmpTrapConfig:
    secrets = {"community": COMMUNITY, "auth": AUTH, "priv": PRIV, **wrong}
    for name, value in secrets.items():
        (tmp_path / f"{name}.secret").write_text(value)
    fields: dict = {"host": "127.0.0.1", "port": trapd.port, "version": version}
    if version == "2c":
        fields["community_file"] = str(tmp_path / "community.secret")
    else:
        fields |= {
            "user": USER,
            "engine_id": ENGINE,
            "auth_key_file": str(tmp_path / "auth.secret"),
            "priv_key_file": str(tmp_path / "priv.secret"),
        }
    return SnmpTrapConfig.model_validate(fields)


def send_outage_and_back(config: AlertsConfig) -> Alerting:
    async def run() -> Alerting:
        alerting = Alerting(config)
        await alerting.start()
        view = FakeView()
        status, providers = view.status(), view.providers()
        status["sessions"]["edge"] = "idle"
        alerting.observe(status, providers)
        status["sessions"]["edge"] = "established"
        status["now"] += 10
        alerting.observe(status, providers)
        assert await alerting.sender.drain(10)
        await alerting.stop()
        return alerting

    return asyncio.run(run())


@pytest.mark.parametrize("version", ["2c", "3"])
def test_firing_and_resolved_traps_reach_snmptrapd(
    tmp_path: Path, trapd: TrapDaemon, version: str
) -> None:
    config = AlertsConfig(snmp_traps=[receiver(tmp_path, trapd, version)], clear_after=1)
    alerting = send_outage_and_back(config)
    assert alerting.sender.metrics.sent == {"snmp/0": 2}
    wait_for(lambda: len(trapd.traps()) == 2, 10, "two traps in snmptrapd's log")
    firing, resolved = trapd.traps()
    assert firing[TRAP_OID] == f"OID: {RP}.0.4"  # rpBgpSessionDown
    assert firing[f"{RP}.1.1.0"] == 'STRING: "edge"'  # rpAlertKey
    assert firing[f"{RP}.1.2.0"] == "INTEGER: 1"  # rpAlertState firing
    assert resolved[f"{RP}.1.2.0"] == "INTEGER: 2"  # resolved
    assert firing[f"{RP}.1.3.0"] == "INTEGER: 3"  # rpAlertSeverity critical
    assert "BGP session to edge is idle" in firing[f"{RP}.1.4.0"]
    details = json.loads(json.loads(firing[f"{RP}.1.5.0"].removeprefix("STRING: ")))
    assert details == {"state": "idle"}
    started = int(FakeView().status()["now"])  # the view's clock, when it was first seen
    assert firing[f"{RP}.1.6.0"] == f"Gauge32: {started}"  # rpAlertStarted


@pytest.mark.parametrize(
    "version,wrong",
    [("2c", {"community": "not-the-community"}), ("3", {"auth": "wrong-auth-phrase"})],
)
def test_traps_with_wrong_credentials_are_not_logged(
    tmp_path: Path, trapd: TrapDaemon, version: str, wrong: dict
) -> None:
    good = (
        receiver(tmp_path / "good", trapd, version) if (tmp_path / "good").mkdir() is None else None
    )
    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    bad = receiver(bad_dir, trapd, version, **wrong)
    # The bad one first, then a good one: once the good trap is logged, the bad one (sent
    # before it, over the same loopback) had its chance.
    send_outage_and_back(AlertsConfig(snmp_traps=[bad], clear_after=1))
    send_outage_and_back(AlertsConfig(snmp_traps=[good], clear_after=1))
    wait_for(lambda: len(trapd.traps()) >= 2, 10, "the good traps")
    assert len(trapd.traps()) == 2
