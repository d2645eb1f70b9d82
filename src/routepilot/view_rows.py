"""Records in the shapes `ControllerView` returns, for the made-up views.

api/fake.py (the surfaces' tests) and report/demo.py (the demo report's day) build
their data with these, so both answer with the same records and filter them the
same way; neither surface imports the other.
"""

from __future__ import annotations


def provider_row(
    name: str, asn: int, capacity_bps: float, commit_bps: float, cost_per_mbps: float
) -> dict:
    """A provider as `ControllerView.providers()` describes its configuration."""
    return {
        "name": name,
        "asn": asn,
        "capacity_bps": capacity_bps,
        "commit_bps": commit_bps,
        "cost_per_mbps": cost_per_mbps,
    }


def decision_row(
    time: float,
    prefix: str,
    moved: tuple[str, str],
    default: str,
    reason: str,
    traffic_bps: float,
    before: tuple[float | None, float],
    after: tuple[float | None, float],
    *,
    incident_asn: int | None = None,
    jitter: tuple[float | None, float | None] = (None, None),
) -> dict:
    """One journal entry: ``prefix`` moved from ``moved[0]`` to ``moved[1]``, with the
    (RTT ms, loss) of the old exit ``before`` and of the new one ``after``, the AS of the
    incident an ``as_incident`` move avoids and the (old, new) ``jitter`` in ms."""
    return {
        "time": time,
        "prefix": prefix,
        "from_provider": moved[0],
        "to_provider": moved[1],
        "default_provider": default,
        "reason": reason,
        "traffic_bps": traffic_bps,
        "old_rtt_ms": before[0],
        "new_rtt_ms": after[0],
        "old_loss": before[1],
        "new_loss": after[1],
        "threshold_ms": 10.0,
        "dry_run": False,
        "incident_asn": incident_asn,
        "old_jitter_ms": jitter[0],
        "new_jitter_ms": jitter[1],
    }


def select_decisions(
    journal: list[dict],
    since: float | None = None,
    until: float | None = None,
    prefix: str | None = None,
    provider: str | None = None,
    reason: str | None = None,
    limit: int = 200,
) -> list[dict]:
    """`ControllerView.decisions()` over a journal kept newest first (both bounds inclusive)."""
    rows = [
        d
        for d in journal
        if (since is None or d["time"] >= since)
        and (until is None or d["time"] <= until)
        and (prefix is None or d["prefix"] == prefix)
        and (provider is None or provider in (d["from_provider"], d["to_provider"]))
        and (reason is None or d["reason"] == reason)
    ]
    return rows[:limit]


def utilization_row(t: float, provider: dict, rate_bps: float) -> dict:
    """One point of `ControllerView.utilization()` for a provider row."""
    return {
        "time": t,
        "provider": provider["name"],
        "rate_bps": rate_bps,
        "capacity_bps": provider["capacity_bps"],
        "commit_bps": provider["commit_bps"],
    }
