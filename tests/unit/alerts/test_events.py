"""The event catalog: docs/events.md, the code's catalog, the configuration's event names,
what the alert manager really emits, and ROUTEPILOT-MIB all say the same thing."""

from __future__ import annotations

import re
import typing
from pathlib import Path

from routepilot.alerts import snmp
from routepilot.alerts.events import EVENTS, INCIDENT, TEST
from routepilot.alerts.incidents import incident_alert
from routepilot.alerts.manager import Alert, AlertManager
from routepilot.api.fake import FakeView
from routepilot.config.alerts import AlertsConfig, EventName
from routepilot.diagnose.incidents import Incident

DOCS = Path(__file__).parents[3] / "docs"


def documented() -> dict[str, dict[str, str]]:
    """The first table of docs/events.md, one dict per event."""
    rows: dict[str, dict[str, str]] = {}
    text = (DOCS / "events.md").read_text()
    table = text.split("| event | severity |", 1)[1].split("\n\n", 1)[0]
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        name = cells[0].strip("`")
        rows[name] = {
            "severity": cells[1],
            "key": cells[2],
            "fields": cells[3],
            "notification": cells[4],
        }
    return rows


def every_event_emitted() -> dict[str, Alert]:
    """Drives the manager through every condition it knows, once each."""
    got: dict[str, Alert] = {}
    manager = AlertManager(AlertsConfig(), lambda a: got.setdefault(a.kind, a))
    view = FakeView()
    status, providers = view.status(), view.providers()
    providers[0]["loss"] = 1.0  # outage
    providers[1]["loss"] = 0.1  # brownout
    providers[0]["p95_bps"] = providers[0]["commit_bps"] * 2  # commit overrun
    status["sessions"]["edge"] = "idle"  # session down
    status["degraded"] = ["probe rollups failing"]
    status["ha"] = {  # a standby that just stepped down and sees no active
        "enabled": True, "node": "ctl2", "role": "standby", "epoch": 3, "active": None,
        "transitions": 1, "since": status["now"] - 1,
    }  # fmt: skip
    manager.observe(status, providers)
    return got


def test_the_page_and_the_code_list_the_same_events() -> None:
    assert set(documented()) == set(EVENTS)


def test_the_page_gives_each_event_its_severity_key_fields_and_notification() -> None:
    for name, row in documented().items():
        spec = EVENTS[name]
        assert row["severity"] == spec.severity, name
        assert row["key"] == spec.key, name
        fields = re.findall(r"`([a-z_0-9]+)`", row["fields"])
        assert tuple(fields) == spec.fields, name
        number = re.search(r"\((\d+)\)", row["notification"])
        assert number is not None and int(number.group(1)) == spec.trap, name


def test_the_configuration_accepts_exactly_the_catalogs_events() -> None:
    assert set(typing.get_args(EventName)) == set(EVENTS)


def test_every_event_the_manager_emits_is_in_the_catalog_and_vice_versa() -> None:
    emitted = every_event_emitted()
    emitted[INCIDENT] = incident_alert("opened", Incident(7, "as", 64501, None, None, 1.0,
                                                          prefixes=["198.18.0.0/24"]))  # fmt: skip
    # ``test`` is emitted by ``routepilot api alert-test``, not by the manager; ``incident``
    # by diagnose/ through ``Alerting.incident`` (above).
    assert set(emitted) == set(EVENTS) - {TEST}
    for kind, alert in emitted.items():
        spec = EVENTS[kind]
        assert alert.severity == spec.severity, kind
        assert tuple(alert.details) == spec.fields, kind


def test_every_event_has_its_notification_in_the_mib() -> None:
    mib = (DOCS / "ROUTEPILOT-MIB.txt").read_text()
    found = {
        name: int(number)
        for name, number in re.findall(
            r"^(rp\w+) NOTIFICATION-TYPE.*?::= \{ rpNotifications (\d+) \}", mib, re.M | re.S
        )
    }
    documented_names = {
        name: row["notification"].split("`")[1] for name, row in documented().items()
    }
    assert {documented_names[e]: spec.trap for e, spec in EVENTS.items()} == found


def test_the_mib_objects_are_what_the_traps_carry() -> None:
    mib = (DOCS / "ROUTEPILOT-MIB.txt").read_text()
    objects = dict(
        re.findall(r"^(rpAlert\w+) OBJECT-TYPE.*?::= \{ rpObjects (\d+) \}", mib, re.M | re.S)
    )
    sent = {
        "rpAlertKey": snmp.KEY,
        "rpAlertState": snmp.STATE,
        "rpAlertSeverity": snmp.SEVERITY,
        "rpAlertSummary": snmp.SUMMARY,
        "rpAlertDetails": snmp.DETAILS,
        "rpAlertStarted": snmp.STARTED,
    }
    assert set(objects) == set(sent)
    for name, oid in sent.items():
        assert oid == f"{snmp.OBJECTS}.{objects[name]}.0", name
    assert "::= { enterprises 32473 }" in mib and snmp.MIB_ROOT == "1.3.6.1.4.1.32473"
