"""Which addresses to probe in each prefix: learned, verified, kept, replaced.

Candidates come from flow destinations (the addresses real traffic goes to, most
seen first) and, as a fallback, from configuration: listed addresses, then the
prefix's own host numbers ``host_offsets`` (1: its first address), which are
inside the prefix by construction. A candidate becomes an
*active* target once it answers through at least one provider; up to ``k`` are
kept per prefix. A target that stops answering through every provider while a
sibling in the same prefix still answers is dead and replaced (its losses in a row are
counted per provider, so a path blackholed for the whole prefix does not kill it); when every
target of a prefix goes silent everywhere, they are all dropped and the prefix
goes back to verification. A prefix where no candidate answers is
*unprobeable* and is left to BGP; it is tried again after ``retry_s``.

A target that answers, but badly, is *disqualified* and replaced too, when a
sibling address of the same prefix answers well through the same providers
(host qualification, probe/qualify.py): counted by cause in ``disqualified``.

Scope is enforced here, on the way in: an address is accepted only inside a
prefix routepilot was asked to measure or a configured range, so nothing else
can ever be picked for a probe.
"""

from __future__ import annotations

import bisect
import ipaddress
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from routepilot.log import get_logger
from routepilot.probe.qualify import SILENT, HostRecord, SpreadRule, judge

log = get_logger(__name__)

SPREAD_EVERY = 4
"""A target's spread through a provider is read at every this many results."""


@dataclass
class Target:
    address: str
    kind: str = "icmp"
    """The probe kind this address answered when verified."""
    losses_through: dict[int | None, int] = field(default_factory=dict)
    """Lost in a row through each provider it is probed through, reset by an answer
    through that provider: a path blackholed for the whole prefix, probed every second
    as a current exit while the others are probed every few seconds, must not make a
    target that answers elsewhere look silent."""
    last_answer: float = 0.0
    answered: int = 0
    lost: int = 0
    record: HostRecord = field(default_factory=HostRecord)
    """Its last results through each provider, for host qualification and the spread."""
    owner: PrefixTargets | None = field(default=None, repr=False, compare=False)
    """The prefix whose active target it is; None once dropped, or its prefix no longer
    measured (the prober's result path in C reads it: a result for a target no longer
    active is settled by :meth:`TargetManager.result`)."""


@dataclass
class PrefixTargets:
    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    active: list[Target] = field(default_factory=list)
    candidates: dict[str, int] = field(default_factory=dict)
    """Learned, not yet verified: address → times seen in flows."""
    fallback: list[str] = field(default_factory=list)
    """Configured targets inside this prefix."""
    guesses: list[str] = field(default_factory=list)
    """Host-offset addresses, tried only while nothing else answers."""
    failed: dict[str, float] = field(default_factory=dict)
    """Address → when it failed verification or died; not retried before ``retry_s``."""
    tries: dict[str, int] = field(default_factory=dict)
    kind_of: dict[str, int] = field(default_factory=dict)
    """Candidate → index in ``kinds`` of the kind being tried on it."""
    verifying: str | None = None
    idle_until: float = 0.0
    """No candidate to verify until then (the earliest failed one may be retried), unless a
    new one is observed or a target dropped: :meth:`TargetManager.pick` does not look again
    for one at every few probes, a scan of the prefix's candidates and fallbacks."""
    picks: int = 0
    choices: list[tuple[str, bool, str, Target | None]] = field(default_factory=list)
    """The active targets as the scheduler wants them (rebuilt when ``active`` changes):
    (address, False, kind, the target)."""
    unprobeable_since: float | None = None
    providers: set[int | None] = field(default_factory=set)
    """The providers its targets are probed through."""
    tried_through: dict[str, set[int | None]] = field(default_factory=dict)
    """Candidate → the providers its unanswered verification probes went through."""

    def losses_in_a_row(self, t: Target) -> int:
        """``t``'s losses in a row through every provider the prefix is probed through: the
        fewest through any one (a provider ``t`` has not been probed through yet counts 0)."""
        return min((t.losses_through.get(p, 0) for p in self.providers), default=0)


class TargetManager:
    """Keeps the K best live targets per prefix; see the module docstring."""

    def __init__(
        self,
        k: int = 3,
        *,
        allowed_ranges: Iterable[str] = (),
        fallback: Iterable[str] = (),
        max_candidates: int = 32,
        verify_tries: int = 3,
        dead_after: int = 6,
        retry_s: float = 600.0,
        host_offsets: Iterable[int] = (),
        kinds: Iterable[str] = ("icmp",),
        qualify: bool = True,
        qualify_samples: int = 20,
        qualify_loss: float = 0.2,
        spread: SpreadRule | None = None,
    ) -> None:
        self.k = k
        self.allowed = [ipaddress.ip_network(r) for r in allowed_ranges]
        self.fallback = [str(ipaddress.ip_address(a)) for a in fallback]
        # The listed addresses by version, sorted by value (ties in listed order), so that
        # each new prefix finds its own with two bisections instead of a scan of all of them.
        self._fallback_sorted: dict[int, tuple[list[int], list[tuple[int, str]]]] = {}
        for version in (4, 6):
            pairs = sorted(
                (
                    (int(ip), i, a)
                    for i, a in enumerate(self.fallback)
                    if (ip := ipaddress.ip_address(a)).version == version
                ),
            )
            self._fallback_sorted[version] = (
                [v for v, _, _ in pairs],
                [(i, a) for _, i, a in pairs],
            )
        self.max_candidates = max_candidates
        self.verify_tries = verify_tries
        self.dead_after = dead_after
        self.retry_s = retry_s
        self.host_offsets = tuple(host_offsets)
        self.kinds = tuple(kinds)
        self.qualify = qualify
        self.qualify_samples = qualify_samples
        self.qualify_loss = qualify_loss
        self.spread = spread or SpreadRule()
        self.prefixes: dict[str, PrefixTargets] = {}
        self._by_len: dict[tuple[int, int], dict[int, str]] = {}
        self._canonical: dict[str, str] = {}
        """The last prefixes given to :meth:`set_prefixes`, each with its canonical text."""
        self.verified = 0
        self.replaced = 0
        self.out_of_scope = 0
        self.disqualified: Counter[str] = Counter()
        """Targets replaced while a sibling answers, by cause (probe/qualify.py)."""

    def set_retry_s(self, retry_s: float) -> None:
        """A new ``retry_s`` (a reload): every prefix looks for a candidate again."""
        self.retry_s = retry_s
        for pt in self.prefixes.values():
            pt.idle_until = 0.0

    # --- which prefixes -----------------------------------------------------------------------

    def set_prefixes(self, prefixes: Iterable[str]) -> None:
        """The prefixes to measure now; targets of prefixes that stay are kept."""
        # Called every round with the busiest prefixes, nearly the same ones each time:
        # each text is parsed once while it stays, and the index is built again only when
        # the set changes (on a full table, parsing them all was most of a round's probe
        # update, on the event loop).
        known = self._canonical
        canonical = {}
        for p in prefixes:
            c = known.get(p)
            canonical[p] = str(ipaddress.ip_network(p, strict=False)) if c is None else c
        self._canonical = canonical
        wanted = {c: p for p, c in canonical.items()}
        changed = False
        for p in list(self.prefixes):
            if p not in wanted:
                for t in self.prefixes.pop(p).active:
                    t.owner = None
                changed = True
        for p in wanted:
            if p not in self.prefixes:
                changed = True
                net = ipaddress.ip_network(p)
                pt = PrefixTargets(net)
                pt.fallback = self._fallback_in(net)
                pt.guesses = [
                    str(net.network_address + off)
                    for off in self.host_offsets
                    if 0 < off < net.num_addresses
                ]
                self.prefixes[p] = pt
        if not changed:
            return
        self._by_len = {}
        for p, pt in self.prefixes.items():
            key = (pt.network.version, pt.network.prefixlen)
            self._by_len.setdefault(key, {})[int(pt.network.network_address)] = p

    def _fallback_in(self, net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> list[str]:
        """The listed fallback addresses inside ``net``, in the order they were listed."""
        values, entries = self._fallback_sorted[net.version]
        lo = bisect.bisect_left(values, int(net.network_address))
        hi = bisect.bisect_right(values, int(net.broadcast_address))
        return [a for _, a in sorted(entries[lo:hi])]

    def prefix_of(self, address: str) -> str | None:
        """Longest managed prefix containing ``address``."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return None
        n = int(ip)
        bits = ip.max_prefixlen
        best = None
        best_len = -1
        for (version, plen), table in self._by_len.items():
            if version != ip.version or plen <= best_len:
                continue
            p = table.get(n >> (bits - plen) << (bits - plen))
            if p is not None:
                best, best_len = p, plen
        return best

    def in_scope(self, address: str) -> bool:
        if self.prefix_of(address) is not None:
            return True
        ip = ipaddress.ip_address(address)
        return any(ip in r for r in self.allowed)

    # --- learning ---------------------------------------------------------------------------

    def observe(self, addresses: Iterable[str]) -> int:
        """Flow destinations; returns how many became (or were already) candidates."""
        n = 0
        for a in addresses:
            p = self.prefix_of(a)
            if p is None:
                self.out_of_scope += 1
                continue
            pt = self.prefixes[p]
            a = str(ipaddress.ip_address(a))
            if a in pt.candidates:
                pt.candidates[a] += 1
            elif not _is_active(pt, a) and self._room(pt):
                pt.candidates[a] = 1
                pt.idle_until = 0.0
                if pt.unprobeable_since is not None and a not in pt.failed:
                    pt.unprobeable_since = None
            else:
                continue
            n += 1
        return n

    def _room(self, pt: PrefixTargets) -> bool:
        """Whether a new candidate fits, evicting one that failed verification if need be."""
        if len(pt.candidates) < self.max_candidates:
            return True
        for a in pt.candidates:
            if a in pt.failed:
                del pt.candidates[a]
                return True
        return False

    def _next_candidate(self, pt: PrefixTargets, now: float) -> str | None:
        for a, t in list(pt.failed.items()):
            if now - t >= self.retry_s:
                del pt.failed[a]
        best = None
        best_seen = -1
        for a, seen in pt.candidates.items():
            if a not in pt.failed and seen > best_seen:
                best, best_seen = a, seen
        if best is not None:
            return best
        for a in pt.fallback:
            if a not in pt.failed and not _is_active(pt, a):
                return a
        if not pt.active:
            for a in pt.guesses:
                if a not in pt.failed:
                    return a
        return None

    # --- picking ----------------------------------------------------------------------------

    def pick(self, prefix: str, now: float) -> list[tuple[str, bool, str, Target | None]]:
        """Targets for the next probe of ``prefix`` as (address, verifying, kind, target):
        the active ones, or one candidate to verify (its target None)."""
        pt = self.prefixes.get(prefix)
        if pt is None:
            return []
        pt.picks += 1
        if len(pt.active) < self.k and (not pt.active or pt.picks % 4 == 0):
            if pt.verifying is None and now >= pt.idle_until:
                pt.verifying = self._next_candidate(pt, now)
                if pt.verifying is None:
                    pt.idle_until = min(pt.failed.values(), default=math.inf) + self.retry_s
            if pt.verifying is not None:
                return [(pt.verifying, True, self.kinds[pt.kind_of.get(pt.verifying, 0)], None)]
            if not pt.active and pt.unprobeable_since is None:
                pt.unprobeable_since = now
                log.info(
                    "prefix unprobeable: no candidate answers; left to bgp",
                    prefix=str(pt.network),
                    failed=len(pt.failed),
                )
        return pt.choices

    # --- results ----------------------------------------------------------------------------

    def result(
        self,
        prefix: str,
        address: str,
        answered: bool,
        verifying: bool,
        now: float,
        kind: str | None = None,
        provider: int | None = None,
        rtt_ms: float = math.nan,
    ) -> bool:
        """One probe's outcome; ``provider`` and ``rtt_ms`` (NaN when lost) feed host
        qualification and the spread. Returns whether the target's RTT spread through
        ``provider`` was wide when last read (retry on spread)."""
        pt = self.prefixes.get(prefix)
        if pt is None:
            return False
        pt.providers.add(provider)
        if verifying:
            self._verification(pt, address, answered, now, kind or self.kinds[0], provider)
            return False
        for t in pt.active:
            if t.address == address:
                break
        else:
            return False
        wide = False
        if provider is not None:
            record = t.record
            spread = self.spread
            # The spread is read every few results of the path, not at every one.
            wide = record.settle(
                provider, rtt_ms if answered else math.nan, SPREAD_EVERY, spread.ms, spread.ratio
            )
            fresh = record.fresh
            if (
                self.qualify
                and fresh >= 2
                and fresh >= self.qualify_samples // 4
                and self._disqualify(pt, t, now)
            ):
                return False
        if answered:
            t.losses_through[provider] = 0
            t.last_answer = now
            t.answered += 1
            return wide
        t.lost += 1
        t.losses_through[provider] = t.losses_through.get(provider, 0) + 1
        run = pt.losses_in_a_row(t)
        if run < self.dead_after:
            return False
        sibling_alive = any(
            o is not t and o.last_answer > now - self._silence(run) for o in pt.active
        )
        if sibling_alive:
            self.disqualified[SILENT] += 1
            self._drop(pt, t, now)
            log.info(
                "probe target dropped: silent while a sibling answers",
                prefix=str(pt.network),
                address=t.address,
                losses=run,
            )
        elif all(pt.losses_in_a_row(o) >= 4 * self.dead_after for o in pt.active):
            log.info(
                "probe targets dropped: all silent; verifying again",
                prefix=str(pt.network),
                targets=len(pt.active),
            )
            for o in list(pt.active):
                self._drop(pt, o, now)
        return False

    def _disqualify(self, pt: PrefixTargets, t: Target, now: float) -> bool:
        """Replaces ``t`` if it answers badly where a sibling answers well (probe/qualify.py);
        judged every quarter of ``qualify_samples`` results (see :meth:`result`), not at
        every one; the spreads it compares are the ones last read."""
        t.record.fresh = 0
        if not t.record.suspect(self.qualify_loss):
            return False
        return self._judge(pt, t, now)

    def _judge(self, pt: PrefixTargets, t: Target, now: float) -> bool:
        """:meth:`_disqualify` for a suspect target (the prober's result path in C calls it
        once it has found ``t`` suspect itself)."""
        siblings = [o.record for o in pt.active if o is not t]
        cause = judge(t.record, siblings, self.qualify_loss, self.spread) if siblings else None
        if cause is None:
            return False
        self.disqualified[cause] += 1
        self._drop(pt, t, now)
        log.info(
            "probe target replaced: it answers worse than a sibling through every provider",
            prefix=str(pt.network),
            address=t.address,
            cause=cause,
        )
        return True

    def _silence(self, run: int) -> float:
        # Long enough to cover the losses that made the target suspect.
        return float(max(10, run * 5))

    def _drop(self, pt: PrefixTargets, t: Target, now: float) -> None:
        pt.idle_until = 0.0
        pt.active.remove(t)
        t.owner = None
        pt.choices = [(o.address, False, o.kind, o) for o in pt.active]
        pt.failed[t.address] = now
        self.replaced += 1

    def _verification(
        self,
        pt: PrefixTargets,
        address: str,
        answered: bool,
        now: float,
        kind: str,
        provider: int | None = None,
    ) -> None:
        if pt.verifying == address:
            pt.verifying = None
        if answered:
            pt.candidates.pop(address, None)
            pt.tries.pop(address, None)
            pt.tried_through.pop(address, None)
            pt.kind_of.pop(address, None)
            if not _is_active(pt, address) and len(pt.active) < self.k:
                record = HostRecord(self.qualify_samples)
                pt.active.append(
                    Target(address, kind=kind, last_answer=now, record=record, owner=pt)
                )
                pt.choices = [(o.address, False, o.kind, o) for o in pt.active]
                self.verified += 1
            pt.unprobeable_since = None
            return
        tries = pt.tries.get(address, 0) + 1
        through = pt.tried_through.setdefault(address, set())
        through.add(provider)
        # Unanswered through one provider only says little where the prefix has others: its
        # current exit may be blackholed (and is probed most often); one more provider must
        # have failed it too.
        if tries < self.verify_tries or (len(pt.providers) > 1 and len(through) < 2):
            pt.tries[address] = tries
            return
        pt.tries.pop(address, None)
        pt.tried_through.pop(address, None)
        nxt = pt.kind_of.get(address, 0) + 1
        if nxt < len(self.kinds):
            # Many hosts drop ICMP but answer a TCP SYN: try the next kind before giving up.
            pt.kind_of[address] = nxt
            return
        # Kept as a candidate, resting in ``failed`` until ``retry_s`` has passed.
        pt.kind_of.pop(address, None)
        pt.failed[address] = now

    def add_path(self, prefix: str, provider: int) -> None:
        """``provider`` is probed for ``prefix``."""
        pt = self.prefixes.get(prefix)
        if pt is not None:
            pt.providers.add(provider)

    def forget_path(self, prefix: str, provider: int) -> None:
        """``provider`` is no longer probed for ``prefix``: its losses in a row no longer
        count for or against the prefix's targets."""
        pt = self.prefixes.get(prefix)
        if pt is not None:
            pt.providers.discard(provider)
            for t in pt.active:
                t.losses_through.pop(provider, None)

    # --- views ------------------------------------------------------------------------------

    def unprobeable(self) -> frozenset[str]:
        return frozenset(p for p, pt in self.prefixes.items() if pt.unprobeable_since is not None)

    def active(self, prefix: str) -> list[str]:
        pt = self.prefixes.get(prefix)
        return [t.address for t in pt.active] if pt else []


def _is_active(pt: PrefixTargets, address: str) -> bool:
    return any(t.address == address for t in pt.active)
