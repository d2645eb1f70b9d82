"""The catalog of every event the daemon emits: its severity, what its key names, the
fields of its details, and its notification in ROUTEPILOT-MIB.

docs/events.md is this catalog's page; tests/unit/alerts/test_events.py keeps the page,
this module, the configuration's ``EventName`` and what :class:`AlertManager` emits equal.
"""

from __future__ import annotations

from dataclasses import dataclass

SEVERITIES = ("info", "warning", "critical")
"""From the least to the most severe."""


def severity_rank(severity: str) -> int:
    """0 for info, 1 for warning, 2 for critical."""
    return SEVERITIES.index(severity)


@dataclass(frozen=True)
class EventSpec:
    name: str
    severity: str
    key: str
    """What the alert's key names."""
    fields: tuple[str, ...]
    """The keys of the alert's ``details``."""
    meaning: str
    trap: int
    """Sub-identifier of its NOTIFICATION-TYPE under rpNotifications."""


OUTAGE = "provider_outage"
BROWNOUT = "provider_brownout"
COMMIT = "commit_overrun"
SESSION = "bgp_session_down"
DEGRADED = "controller_degraded"
HA_ROLE = "ha_role_change"
HA_NO_ACTIVE = "ha_no_active"
INCIDENT = "incident"
TEST = "test"

EVENTS: dict[str, EventSpec] = {
    e.name: e
    for e in (
        EventSpec(
            OUTAGE,
            "critical",
            "provider",
            ("loss", "rtt_ms", "session_up"),
            "A provider's BGP session is down, or its probe loss is at or above "
            "alerts.outage_loss.",
            1,
        ),
        EventSpec(
            BROWNOUT,
            "warning",
            "provider",
            ("loss", "rtt_ms", "session_up"),
            "A provider's probe loss is at or above alerts.brownout_loss, or it fails its "
            "probes, without being out.",
            2,
        ),
        EventSpec(
            COMMIT,
            "warning",
            "provider",
            ("p95_bps", "commit_bps"),
            "A provider's 95th percentile exceeds its commit x (1 + alerts.commit_margin).",
            3,
        ),
        EventSpec(
            SESSION,
            "critical",
            "router",
            ("state",),
            "The iBGP session to an edge router is not established: no route is injected "
            "through it.",
            4,
        ),
        EventSpec(
            DEGRADED,
            "warning",
            "controller",
            ("reasons",),
            "The controller runs degraded (a stage failing, its inputs stale).",
            5,
        ),
        EventSpec(
            HA_ROLE,
            "warning",
            "node",
            ("role", "epoch", "active"),
            "This instance of an HA pair took over as the active or stepped down to standby "
            "(it resolves 10 minutes later: one alert per change).",
            7,
        ),
        EventSpec(
            HA_NO_ACTIVE,
            "critical",
            "node",
            ("role", "epoch", "active"),
            "A standby sees no instance holding the lease: nothing is optimized until one "
            "takes it.",
            8,
        ),
        EventSpec(
            INCIDENT,
            "warning",
            "cause",
            ("id", "kind", "asn", "provider", "prefix", "prefixes"),
            "diagnose/ opened an incident (firing) or closed it (resolved): the AS, the "
            "provider or the prefix that is degraded, and the prefixes affected.",
            9,
        ),
        EventSpec(
            TEST,
            "info",
            "routepilot",
            (),
            "Sent by ``routepilot api alert-test`` to check that receivers work.",
            6,
        ),
    )
}

KINDS = tuple(EVENTS)
