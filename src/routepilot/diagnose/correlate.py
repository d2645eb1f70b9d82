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
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

AS = "as"
PROVIDER = "provider"
PREFIX = "prefix"


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
