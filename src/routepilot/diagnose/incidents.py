"""Incidents: findings that hold for a few rounds open one, and it closes when they stop.

Pure like correlate.py: each round's findings and the time in, the incidents opened,
updated and closed out. The component (component.py) stores and announces them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from routepilot.diagnose.correlate import (
    AS,
    PREFIX,
    PROVIDER,
    Finding,
    PathState,
    crossed_by_all,
)


@dataclass
class Incident:
    """A cause (an AS, a provider or one prefix), what it affects, and when."""

    id: int
    kind: str
    """``as``, ``provider`` or ``prefix``."""
    asn: int | None
    provider: str | None
    prefix: str | None
    opened: float
    closed: float | None = None
    prefixes: list[str] = field(default_factory=list)
    """Every prefix the cause explained while the incident was open."""
    evidence: list[dict] = field(default_factory=list)
    """The degraded paths of the latest round that saw the cause (prefix, provider, loss,
    RTT, AS path, traceroute hops)."""
    updated: float = 0.0
    """When the cause last explained a degraded prefix."""

    @property
    def open(self) -> bool:
        return self.closed is None

    def cause(self) -> dict:
        return {"kind": self.kind, "asn": self.asn, "provider": self.provider,
                "prefix": self.prefix}  # fmt: skip

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "cause": self.cause(),
            "opened": self.opened,
            "closed": self.closed,
            "updated": self.updated,
            "prefixes": list(self.prefixes),
            "evidence": list(self.evidence),
        }

    @staticmethod
    def from_dict(raw: dict) -> Incident:
        cause = raw["cause"]
        return Incident(
            id=int(raw["id"]),
            kind=cause["kind"],
            asn=cause.get("asn"),
            provider=cause.get("provider"),
            prefix=cause.get("prefix"),
            opened=float(raw["opened"]),
            closed=raw.get("closed"),
            prefixes=list(raw.get("prefixes", [])),
            evidence=list(raw.get("evidence", [])),
            updated=float(raw.get("updated") or raw["opened"]),
        )


def path_evidence(p: PathState, hops: Sequence[dict] = ()) -> dict:
    """One degraded path as evidence."""
    return {
        "prefix": p.prefix,
        "provider": p.provider,
        "loss": None if math.isnan(p.loss) else round(p.loss, 4),
        "rtt_ms": None if math.isnan(p.rtt_ms) else round(p.rtt_ms, 2),
        "as_path": list(p.asns),
        "hops": list(hops),
    }


@dataclass
class Changes:
    opened: list[Incident] = field(default_factory=list)
    closed: list[Incident] = field(default_factory=list)
    updated: list[Incident] = field(default_factory=list)


class IncidentBook:
    """The open incidents and the rounds each candidate cause has been seen in a row."""

    def __init__(self, open_rounds: int, close_after_s: float, next_id: int = 1) -> None:
        self.open_rounds = open_rounds
        self.close_after_s = close_after_s
        self.next_id = next_id
        self.open: dict[tuple[str, str], Incident] = {}
        self._streak: dict[tuple[str, str], int] = {}

    def adopt(self, incidents: Iterable[Incident]) -> None:
        """Incidents still open in the store when the daemon starts."""
        for inc in incidents:
            self.next_id = max(self.next_id, inc.id + 1)
            if inc.open:
                self.open[_key_of(inc)] = inc

    def round(
        self, now: float, findings: Sequence[Finding], hops: dict[tuple[str, str], list[dict]]
    ) -> Changes:
        """Takes one round's findings; returns what opened, changed and closed."""
        changes = Changes()
        # A prefix that an open AS or provider incident explains is not a cause of its own.
        # A degraded prefix whose paths cross an AS (or a provider) an open incident names
        # is that incident's, not one of its own; so is a provider all of whose degraded
        # paths cross an AS an open incident names. Causes go first (ASes before
        # providers), so that one opening in this round already covers the others.
        sick = {k for k in self.open if k[0] != PREFIX}
        seen: set[tuple[str, str]] = set()
        for f in sorted(findings, key=lambda f: (f.kind == PREFIX, f.kind == PROVIDER)):
            key = f.key
            if key not in self.open and _explained(f, sick):
                continue
            seen.add(key)
            self._streak[key] = self._streak.get(key, 0) + 1
            evidence = [path_evidence(p, hops.get((p.prefix, p.provider), ())) for p in f.evidence]
            inc = self.open.get(key)
            if inc is None:
                if self._streak[key] < self.open_rounds:
                    continue
                if key[0] != PREFIX:
                    sick.add(key)
                inc = Incident(
                    self.next_id, f.kind, f.asn, f.provider,
                    f.prefixes[0] if f.kind == PREFIX else None, now, updated=now,
                )  # fmt: skip
                self.next_id += 1
                self.open[key] = inc
                changes.opened.append(inc)
            else:
                changes.updated.append(inc)
            inc.updated = now
            inc.prefixes = sorted(set(inc.prefixes) | set(f.prefixes))
            inc.evidence = evidence
        for key in list(self._streak):
            if key not in seen:
                del self._streak[key]
        for key, inc in list(self.open.items()):
            if key not in seen and now - inc.updated >= self.close_after_s:
                inc.closed = now
                del self.open[key]
                changes.closed.append(inc)
        return changes

    def avoided_asns(self) -> set[int]:
        """The ASes of the open AS incidents."""
        return {inc.asn for inc in self.open.values() if inc.kind == AS and inc.asn is not None}


def _explained(f: Finding, sick: set[tuple[str, str]]) -> bool:
    """Whether an open incident already accounts for a finding: a prefix finding whose
    degraded paths cross a sick AS or go through a sick provider, or a provider finding
    whose every degraded path crosses one sick AS (a transit's loss still setting in, or
    noisy, on a few of the other providers' paths through it)."""
    if f.kind == PREFIX:
        return any(
            (PROVIDER, p.provider) in sick or any((AS, str(a)) in sick for a in p.asns)
            for p in f.evidence
        )
    if f.kind == PROVIDER:
        return any((AS, str(a)) in sick for a in crossed_by_all(f.evidence))
    return False


def _key_of(inc: Incident) -> tuple[str, str]:
    if inc.kind == AS:
        return AS, str(inc.asn)
    if inc.kind == PROVIDER:
        return PROVIDER, str(inc.provider)
    return PREFIX, str(inc.prefix)
