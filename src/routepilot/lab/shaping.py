"""A lab's impairments as its state records them, applied one provider at a time.

`impair.py` says what a set of impairments means for the kernel and the delayer;
this module keeps each provider's current set in the state file and re-applies
the whole set on every change.
"""

from __future__ import annotations

import dataclasses

from routepilot.lab import impair, transit
from routepilot.lab.delayer import Hold, read_holds
from routepilot.lab.processes import ProcessTable


class Shaping:
    """The impairments of one lab's providers."""

    def __init__(self, procs: ProcessTable) -> None:
        self.procs = procs
        self.spec = procs.spec
        self.state = procs.state

    def of(self, provider: str) -> list[impair.Impairment]:
        return impair.from_dicts(self.state.impairments.get(provider, []))

    def _check(self, node: str) -> None:
        """A provider, or a transit of the transit lab; KeyError names the known ones."""
        if not transit.is_transit(self.spec, node):
            try:
                self.spec.index(node)
            except KeyError:
                if not self.spec.transits:
                    raise
                known = ", ".join([p.name for p in self.spec.providers] + self.spec.transit_names())
                raise KeyError(f"unknown provider or transit {node!r} (known: {known})") from None

    def set(self, provider: str, prefixes: list[str] | None, update: impair.Impairment) -> None:
        """Sets ``update``'s impairment for ``prefixes`` (all destinations when none)."""
        self._check(provider)
        targets = [impair.check_prefix(p) for p in prefixes] if prefixes else [impair.ALL]
        entries = self.of(provider)
        for t in targets:
            entries = impair.merge(entries, dataclasses.replace(update, prefix=t))
        self._apply(provider, entries)

    def clear(self, provider: str, prefixes: list[str] | None = None) -> None:
        """Removes impairments of ``provider`` (only for ``prefixes`` when given)."""
        self._check(provider)
        if prefixes:
            drop = {impair.check_prefix(p) for p in prefixes}
            entries = [e for e in self.of(provider) if e.prefix not in drop]
        else:
            entries = []
        self._apply(provider, entries)

    def held(self, node: str) -> tuple[bool, list[Hold]]:
        """What ``node``'s delayer actually held lately (see `delayer.read_holds`)."""
        self._check(node)
        pid = next(iter(self.procs.running("delayer", node=node)), None)
        if pid is None:
            raise KeyError(f"{node} has no running delayer")
        return read_holds(self.procs.dir / f"{node}-impair.json", pid)

    def _apply(self, provider: str, entries: list[impair.Impairment]) -> None:
        delayer = next(iter(self.procs.running("delayer", node=provider)), None)
        if transit.is_transit(self.spec, provider):
            base = 0.0
        else:
            base = self.spec.providers[self.spec.index(provider) - 1].base_delay_ms
        impair.apply(
            self.spec.ns(provider),
            entries,
            self.procs.dir / f"{provider}-impair.json",
            delayer,
            base,
            uplink=transit.uplink_pattern(self.spec, provider),
        )
        self.state.impairments[provider] = impair.to_dicts(entries)
        self.state.save()
