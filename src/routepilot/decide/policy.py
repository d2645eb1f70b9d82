"""Policy rules and the inject allowlist, compiled once and evaluated on a round's grid.

A :class:`RoundPolicy` is a pure input of a decision round (``DecisionInput.policy``),
built from ``policy.rules``, ``policy.target_exclusions`` and ``inject.allowlist``.
Evaluating it gives, per prefix row, the rule that governs it, whether it is inside
the allowlist, and the providers it may be sent to; decide/engine.py applies that.

The order (docs/policy.md): each prefix follows one rule. Rules with a prefix that
covers it (equal or less specific, and, if the rule also names an origin AS, that AS
too) come first, the longest prefix first, then list order; then the rules by origin
AS only, in list order. The origin AS of a prefix is the last AS of the path learned
from BGP's default provider (else from any provider with a route).
"""

from __future__ import annotations

import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from routepilot.config.policy import RuleConfig
from routepilot.rib.snapshot import RoutesSnapshot

IGNORE, ALLOW, DENY, STATIC, VIP = "ignore", "allow", "deny", "static", "vip"

_Net = tuple[int, int, int]
"""(IP version, network as an integer, prefix length)."""


def _parse(prefix: str) -> _Net | None:
    """(version, network, length) of a prefix; None when it is not one. inet_pton, not
    ipaddress: a full table's first round parses 100k prefixes."""
    addr, _, length = prefix.partition("/")
    six = ":" in addr
    try:
        packed = socket.inet_pton(socket.AF_INET6 if six else socket.AF_INET, addr)
        bits = 128 if six else 32
        plen = int(length) if length else bits
    except (OSError, ValueError):
        return None
    if not 0 <= plen <= bits:
        return None
    net = int.from_bytes(packed, "big") >> (bits - plen) << (bits - plen)
    return (6 if six else 4), net, plen


def _covers(outer: _Net, inner: _Net) -> bool:
    """Is ``inner`` equal to or more specific than ``outer``?"""
    version, net, length = outer
    if inner[0] != version or inner[2] < length:
        return False
    shift = (32 if version == 4 else 128) - length
    return (inner[1] >> shift) == (net >> shift)


@dataclass(frozen=True)
class Rule:
    """One compiled rule (``RuleConfig``), with its name for explanations."""

    name: str
    action: str
    prefix: str | None = None
    origin_asn: int | None = None
    providers: tuple[str, ...] = ()
    provider: str | None = None
    max_loss: float = 0.05
    """static: the loss ratio (0..1) above which the pin is not held."""
    max_rtt_ms: float | None = None
    jitter_threshold_ms: float | None = None
    """allow / deny / vip: the jitter gain that counts for the prefixes (None: jitter does
    not count)."""

    def describe(self) -> str:
        match = " and ".join(
            x
            for x in (
                f"prefix {self.prefix}" if self.prefix else "",
                f"origin AS{self.origin_asn}" if self.origin_asn else "",
            )
            if x
        )
        what = self.action
        if self.action in (ALLOW, DENY):
            what += " " + ",".join(self.providers)
        elif self.action == STATIC:
            what += f" {self.provider}"
        if self.jitter_threshold_ms is not None:
            what += f", jitter threshold {self.jitter_threshold_ms:g} ms"
        return f"rule {self.name} ({match}: {what})"


@dataclass(frozen=True)
class Evaluation:
    """What the policy says about each row of a round (rows = prefixes, columns = providers)."""

    rule: np.ndarray
    """(N,) index of the governing rule in ``RoundPolicy.rules`` (-1: none)."""
    inside: np.ndarray
    """(N,) inside the allowlist (always, when there is none)."""
    allow_entry: np.ndarray
    """(N,) index of the allowlist entry that covers the prefix (-1: none or no allowlist)."""
    hands_off: np.ndarray
    """(N,) left to BGP: outside the allowlist or governed by an ``ignore`` rule."""
    allowed: np.ndarray
    """(N, P) providers the prefix may be sent to (none for a hands-off prefix)."""
    static: np.ndarray
    """(N,) provider column of a ``static`` rule (-1: none, or a provider not configured)."""
    max_loss: np.ndarray
    """(N,) static: loss ceiling (NaN where no static rule)."""
    max_rtt_ms: np.ndarray
    """(N,) static: RTT ceiling (NaN: none)."""
    vip: np.ndarray
    """(N,) governed by a ``vip`` rule."""
    jitter_ms: np.ndarray
    """(N,) the governing rule's ``jitter_threshold_ms`` (NaN: jitter does not count)."""


@dataclass(frozen=True)
class RoundPolicy:
    """The rules, the allowlist and the target exclusions, as one input of a round."""

    rules: tuple[Rule, ...] = ()
    allowlist: tuple[str, ...] = ()
    """Prefixes routepilot may announce within; empty: no restriction."""
    target_exclusions: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """provider -> reason labels for which no move may land on it."""
    _nets: tuple[_Net | None, ...] = field(default=(), repr=False, compare=False)
    _allow_nets: tuple[_Net, ...] = field(default=(), repr=False, compare=False)
    _memo: dict[str, tuple[tuple[int, ...], int]] = field(
        default_factory=dict, repr=False, compare=False
    )
    """prefix -> (rules with a covering prefix, in precedence order; allowlist entry)."""

    @staticmethod
    def compile(
        rules: Sequence[RuleConfig] = (),
        allowlist: Sequence[str] = (),
        target_exclusions: Mapping[str, Sequence[str]] | None = None,
    ) -> RoundPolicy:
        compiled = tuple(
            Rule(
                name=r.name or f"rules[{i}]",
                action=r.action,
                prefix=r.prefix,
                origin_asn=r.origin_asn,
                providers=tuple(r.providers),
                provider=r.provider,
                max_loss=r.max_loss_pct / 100,
                max_rtt_ms=r.max_rtt_ms,
                jitter_threshold_ms=r.jitter_threshold_ms,
            )
            for i, r in enumerate(rules)
        )
        nets = tuple(_parse(r.prefix) if r.prefix else None for r in compiled)
        allow = tuple(n for n in (_parse(p) for p in allowlist) if n is not None)
        return RoundPolicy(
            rules=compiled,
            allowlist=tuple(allowlist),
            target_exclusions={
                p: frozenset(rs) for p, rs in (target_exclusions or {}).items() if rs
            },
            _nets=nets,
            _allow_nets=allow,
        )

    @property
    def empty(self) -> bool:
        return not self.rules and not self.allowlist

    def _match(self, prefix: str) -> tuple[tuple[int, ...], int]:
        """The rules whose prefix covers ``prefix`` (longest first, then list order) and
        the first allowlist entry that covers it (-1: none)."""
        hit = self._memo.get(prefix)
        if hit is not None:
            return hit
        net = _parse(prefix)
        rules: tuple[int, ...] = ()
        entry = -1
        if net is not None:
            cands = [
                (-n[2], i) for i, n in enumerate(self._nets) if n is not None and _covers(n, net)
            ]
            rules = tuple(i for _, i in sorted(cands))
            entry = next((j for j, a in enumerate(self._allow_nets) if _covers(a, net)), -1)
        if len(self._memo) > 2_000_000:
            self._memo.clear()
        self._memo[prefix] = (rules, entry)
        return rules, entry

    def evaluate(
        self, prefixes: Sequence[str], providers: Sequence[str], origin: np.ndarray
    ) -> Evaluation:
        """The policy on a round's grid; ``origin`` is each row's origin AS (0: unknown)."""
        n, k = len(prefixes), len(providers)
        rule = np.full(n, -1, dtype=np.int64)
        allow_entry = np.full(n, -1, dtype=np.int64)
        inside = np.ones(n, dtype=bool)
        if self.rules or self.allowlist:
            if self.allowlist or any(nt is not None for nt in self._nets):
                for i, p in enumerate(prefixes):
                    cands, entry = self._match(p)
                    allow_entry[i] = entry
                    for j in cands:
                        asn = self.rules[j].origin_asn
                        if asn is None or asn == origin[i]:
                            rule[i] = j
                            break
            # Rules by origin AS only, for rows no prefix rule governs: the first in the
            # list wins, so assign in reverse and let earlier rules overwrite.
            free = rule < 0
            for j in reversed(range(len(self.rules))):
                r = self.rules[j]
                if r.prefix is None and r.origin_asn is not None:
                    rule[free & (origin == r.origin_asn)] = j
            if self.allowlist:
                inside = allow_entry >= 0
        action = np.array([r.action for r in self.rules] + [""], dtype=object)[rule]
        col = {name: c for c, name in enumerate(providers)}
        allowed = np.ones((n, k), dtype=bool)
        static = np.full(n, -1, dtype=np.int64)
        max_loss = np.full(n, np.nan)
        max_rtt = np.full(n, np.nan)
        jitter = np.full(n, np.nan)
        for j, r in enumerate(self.rules):
            rows = rule == j
            if not rows.any():
                continue
            if r.jitter_threshold_ms is not None:
                jitter[rows] = r.jitter_threshold_ms
            named = np.array([name in r.providers for name in providers], dtype=bool)
            if r.action == ALLOW:
                allowed[rows] &= named[None, :]
            elif r.action == DENY:
                allowed[rows] &= ~named[None, :]
            elif r.action == STATIC:
                static[rows] = col.get(r.provider or "", -1)
                max_loss[rows] = r.max_loss
                max_rtt[rows] = np.nan if r.max_rtt_ms is None else r.max_rtt_ms
        hands_off = ~inside | (action == IGNORE)
        allowed[hands_off] = False
        return Evaluation(
            rule=rule,
            inside=inside,
            allow_entry=allow_entry,
            hands_off=hands_off,
            allowed=allowed,
            static=static,
            max_loss=max_loss,
            max_rtt_ms=max_rtt,
            vip=(action == VIP) & inside,
            jitter_ms=np.where(hands_off, np.nan, jitter),
        )

    def no_target(self, providers: Sequence[str], reason: str) -> np.ndarray:
        """(P,) providers no move for ``reason`` (a label) may land on."""
        return np.array(
            [reason in self.target_exclusions.get(p, ()) for p in providers], dtype=bool
        )

    @property
    def has_vip(self) -> bool:
        """Whether a ``vip`` rule exists: without one, no caller needs a table's origins
        (a pass over every path of a full table, each round)."""
        return any(r.action == VIP for r in self.rules)

    def vip_prefixes(self, prefixes: Sequence[str], origin: np.ndarray) -> list[str]:
        """The prefixes of a routes table (``origin`` aligned with it) a ``vip`` rule governs:
        they are measured, and decided, with or without traffic."""
        if not self.has_vip:
            return []
        ev = self.evaluate(prefixes, (), origin)
        return [prefixes[i] for i in np.flatnonzero(ev.vip).tolist()]

    def constraint(self, ev: Evaluation, i: int) -> dict[str, object] | None:
        """What of the policy governs row ``i``: the rule and/or the allowlist entry."""
        out: dict[str, object] = {}
        if self.allowlist:
            e = int(ev.allow_entry[i])
            out["allowlist"] = self.allowlist[e] if e >= 0 else None
            out["inside_allowlist"] = e >= 0
        j = int(ev.rule[i])
        if j >= 0:
            r = self.rules[j]
            out["rule"] = r.name
            out["action"] = r.action
            out["text"] = r.describe()
        elif self.allowlist and int(ev.allow_entry[i]) < 0:
            out["text"] = "outside the inject allowlist: left to BGP"
        return out or None


EMPTY = RoundPolicy()


def routes_origin(routes: RoutesSnapshot) -> np.ndarray:
    """Each routes row's origin AS: BGP's default path's, else any provider's (0: none)."""
    n = len(routes.prefixes)
    if routes.origin_as is None or n == 0 or not len(routes.providers):
        return np.zeros(n, dtype=np.int64)
    per = np.asarray(routes.origin_as, dtype=np.int64)
    best = np.asarray(routes.bgp_best, dtype=np.int64)
    first = per[np.arange(n), np.argmax(per != 0, axis=1)]
    on_best = per[np.arange(n), np.maximum(best, 0)]
    return np.where((best >= 0) & (on_best != 0), on_best, first)
