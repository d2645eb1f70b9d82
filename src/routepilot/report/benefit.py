"""What routepilot changed against BGP's default: the counterfactual.

From the journal, each prefix's history becomes intervals during which it left
by a provider other than BGP's default. For every minute of such an interval,
the rollups of that prefix say what the chosen provider measured and what
BGP's default measured at the same time; the difference, weighted by the
prefix's traffic and by how much of the minute the interval covers (a rollup
is taken as even over its minute, so a move at 10:00:40 gets a third of the
10:00 minute), is the benefit. Minutes with no rollup for both providers are
not guessed: an interval with none falls back to the numbers the decision
recorded (old = what it left, new = what it chose) and is counted apart.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field


@dataclass
class Interval:
    """A prefix routed away from BGP's default from ``start`` to ``end``."""

    prefix: str
    chosen: str
    default: str
    reason: str
    traffic_bps: float
    start: float
    end: float
    decision: dict
    # Filled in by measure():
    seconds: float = 0.0
    """Seconds of the interval covered by rollups of both providers."""
    bits: float = 0.0
    """Traffic moved (bits) over the measured minutes, or the whole interval if estimated."""
    rtt_w: float = 0.0
    rtt_default: float = 0.0
    rtt_chosen: float = 0.0
    loss_default: float = 0.0
    loss_chosen: float = 0.0
    loss_w: float = 0.0
    outage_s: float = 0.0
    """Seconds in which BGP's default was down and the chosen provider was not."""
    outage_bits: float = 0.0
    estimated: bool = False
    timeline: list[tuple[float, float, float | None, float | None]] = field(default_factory=list)
    """(time, weight bit/s, default RTT, chosen RTT) per measured minute, for the plots."""


def intervals(decisions: Iterable[dict], since: float, until: float) -> list[Interval]:
    """Improvement intervals clipped to [since, until); dry-run entries changed nothing."""
    by_prefix: dict[str, list[dict]] = defaultdict(list)
    for d in decisions:
        if not d.get("dry_run"):
            by_prefix[d["prefix"]].append(d)
    out: list[Interval] = []
    for prefix, moves in by_prefix.items():
        moves.sort(key=lambda d: d["time"])
        for i, d in enumerate(moves):
            default = d.get("default_provider")
            chosen = d.get("to_provider") or default
            if not chosen or not default or chosen == default:
                continue
            end = moves[i + 1]["time"] if i + 1 < len(moves) else until
            start, end = max(d["time"], since), min(end, until)
            if end > start:
                out.append(
                    Interval(
                        prefix,
                        chosen,
                        default,
                        d["reason"],
                        float(d["traffic_bps"] or 0),
                        start,
                        end,
                        d,
                    )
                )
    return out


def measure(iv: Interval, rows: Sequence[dict], step_s: float, down_loss: float) -> Interval:
    """Fills ``iv`` with the counterfactual from this prefix's per-minute rollups."""
    at: dict[str, dict[float, dict]] = defaultdict(dict)
    for r in rows:
        at[r["provider"]][r["time"]] = r
    for t, c in sorted(at[iv.chosen].items()):
        b = at[iv.default].get(t)
        overlap = min(t + step_s, iv.end) - max(t, iv.start)
        if b is None or overlap <= 0:
            continue
        w = iv.traffic_bps * overlap
        iv.seconds += overlap
        iv.bits += w
        if b.get("rtt_ms") is not None and c.get("rtt_ms") is not None:
            iv.rtt_w += w
            iv.rtt_default += w * b["rtt_ms"]
            iv.rtt_chosen += w * c["rtt_ms"]
        if b.get("loss") is not None and c.get("loss") is not None:
            iv.loss_w += w
            iv.loss_default += w * b["loss"]
            iv.loss_chosen += w * c["loss"]
            if b["loss"] >= down_loss > c["loss"]:
                iv.outage_s += overlap
                iv.outage_bits += w * (b["loss"] - c["loss"])
        iv.timeline.append((t, iv.traffic_bps, b.get("rtt_ms"), c.get("rtt_ms")))
    if iv.seconds == 0:
        _estimate(iv)
    return iv


def _estimate(iv: Interval) -> None:
    """No rollups: the decision's own before/after numbers, when it left BGP's default."""
    d = iv.decision
    iv.estimated = True
    if d.get("from_provider") != iv.default:
        return
    iv.bits = iv.traffic_bps * (iv.end - iv.start)
    if d.get("old_rtt_ms") is not None and d.get("new_rtt_ms") is not None:
        iv.rtt_w = iv.bits
        iv.rtt_default = iv.bits * d["old_rtt_ms"]
        iv.rtt_chosen = iv.bits * d["new_rtt_ms"]
    if d.get("old_loss") is not None and d.get("new_loss") is not None:
        iv.loss_w = iv.bits
        iv.loss_default = iv.bits * d["old_loss"]
        iv.loss_chosen = iv.bits * d["new_loss"]


def summarise(ivs: Sequence[Interval], total_bits: float | None = None) -> dict:
    """Traffic-weighted totals over intervals: BGP default against routepilot's choice."""
    rtt_w = sum(i.rtt_w for i in ivs)
    loss_w = sum(i.loss_w for i in ivs)
    bits = sum(i.bits for i in ivs)
    rtt_d = sum(i.rtt_default for i in ivs) / rtt_w if rtt_w else None
    rtt_c = sum(i.rtt_chosen for i in ivs) / rtt_w if rtt_w else None
    loss_d = sum(i.loss_default for i in ivs) / loss_w if loss_w else None
    loss_c = sum(i.loss_chosen for i in ivs) / loss_w if loss_w else None
    saved = None if rtt_d is None or rtt_c is None else rtt_d - rtt_c
    share = bits / total_bits if total_bits else None
    return {
        "intervals": len(ivs),
        "prefixes": len({i.prefix for i in ivs}),
        "moved_bytes": bits / 8,
        "moved_share": share,
        "bgp_default": {"rtt_ms": rtt_d, "loss": loss_d},
        "routepilot": {"rtt_ms": rtt_c, "loss": loss_c},
        "rtt_saved_ms": saved,
        "rtt_saved_all_traffic_ms": saved * share if saved is not None and share else None,
        "loss_avoided": None if loss_d is None or loss_c is None else loss_d - loss_c,
        "bytes_not_lost": sum(i.loss_default - i.loss_chosen for i in ivs) / 8,
        "intervals_estimated": sum(i.estimated for i in ivs),
    }


def by_reason(ivs: Sequence[Interval], decisions: Iterable[dict], since: float) -> list[dict]:
    """Per reason: the moves made in the period and the benefit of their intervals."""
    counts: dict[str, int] = defaultdict(int)
    for d in decisions:
        if d["time"] >= since and not d.get("dry_run"):
            counts[d["reason"]] += 1
    groups: dict[str, list[Interval]] = defaultdict(list)
    for i in ivs:
        groups[i.reason].append(i)
    out = []
    for reason in sorted(set(counts) | set(groups), key=lambda r: -counts.get(r, 0)):
        s = summarise(groups.get(reason, []))
        out.append({"reason": reason, "moves": counts.get(reason, 0), **s})
    return out


def outages(ivs: Sequence[Interval], down_loss: float) -> dict:
    """Minutes in which BGP's default was down for a prefix routed elsewhere."""
    hit = [i for i in ivs if i.outage_s]
    return {
        "down_loss": down_loss,
        "outage_moves": sum(1 for i in ivs if i.reason == "outage"),
        "prefixes": len({i.prefix for i in hit}),
        "prefix_minutes": sum(i.outage_s for i in hit) / 60,
        "bytes_rescued": sum(i.outage_bits for i in hit) / 8,
    }


def timeline(ivs: Sequence[Interval]) -> list[tuple[float, float | None, float | None]]:
    """Per minute: traffic-weighted RTT of the moved traffic on BGP's default and as routed."""
    acc: dict[float, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for i in ivs:
        for t, w, d, c in i.timeline:
            if d is not None and c is not None:
                a = acc[t]
                a[0] += w
                a[1] += w * d
                a[2] += w * c
    return [(t, a[1] / a[0], a[2] / a[0]) for t, a in sorted(acc.items()) if a[0]]
