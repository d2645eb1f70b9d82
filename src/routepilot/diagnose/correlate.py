"""Degraded paths correlated across providers by the ASNs they cross: who is the cause.

Pure: paths in, findings out (no clock, no I/O), so that every case can be tested.

For each degraded prefix, a candidate cause is *consistent* with it when:

- an AS ``a``: every measured path of the prefix that crosses ``a`` is degraded, every
  path that avoids ``a`` is healthy, and at least one path crosses it;
- a provider ``P``: its path is degraded and every other provider's path is healthy.

Candidates are then taken greedily, the one that explains the most prefixes first (a
provider before an AS on a tie: when a transit is only ever crossed by one provider the
two cannot be told apart, and the provider is the one the operator deals with; between
ASes, the one crossed by more providers). A cause needs ``min_prefixes`` prefixes — the
documented minimum that keeps one noisy prefix from naming an AS — and the degraded
prefixes no such cause explains become prefix findings of their own.

Before a provider is named, the transit ASes that every one of its degraded paths crosses
are weighed on the other providers' paths through them, taken together (by
``PathState.weight``): when those are on average nearer to the provider's own paths
through the transit than to the clean paths (on a log scale: at least the geometric mean
of the two, the clean ones taken as at least ``CLEAN_FLOOR``), the transit is the cause,
not the provider. Path by path, the test above is fragile while a loss sets in: each path's
window fills with the new losses at its own pace, and for a few rounds the paths of the
provider that crosses the transit everywhere are over the threshold where another
provider's through the same transit are not yet, which reads as "that provider alone".
Pooled, the other providers' paths through a sick transit are about as lossy as the first
provider's (their windows fill alike); through a healthy one they are clean.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

AS = "as"
PROVIDER = "provider"
PREFIX = "prefix"

CLEAN_FLOOR = 0.1
"""The least a clean path's ``PathState.weight`` is taken to be (a tenth of the way to
degraded) when the other providers' paths through a transit are weighed."""


@dataclass(frozen=True)
class PathState:
    """One (prefix, provider) path over the measurement window, with what it crosses."""

    prefix: str
    provider: str
    degraded: bool
    loss: float
    rtt_ms: float
    asns: tuple[int, ...]
    """The AS path (BGP's, completed by traceroute hops), the provider's AS first."""
    severity: float = 0.0
    """How far toward degraded: the larger of loss over the loss threshold and RTT excess
    over the excess threshold (1 or more when degraded)."""

    @property
    def weight(self) -> float:
        """``severity``, and at least 1 when degraded (down, say, with no loss yet)."""
        return max(self.severity, 1.0) if self.degraded else self.severity


@dataclass(frozen=True)
class Finding:
    """A cause and the degraded prefixes it explains, with the paths as evidence."""

    kind: str
    asn: int | None
    provider: str | None
    prefixes: tuple[str, ...]
    evidence: tuple[PathState, ...]

    @property
    def key(self) -> tuple[str, str]:
        """What identifies the cause across rounds."""
        if self.kind == AS:
            return AS, str(self.asn)
        if self.kind == PROVIDER:
            return PROVIDER, str(self.provider)
        return PREFIX, self.prefixes[0]


def correlate(
    paths: Iterable[PathState],
    provider_asns: Mapping[str, int],
    min_prefixes: int,
) -> list[Finding]:
    """The findings that explain every degraded prefix among ``paths`` (measured paths
    only: a path without enough samples must not be in ``paths``)."""
    by_prefix: dict[str, list[PathState]] = {}
    for p in paths:
        by_prefix.setdefault(p.prefix, []).append(p)
    degraded = {x: ps for x, ps in by_prefix.items() if any(p.degraded for p in ps)}
    explains: dict[tuple[str, str], set[str]] = {}
    crossers: dict[int, set[str]] = {}
    for x, ps in degraded.items():
        for key in _consistent(ps, provider_asns):
            explains.setdefault(key, set()).add(x)
        for p in ps:
            for a in p.asns:
                crossers.setdefault(a, set()).add(p.provider)
    findings: list[Finding] = []
    left = set(degraded)
    while left:
        best = _best(explains, left, crossers)
        if best is None:
            break
        key, covered = best
        if key[0] == PROVIDER:
            named = {f.asn for f in findings if f.asn is not None}
            transit = _transit_instead(key[1], covered, by_prefix, provider_asns, named)
            if transit is not None:
                key = (AS, str(transit))
                covered = covered | (explains.get(key, set()) & left)
        earlier = next((i for i, f in enumerate(findings) if f.key == key), None)
        if earlier is not None:
            # One finding per cause: a transit named earlier this round takes these too.
            left -= covered
            whole = covered | set(findings[earlier].prefixes)
            findings[earlier] = _finding(key, whole, degraded)
            continue
        if len(covered) < min_prefixes:
            break
        left -= covered
        findings.append(_finding(key, covered, degraded))
    for x in sorted(left):
        evidence = tuple(p for p in degraded[x] if p.degraded)
        findings.append(Finding(PREFIX, None, None, (x,), evidence))
    return findings


def _consistent(ps: Sequence[PathState], provider_asns: Mapping[str, int]) -> list[tuple[str, str]]:
    """The candidate causes consistent with one degraded prefix's paths."""
    out: list[tuple[str, str]] = []
    bad = [p for p in ps if p.degraded]
    if len(bad) == 1 and len(ps) > 1:
        out.append((PROVIDER, bad[0].provider))
    # AS candidates: what the degraded paths cross beyond their own provider's AS.
    candidates: set[int] = set()
    for p in bad:
        own = provider_asns.get(p.provider)
        candidates.update(a for a in p.asns if a != own)
    for a in sorted(candidates):
        if all(p.degraded == (a in p.asns) for p in ps):
            out.append((AS, str(a)))
    return out


def _transit_instead(
    provider: str,
    covered: set[str],
    by_prefix: Mapping[str, list[PathState]],
    provider_asns: Mapping[str, int],
    named: set[int],
) -> int | None:
    """The transit to name instead of ``provider`` for ``covered`` (see the module's
    docstring), or None when the other providers' paths through it are clean next to the
    provider's, or absent. A transit already ``named`` this round that all the provider's
    degraded paths cross is the cause of those too."""
    mine = [p for x in covered for p in by_prefix[x] if p.provider == provider and p.degraded]
    common = crossed_by_all(mine) - {provider_asns.get(provider)}
    if common & named:
        return min(common & named)
    # Like with like, in one pass: per transit ``a``, toward the prefixes this provider's
    # path crosses ``a`` for, its own paths through ``a``, the other providers' paths
    # through ``a``, and the other providers' paths that avoid ``a`` (clean, if ``a`` is).
    ours: dict[int, list[PathState]] = {a: [] for a in common}
    others: dict[int, list[PathState]] = {a: [] for a in common}
    clean: dict[int, list[PathState]] = {a: [] for a in common}
    for ps in by_prefix.values():
        # Every path of this provider (one a router) toward the prefix, as before 1f7e5c1:
        # not only the first one found.
        through = {a for p in ps if p.provider == provider for a in p.asns if a in common}
        for a in through:
            for q in ps:
                if a not in q.asns:
                    if q.provider != provider:
                        clean[a].append(q)
                elif q.provider == provider:
                    ours[a].append(q)
                else:
                    others[a].append(q)
    best: tuple[float, int, int] | None = None
    for a in common:
        if not others[a]:
            continue
        # Between clean (or CLEAN_FLOOR) and the provider's own, on a log scale: which of
        # the two the other providers' paths through ``a`` are nearer to.
        baseline = max(_mean_weight(clean[a]), CLEAN_FLOOR)
        share = _mean_weight(others[a]) / math.sqrt(_mean_weight(ours[a]) * baseline)
        spread = len({q.provider for q in others[a]})
        if share >= 1.0 and (best is None or (share, spread, -a) > best):
            best = (share, spread, -a)
    return None if best is None else -best[2]


def crossed_by_all(paths: Sequence[PathState]) -> set[int]:
    """The ASes every one of ``paths`` crosses (none when there are no paths)."""
    return set.intersection(*(set(p.asns) for p in paths)) if paths else set()


def _mean_weight(paths: Sequence[PathState]) -> float:
    return sum(p.weight for p in paths) / len(paths) if paths else 0.0


def _best(
    explains: Mapping[tuple[str, str], set[str]],
    left: set[str],
    crossers: Mapping[int, set[str]],
) -> tuple[tuple[str, str], set[str]] | None:
    best: tuple[tuple[int, int, int, str], tuple[str, str], set[str]] | None = None
    for key, prefixes in explains.items():
        covered = prefixes & left
        if not covered:
            continue
        kind, name = key
        spread = len(crossers.get(int(name), ())) if kind == AS else 0
        rank = (len(covered), 1 if kind == PROVIDER else 0, spread, name)
        if best is None or rank > best[0]:
            best = (rank, key, covered)
    return None if best is None else (best[1], best[2])


def _finding(
    key: tuple[str, str], covered: set[str], degraded: Mapping[str, list[PathState]]
) -> Finding:
    kind, name = key
    prefixes = tuple(sorted(covered))
    if kind == PROVIDER:
        evidence = tuple(p for x in prefixes for p in degraded[x] if p.provider == name)
        return Finding(PROVIDER, None, name, prefixes, evidence)
    asn = int(name)
    evidence = tuple(p for x in prefixes for p in degraded[x] if asn in p.asns)
    return Finding(AS, asn, None, prefixes, evidence)
