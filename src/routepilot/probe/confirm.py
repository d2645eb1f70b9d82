"""Which prefixes are *confirming*: under retry on a wide RTT spread, their longer trains
not back yet.

When a target's RTT spread through a provider turns wide, the prober puts its prefix
under retry probing with longer trains (probe/component.py). Until every provider's
path of that prefix has brought back a long train's worth of results sent after that
moment, the prefix is listed in the measurement snapshot's ``confirming``, and decide/
makes no loss or latency move on it (an outage move never waits). A confirmation ends
at its deadline at the latest (``retry_hold_s``), so that a path starved of probes
cannot hold decisions forever, and it is opened once per retry episode: a path that
stays jittery is probed with long trains throughout, but decided on after the first.
"""

from __future__ import annotations

from collections.abc import Container, Iterable
from dataclasses import dataclass, field


@dataclass
class _Open:
    since: float
    until: float
    need: int
    back: dict[int, int] = field(default_factory=dict)
    """Per provider, results of probes sent since ``since``."""


class Confirmations:
    """The open confirmations, fed with every result of the decision loop's own probes
    (never an on-demand measurement's: those have their own engine and sockets)."""

    def __init__(self) -> None:
        self.open: dict[str, _Open] = {}
        """The open confirmations by prefix (read once per probe result: empty, nothing to
        feed)."""

    def start(
        self, prefix: str, providers: Iterable[int], since: float, until: float, need: int
    ) -> None:
        """Opens ``prefix``'s confirmation: ``need`` results back through each provider."""
        self.open[prefix] = _Open(since, until, need, dict.fromkeys(providers, 0))

    def result(self, prefix: str, provider: int, sent_at: float) -> None:
        c = self.open.get(prefix)
        if c is not None and sent_at >= c.since and provider in c.back:
            c.back[provider] += 1
            if all(n >= c.need for n in c.back.values()):
                del self.open[prefix]

    def pending(self, now: float, paths: Container[tuple[str, int]]) -> frozenset[str]:
        """Prefixes still confirming at ``now``; providers whose path is no longer measured
        (not in ``paths``) are not waited for."""
        out = []
        for prefix, c in list(self.open.items()):
            waiting = [p for p, n in c.back.items() if n < c.need and (prefix, p) in paths]
            if now >= c.until or not waiting:
                del self.open[prefix]
            else:
                out.append(prefix)
        return frozenset(out)

    def __contains__(self, prefix: str) -> bool:
        return prefix in self.open
