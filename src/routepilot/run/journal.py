"""A round's moves as journal entries, with what the move record alone does not hold.

decide/'s :class:`Move` carries RTT and loss; the journal also keeps the AS of the
incident an ``as_incident`` move avoids (``DecisionResult.incident_asn``) and the
jitter of both paths from the round's measurements, so that a sentence read back
from the journal (``explain.summary``) names the AS and the jitter as the live
explanation does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from routepilot.decide import DecisionResult
from routepilot.decide.state import Move
from routepilot.explain import old_side
from routepilot.probe.snapshot import MeasurementSnapshot
from routepilot.store import JournalEntry


def journal_entries(
    moves: Sequence[Move], result: DecisionResult, meas: MeasurementSnapshot, *, dry_run: bool
) -> list[JournalEntry]:
    """One entry per move, in the moves' order."""
    if not moves:
        return []
    rows = {p: i for i, p in enumerate(meas.prefixes)}
    columns = {name: k for k, name in enumerate(meas.providers)}

    def jitter(prefix: str, provider: str | None) -> float | None:
        i, k = rows.get(prefix), columns.get(provider or "")
        if i is None or k is None:
            return None
        v = float(meas.jitter_ms[i, k])
        return v if math.isfinite(v) else None

    out = []
    for m in moves:
        old = old_side(m.from_provider, m.to_provider, m.default_provider)
        out.append(
            JournalEntry.from_move(
                m,
                dry_run=dry_run,
                incident_asn=result.incident_asn.get(m.prefix),
                old_jitter_ms=jitter(m.prefix, old),
                new_jitter_ms=jitter(m.prefix, m.to_provider),
            )
        )
    return out
