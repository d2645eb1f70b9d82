"""Reason codes: why a prefix leaves by the provider it does.

The codes are a contract with the journal, the API and the reports: their
names are stored and shown, so renaming one is a breaking change.
"""

from __future__ import annotations

from enum import IntEnum


class Reason(IntEnum):
    """Why a prefix's desired exit is what it is."""

    DEFAULT = 0
    """BGP's own choice; nothing injected."""
    OUTAGE = 1
    """The current exit stopped answering while another provider with a route answers."""
    LOSS = 2
    """Another provider loses significantly fewer probes."""
    LATENCY = 3
    """Another provider is faster, sustained over several rounds."""
    CAPACITY = 4
    """Detoured so that a link stays under its target utilization."""
    COST = 5
    """Moved to a cheaper provider (commit or price) within the performance tolerance."""
    REVERT = 6
    """An improvement no longer held: back to BGP's default."""
    PINNED = 7
    """An operator pinned the prefix to this provider."""
    EXCLUDED = 8
    """An operator excluded the prefix: left to BGP."""
    UNCONTROLLED = 9
    """Left to BGP: too specific to announce, unprobeable, or no usable provider."""
    DEFERRED = 10
    """A move was wanted but a limit (change rate, improvement cap) postponed it."""
    POLICY = 11
    """A policy rule or the inject allowlist: left to BGP, or kept off a provider."""
    STATIC = 12
    """Held on the provider of a ``static`` policy rule, within its ceilings."""
    MAINTENANCE = 13
    """A provider is in a maintenance window: improvements leave it, drained traffic
    leaves its default, and nothing lands on it until the window ends."""
    COMMIT = 14
    """Moved off a provider above its commit level to one with room, no lossier and
    within the latency tolerance (decide/commit.py)."""
    JITTER = 15
    """A policy rule's ``jitter_threshold_ms``: another provider's jitter is lower by at least
    the threshold, sustained over several rounds, no lossier and not slower by the
    latency threshold (voice and video prefixes)."""
    AS_INCIDENT = 16
    """The exit's path crosses an AS an open incident names (diagnose/): moved to a
    provider whose path avoids it and that is not measured worse."""

    @property
    def label(self) -> str:
        """The lowercase name stored in the journal and shown by the API."""
        return self.name.lower()


REASON_LABELS: tuple[str, ...] = tuple(r.label for r in Reason)

# Order in which moves consume the change budget: safety first, then the
# operator, then the quality reasons in the precedence of the policy.
BUDGET_RANK: dict[Reason, int] = {
    Reason.OUTAGE: 0,
    Reason.PINNED: 1,
    Reason.EXCLUDED: 1,
    Reason.POLICY: 1,
    Reason.STATIC: 1,
    Reason.MAINTENANCE: 1,
    Reason.UNCONTROLLED: 2,
    Reason.CAPACITY: 3,
    Reason.COMMIT: 3,
    Reason.LOSS: 4,
    Reason.AS_INCIDENT: 4,
    Reason.REVERT: 5,
    Reason.LATENCY: 6,
    Reason.JITTER: 6,
    Reason.COST: 7,
    Reason.DEFAULT: 8,
    Reason.DEFERRED: 9,
}
