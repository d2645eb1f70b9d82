"""Caps on what one exporter, and all of them together, may keep in a format's caches.

Anyone who can reach the collector's port can make it create state: a datagram
with a new (exporter, observation domain) makes a template cache, a data set
before its template is held, a template is compiled and kept. Every such cache
is capped in total, and also per exporter, so that one source (a broken router,
or junk sent at the port) exhausts only its own share and never blinds the
collector to another exporter.

A :class:`QuotaTable` tracks the keys of one cache (domains, sFlow agents) by
exporter and knows which are *bare*: those that never proved useful (an IPFIX
domain that never stored a valid template). When a cap is reached the least
recently seen bare key is the one to give way: the exporter's own when it is
over its share, anyone's when the whole cache is full. A key that proved useful
is never evicted to make room: the newcomer is refused (a counted drop) instead.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


@dataclass
class Admission(Generic[K]):
    """Whether a new key may enter, and which key must leave first to make room."""

    ok: bool
    evict: K | None = None
    reason: str = ""
    """Which cap is reached, the drop reason if the key cannot enter after all:
    ``domain_quota_full`` (the exporter's own share) or ``domain_cache_full`` (the
    whole cache)."""


class QuotaTable(Generic[K]):
    """Keys of one cache by exporter, with the bare ones in least-recently-seen order."""

    def __init__(self, total: int, per_exporter: int) -> None:
        self.total = total
        # A share as large as the whole cache is no share: only the total applies.
        self.per_exporter = per_exporter if per_exporter < total else 0
        self.size = 0
        self.count_of: dict[int, int] = {}
        self._bare: OrderedDict[K, int] = OrderedDict()
        self._bare_of: dict[int, OrderedDict[K, None]] = {}

    def admit(self, exporter: int) -> Admission[K]:
        """Room for one more key of ``exporter``: what to evict for it, or a refusal."""
        if self.per_exporter and self.count_of.get(exporter, 0) >= self.per_exporter:
            own = self._bare_of.get(exporter)
            if not own:
                return Admission(False, reason="domain_quota_full")
            return Admission(True, next(iter(own)), "domain_quota_full")
        if self.size >= self.total:
            if not self._bare:
                return Admission(False, reason="domain_cache_full")
            return Admission(True, next(iter(self._bare)), "domain_cache_full")
        return Admission(True)

    def add(self, key: K, exporter: int) -> None:
        """A new key, bare until :meth:`prove` is called."""
        self.size += 1
        self.count_of[exporter] = self.count_of.get(exporter, 0) + 1
        self._bare[key] = exporter
        self._bare_of.setdefault(exporter, OrderedDict())[key] = None

    def touch(self, key: K) -> None:
        """The key was seen again (only bare keys are ordered: they are the ones evicted)."""
        exporter = self._bare.get(key)
        if exporter is not None:
            self._bare.move_to_end(key)
            self._bare_of[exporter].move_to_end(key)

    def is_bare(self, key: K) -> bool:
        return key in self._bare

    def prove(self, key: K) -> None:
        """The key proved useful (a valid template): it is no longer evicted for others."""
        exporter = self._bare.pop(key, None)
        if exporter is not None:
            self._drop_bare(key, exporter)

    def remove(self, key: K, exporter: int) -> None:
        self.size -= 1
        left = self.count_of[exporter] - 1
        if left:
            self.count_of[exporter] = left
        else:
            del self.count_of[exporter]
        if self._bare.pop(key, None) is not None:
            self._drop_bare(key, exporter)

    def _drop_bare(self, key: K, exporter: int) -> None:
        own = self._bare_of[exporter]
        del own[key]
        if not own:
            del self._bare_of[exporter]


@dataclass
class Usage:
    """What one exporter (or all of them) holds in a format's caches."""

    templates: int = 0
    pending_sets: int = 0
    pending_bytes: int = 0


_NOTHING = Usage()


@dataclass(frozen=True)
class Limits:
    """Caps on :class:`Usage`, per exporter and in total (0 for a per-exporter cap: none)."""

    templates: int
    templates_per_exporter: int
    pending_sets: int
    pending_sets_per_exporter: int
    pending_bytes: int
    pending_bytes_per_exporter: int


class UsageLedger:
    """Templates and held data per exporter and in total, checked against :class:`Limits`."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.total = Usage()
        self.of: dict[int, Usage] = {}

    def _own(self, exporter: int) -> Usage:
        usage = self.of.get(exporter)
        if usage is None:
            usage = self.of[exporter] = Usage()
        return usage

    def template_room(self, exporter: int) -> bool:
        lim = self.limits
        if self.total.templates >= lim.templates:
            return False
        return self.of.get(exporter, _NOTHING).templates < lim.templates_per_exporter

    def pending_room(self, exporter: int, size: int) -> bool:
        lim, total = self.limits, self.total
        if total.pending_sets >= lim.pending_sets:
            return False
        if total.pending_bytes + size > lim.pending_bytes:
            return False
        own = self.of.get(exporter, _NOTHING)
        return (
            own.pending_sets < lim.pending_sets_per_exporter
            and own.pending_bytes + size <= lim.pending_bytes_per_exporter
        )

    def templates(self, exporter: int, delta: int) -> None:
        self.total.templates += delta
        self._own(exporter).templates += delta

    def pending(self, exporter: int, sets: int, size: int) -> None:
        self.total.pending_sets += sets
        self.total.pending_bytes += size
        own = self._own(exporter)
        own.pending_sets += sets
        own.pending_bytes += size
