"""decide/'s state and telemetry/'s billing rows to and from JSON, for the restart state
kept in the database; diagnose/'s traceroutes as rows, alike on every SQL backend."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from routepilot.decide.reasons import Reason
from routepilot.decide.state import Active, DecisionState, Demand


def state_to_json(state: DecisionState) -> str:
    return json.dumps(
        {
            "active": {
                p: [a.provider, Reason(a.reason).label, a.since, a.misses]
                for p, a in state.active.items()
            },
            "last_move": dict(state.last_move),
            "pending": dict(state.pending),
            "recent_changes": [list(x) for x in state.recent_changes],
            "recent_outage_changes": [list(x) for x in state.recent_outage_changes],
            "avoid": {p: dict(left) for p, left in state.avoid.items()},
            "demand": {
                p: [d.moved, [list(x) for x in d.peaks], [list(x) for x in d.left]]
                for p, d in state.demand.items()
            },
            "link_peaks": {k: [list(x) for x in v] for k, v in state.link_peaks.items()},
        },
        separators=(",", ":"),
    )


def state_from_json(text: str) -> DecisionState:
    raw = json.loads(text)
    by_label = {r.label: r for r in Reason}
    return DecisionState(
        active={
            p: Active(prov, by_label[label], float(since), int(misses))
            for p, (prov, label, since, misses) in raw.get("active", {}).items()
        },
        last_move={p: float(t) for p, t in raw.get("last_move", {}).items()},
        pending={p: int(n) for p, n in raw.get("pending", {}).items()},
        recent_changes=tuple((float(t), int(c)) for t, c in raw.get("recent_changes", [])),
        recent_outage_changes=tuple(
            (float(t), int(c)) for t, c in raw.get("recent_outage_changes", [])
        ),
        avoid={
            p: {prov: float(t) for prov, t in left.items()}
            for p, left in raw.get("avoid", {}).items()
        },
        demand={
            p: Demand(
                float(d[0]),
                tuple((float(t), float(v)) for t, v in d[1]),
                tuple((str(k), float(v)) for k, v in (d[2] if len(d) > 2 else ())),
            )
            for p, d in raw.get("demand", {}).items()
        },
        link_peaks={
            k: tuple((float(t), float(v)) for t, v in peaks)
            for k, peaks in raw.get("link_peaks", {}).items()
        },
    )


def billing_row_to_json(row: Mapping[str, Any]) -> str:
    """One row of the open billing period as stored: a JSON object. Floats keep every
    digit (``repr``), NaN is written as ``NaN`` (Python's JSON reads it back)."""
    return json.dumps(dict(row), sort_keys=True)


def billing_row_from_json(text: str) -> dict[str, Any]:
    row = json.loads(text)
    if not isinstance(row, dict):
        raise ValueError(f"billing row is not an object: {text[:80]!r}")
    return row


TRACES_BEYOND = (
    "DELETE FROM traces WHERE prefix = %s AND provider = %s AND id NOT IN (SELECT id FROM "
    "traces WHERE prefix = %s AND provider = %s ORDER BY time DESC, id DESC LIMIT %s)"
)
"""Deletes a (prefix, provider)'s traces beyond the newest few (``%s`` placeholders;
SQLite takes them as ``?``)."""


def trace_row(trace: Mapping[str, Any]) -> tuple[Any, ...]:
    """A traceroute (``PathTrace.as_dict()``) as a row: its columns, and the whole as JSON."""
    return (
        float(trace["time"]),
        str(trace["prefix"]),
        str(trace["provider"]),
        json.dumps(trace, sort_keys=True),
    )


def trace_query(prefix: str | None, provider: str | None) -> tuple[str, list[Any]]:
    """The traces of ``prefix`` through ``provider`` (either may be None: all), newest
    first: the query and its parameters (``%s`` placeholders; SQLite takes them as ``?``)."""
    terms, params = [], []
    for column, value in (("prefix", prefix), ("provider", provider)):
        if value is not None:
            terms.append(f"{column} = %s")
            params.append(value)
    where = " WHERE " + " AND ".join(terms) if terms else ""
    return f"SELECT body FROM traces{where} ORDER BY time DESC, id DESC", params
