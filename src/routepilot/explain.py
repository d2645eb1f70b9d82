"""A decision record said as a sentence an engineer reads at 3 a.m., with units and rounding.

"moved off isp1: it lost 7.5% of probes (95% interval 4.1–11.2%) while isp2 lost
0.0%; 341 kb/s moved" rather than ``old_loss 0.07512…``. Shared by every surface
(the API adds it to each decision as ``summary``; the dashboard and the CLI show
it), so the wording is the same everywhere. Pure functions of the record.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def ms(v: float | None) -> str:
    """Milliseconds with the digits the magnitude needs (a lab's veth takes 15 µs)."""
    if v is None or not math.isfinite(v):
        return "–"
    digits = 0 if abs(v) >= 100 else 1 if abs(v) >= 1 or v == 0 else 3
    return f"{v:.{digits}f} ms"


def pct(v: float | None) -> str:
    """A loss as a percentage: one decimal, two below 0.1% so that a little is not nothing."""
    if v is None or not math.isfinite(v):
        return "–"
    digits = 2 if 0 < abs(v) < 0.001 else 1
    return f"{v * 100:.{digits}f}%"


def bps(v: float | None) -> str:
    if v is None or not math.isfinite(v):
        return "–"
    for unit, f in (("Tb/s", 1e12), ("Gb/s", 1e9), ("Mb/s", 1e6), ("kb/s", 1e3)):
        if abs(v) >= f:
            x = v / f
            return f"{x:.0f} {unit}" if x >= 100 else f"{x:.1f} {unit}".replace(".0 ", " ")
    return f"{v:.0f} b/s"


def _interval(d: Mapping[str, Any], side: str) -> str:
    low, high = d.get(f"{side}_loss_low"), d.get(f"{side}_loss_high")
    if low is None or high is None:
        return ""
    return f" (95% interval {pct(low)[:-1]}–{pct(high)})"


def _jitter(d: Mapping[str, Any], dst: object) -> str:
    """The jitter clause: with the jitter of both paths when the record has them (a journal
    entry keeps them from the round's measurements; :func:`with_interval` adds them to the
    live explanation), else (an entry journaled before they were kept) without."""
    old, new = d.get("old_jitter_ms"), d.get("new_jitter_ms")
    if old is None or new is None:
        text = f"its jitter was above {dst or '–'}'s by at least the policy rule's threshold"
    else:
        text = f"its jitter was {ms(old)} against {ms(new)} through {dst}"
    old_rtt, new_rtt = d.get("old_rtt_ms"), d.get("new_rtt_ms")
    if old_rtt is not None and new_rtt is not None:
        text += f", at an RTT of {ms(new_rtt)} against {ms(old_rtt)}"
    return text


def _incident(d: Mapping[str, Any], off: str, tail: str) -> str:
    """The as_incident sentence: with the AS when the record has it (``incident_asn``: the
    live explanation and the journal both keep it), else (an entry journaled before the
    journal kept it) without."""
    src, dst, default = d.get("from_provider"), d.get("to_provider"), d.get("default_provider")
    asn = d.get("incident_asn")
    where = f"AS{asn}, where an incident is open" if asn else "an AS an open incident names"
    if src == dst:  # an improvement in force, kept while the incident lasts
        return (
            f"held on {dst or '–'}: the path of BGP's default ({default or '–'}) crosses "
            f"{where}, and {dst or '–'}'s avoids it"
        )
    return (
        f"{off} to {dst or '–'}: {src or '–'}'s path crosses {where}, and {dst or '–'}'s "
        f"avoids it and measures no worse (RTT {ms(d.get('new_rtt_ms'))} against "
        f"{ms(d.get('old_rtt_ms'))}, loss {pct(d.get('new_loss'))} against "
        f"{pct(d.get('old_loss'))}){tail}"
    )


HELD_BY = {
    "loss": "a loss move",
    "outage": "an outage move",
    "latency": "a latency move",
    "jitter": "a jitter move",
    "capacity": "a capacity detour",
    "cost": "a cost move",
    "commit": "a commit detour",
    "maintenance": "a maintenance window",
    "policy": "a policy rule",
}
"""Reasons whose record, for a prefix that stays where an earlier round took it, says it is
held there: the improvement (or detour) in force, not a move this round."""


def _held(d: Mapping[str, Any], reason: str) -> str:
    """A prefix kept off BGP's default: the earlier move still holds. Its record's "old"
    side is the default (decide's rule for a prefix that stays), so the figures compare
    the exit with what BGP would use."""
    dst, default = d.get("to_provider"), d.get("default_provider") or "–"
    text = (
        f"held on {dst}, where {HELD_BY[reason]} took it: RTT {ms(d.get('new_rtt_ms'))} "
        f"against {ms(d.get('old_rtt_ms'))} through {default} (BGP's default), loss "
        f"{pct(d.get('new_loss'))}{_interval(d, 'new')} against "
        f"{pct(d.get('old_loss'))}{_interval(d, 'old')}"
    )
    old_j, new_j = d.get("old_jitter_ms"), d.get("new_jitter_ms")
    if reason == "jitter" and old_j is not None and new_j is not None:
        text += f", jitter {ms(new_j)} against {ms(old_j)}"
    if reason == "maintenance":
        text += f"; {default} is in a maintenance window"
    return text


def summary(d: Mapping[str, Any]) -> str:
    """One sentence (or two clauses) saying why the prefix leaves where it does, and what
    the new exit measured when it was re-measured after the move.

    ``d`` is a decision record (the API's Decision fields); optional
    ``old_loss_low``/``old_loss_high`` (and ``new_…``) add the loss's 95% interval."""
    return _why(d) + _after(d)


def _after(d: Mapping[str, Any]) -> str:
    """The re-measurement of a move's new exit (``controller.remeasure_after_s`` later),
    once the journal has it."""
    at, rtt, loss = d.get("after_time"), d.get("after_rtt_ms"), d.get("after_loss")
    if at is None or (rtt is None and loss is None):
        return ""
    later = max(0.0, float(at) - float(d.get("time") or at))
    return (
        f". Re-measured {later:.0f} s later through {d.get('to_provider') or '–'}: "
        f"RTT {ms(rtt)}, loss {pct(loss)}"
    )


def _why(d: Mapping[str, Any]) -> str:
    reason = str(d.get("reason") or "default")
    src, dst, default = d.get("from_provider"), d.get("to_provider"), d.get("default_provider")
    dry = bool(d.get("dry_run"))
    moved = "would move" if dry else "moved"
    traffic = d.get("traffic_bps")
    tail = f"; {bps(traffic)} {'would move' if dry else 'moved'}" if traffic else ""
    if dry:
        tail += " (dry-run: nothing announced)"
    old_rtt, new_rtt = d.get("old_rtt_ms"), d.get("new_rtt_ms")
    old_loss, new_loss = d.get("old_loss"), d.get("new_loss")
    off = f"{moved} off {src}" if src else f"{moved} to {dst}"
    if src and src == dst and dst != default and reason in HELD_BY:
        # Nothing moves this round ("moved off isp2 … through isp2" said otherwise).
        return _held(d, reason)
    if reason == "loss":
        return (
            f"{off}: it lost {pct(old_loss)} of probes{_interval(d, 'old')} while {dst} lost "
            f"{pct(new_loss)}{_interval(d, 'new')}{tail}"
        )
    if reason == "outage":
        return (
            f"{off}: it stopped answering ({pct(old_loss)} of probes lost) while {dst} "
            f"answers ({pct(new_loss)} lost){tail}"
        )
    if reason == "latency":
        gain = ""
        if old_rtt is not None and new_rtt is not None:
            gain = f", {ms(old_rtt - new_rtt)} faster"
            threshold = d.get("threshold_ms")
            if threshold is not None:
                gain += f" (the threshold is {ms(threshold)})"
        return f"{off}: its RTT was {ms(old_rtt)} against {ms(new_rtt)} through {dst}{gain}{tail}"
    if reason == "jitter":
        return f"{off}: {_jitter(d, dst)}{tail}"
    if reason == "capacity":
        return f"{off} to {dst}: {src}'s link would go past its target utilization{tail}"
    if reason == "cost":
        return (
            f"{off} to {dst}: cheaper (commit or price) at the same quality, RTT {ms(new_rtt)} "
            f"against {ms(old_rtt)}, loss {pct(new_loss)} against {pct(old_loss)}{tail}"
        )
    if reason == "revert":
        return (
            f"{'would go' if dry else 'back'} to {dst or default} (BGP's default): the reason "
            f"to leave it has cleared; RTT {ms(new_rtt)}, loss {pct(new_loss)}{tail}"
        )
    if reason == "pinned":
        return f"pinned to {dst} by an operator{tail}"
    if reason == "excluded":
        return f"excluded by an operator: left to BGP ({default or '–'})"
    if reason == "uncontrolled":
        return (
            f"left to BGP ({default or '–'}): too specific to announce, not probed, "
            "or no other usable provider"
        )
    if reason == "deferred":
        return (
            f"a move to {dst or '–'} is due but a limit (change rate, improvements cap) defers it"
        )
    if reason == "policy":
        if dst and dst != default:
            return f"{off} to {dst}: a policy rule keeps it off {src or default or '–'}{tail}"
        return f"left to BGP ({default or '–'}) by a policy rule or the inject allowlist"
    if reason == "static":
        return f"held on {dst or '–'} by a static policy rule, within its ceilings{tail}"
    if reason == "maintenance":
        return f"{off} to {dst or default or '–'}: {src or '–'} is in a maintenance window{tail}"
    if reason == "commit":
        return (
            f"{off} to {dst}: {src} is above its commit level, and {dst} has room, loses no "
            f"more and is within the latency tolerance (RTT {ms(new_rtt)} against "
            f"{ms(old_rtt)}){tail}"
        )
    if reason == "as_incident":
        return _incident(d, off, tail)
    return f"BGP's default ({default or '–'}) carries it: no provider is better by enough to move"


def old_side(src: str | None, dst: str | None, default: str | None) -> str | None:
    """The provider a record's "old" figures are of: where a moving prefix leaves, BGP's
    default for one held where an earlier round took it (decide/engine.py's rule)."""
    return default if src is not None and src == dst else src


def with_interval(
    record: Mapping[str, Any], measurements: list[Mapping[str, Any]]
) -> dict[str, Any]:
    """The record with the loss intervals of its providers, from a prefix's measurements,
    and their jitter (``old_jitter_ms``, ``new_jitter_ms``) where the record has none."""
    out = dict(record)
    by = {m.get("provider"): m for m in measurements}
    src, dst = record.get("from_provider"), record.get("to_provider")
    old = old_side(src, dst, record.get("default_provider"))
    for side, name in (("old", old), ("new", dst)):
        m = by.get(name)
        if m is not None and m.get("loss_low") is not None and m.get("loss_high") is not None:
            out[f"{side}_loss_low"], out[f"{side}_loss_high"] = m["loss_low"], m["loss_high"]
        if m is not None and out.get(f"{side}_jitter_ms") is None:
            out[f"{side}_jitter_ms"] = m.get("jitter_ms")
    return out
