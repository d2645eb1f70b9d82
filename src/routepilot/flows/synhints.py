"""Hints from traffic: TCP connection attempts that were never answered.

A flow record carries the TCP flags of every packet of its flow ORed together
(IPFIX tcpControlBits, RFC 7125; the same field in NetFlow v5 and v9). Records
are one direction of a connection: the client's side of a connection that
completed has SYN and ACK, and one whose SYN was never answered has SYN alone.
Counted per destination prefix and provider, many such records through one
provider from several sources say that the provider may lose that prefix's
traffic: the prefix is *hinted*, and the prober measures its paths first (see
:class:`~routepilot.config.flows.SynHintsConfig` for the thresholds).

Only unsampled records count: a sampled record holds some of a flow's packets,
and a SYN sampled from a connection that completed looks unanswered. A hint is
a reason to measure, never a reason to move: decide/ does not see it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from routepilot.flows.aggregate import SLOT_BITS, SLOT_MASK, BatchKeys, Columns
from routepilot.flows.config import SynHintsConfig
from routepilot.flows.metrics import FlowMetrics
from routepilot.flows.records import FlowBatch
from routepilot.log import get_logger

log = get_logger(__name__)

TCP = 6
SYN, RST, ACK = 0x02, 0x04, 0x10
ANSWERED = SYN | RST | ACK
"""Flags looked at: SYN alone among them is an attempt that was never answered."""


@dataclass(frozen=True)
class SynHint:
    """A prefix hinted through one provider, with the counts that raised it."""

    prefix: str
    provider: str
    unanswered: int
    """Unanswered attempts counted over the windows when the hint was last raised."""
    attempts: int
    """Attempts (records with SYN) to the prefix through the provider, over the same."""
    sources: int
    """Distinct sources among the unanswered ones (counted up to ``min_sources``)."""
    since: float
    until: float


PAIRS_COMPACT = 65536
"""(key, source) pairs a window gathers before they are deduplicated and cut to
``min_sources`` per key."""


class _Window:
    """Counts of one window: per key (prefix code << 5 | provider slot), unanswered and
    all attempts, and (key, source) pairs of the unanswered ones."""

    def __init__(self, start: float) -> None:
        self.start = start
        self.counts = Columns(2)
        self._keys: list[np.ndarray] = []
        self._sources: list[np.ndarray] = []
        self._pairs = 0

    def get(self, keys: np.ndarray) -> np.ndarray:
        """Counts of ``keys`` (2 x len(keys)); zero for keys not seen."""
        out = np.zeros((2, len(keys)))
        if not len(self.counts):
            return out
        pos = np.minimum(np.searchsorted(self.counts.keys, keys), len(self.counts) - 1)
        found = self.counts.keys[pos] == keys
        out[:, found] = self.counts.vals[:, pos[found]]
        return out

    def add_sources(self, keys: np.ndarray, sources: np.ndarray, enough: int) -> None:
        """Keeps (key, source) pairs; past :data:`PAIRS_COMPACT` they are compacted."""
        self._keys.append(keys)
        self._sources.append(sources)
        self._pairs += len(keys)
        if self._pairs > PAIRS_COMPACT:
            self.compact(enough)

    def compact(self, enough: int) -> None:
        """Distinct pairs only, at most ``enough`` per key, of keys still counted: bounded
        by the keys whatever the rate of unanswered attempts."""
        keys, sources = self.pairs()
        if len(self.counts) and len(keys):
            pos = np.minimum(np.searchsorted(self.counts.keys, keys), len(self.counts) - 1)
            counted = self.counts.keys[pos] == keys
            keys, sources = keys[counted], sources[counted]
        keys, sources = _distinct(keys, sources)
        keep = _rank_in_key(keys) < enough
        self._keys, self._sources = [keys[keep]], [sources[keep]]
        self._pairs = int(keep.sum())

    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        if not self._keys:
            return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.uint64)
        return np.concatenate(self._keys), np.concatenate(self._sources)


def _distinct(keys: np.ndarray, sources: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (key, source) pairs, sorted by key then source."""
    order = np.lexsort((sources, keys))
    keys, sources = keys[order], sources[order]
    new = np.ones(len(keys), dtype=bool)
    new[1:] = (keys[1:] != keys[:-1]) | (sources[1:] != sources[:-1])
    return keys[new], sources[new]


def _rank_in_key(keys: np.ndarray) -> np.ndarray:
    """For sorted ``keys``, each entry's position among the entries of its key."""
    idx = np.arange(len(keys))
    first = np.ones(len(keys), dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    return idx - np.maximum.accumulate(np.where(first, idx, 0))


class SynHints:
    """Counts unanswered SYNs per (prefix, provider) and keeps the hints in force."""

    def __init__(
        self, config: SynHintsConfig, providers: tuple[str, ...], metrics: FlowMetrics
    ) -> None:
        self.config = config
        self.providers = providers
        self.unattributed = len(providers)
        self.metrics = metrics
        self.current: _Window | None = None
        self.previous: _Window | None = None
        self.hints: dict[tuple[str, str], SynHint] = {}

    # -- counting ----------------------------------------------------------------------

    def add(
        self,
        batch: FlowBatch,
        keys: BatchKeys,
        slots: np.ndarray,
        now: float,
        text: Callable[[int], str],
    ) -> None:
        """Counts the attempts among ``batch``'s records (``keys`` are their prefixes and
        providers, reduced; ``slots`` their providers) and raises the hints they call for.

        The work per record is a few masks and two ``bincount``s over the batch's keys,
        which the aggregation has reduced already; the rest is per distinct key."""
        cfg = self.config
        if not cfg.enabled or not len(batch):
            return
        window = self._window(now)
        syn = (
            (batch.proto == TCP)
            & ((batch.tcp_flags & SYN) != 0)
            & (batch.sampling == 1)
            & (slots != self.unattributed)
        )
        n_syn = int(np.count_nonzero(syn))
        if not n_syn:
            return
        unanswered = syn & ((batch.tcp_flags & ANSWERED) == SYN)
        n_unanswered = int(np.count_nonzero(unanswered))
        self.metrics.syn_records += n_syn
        self.metrics.syn_unanswered_records += n_unanswered
        uk, nk = keys.unique, len(keys.unique)
        attempts = np.bincount(keys.inverse, weights=syn, minlength=nk)
        failed = (
            np.bincount(keys.inverse, weights=unanswered, minlength=nk)
            if n_unanswered
            else np.zeros(nk)
        )
        # Attempts are kept for the keys being watched only: those with an unanswered one
        # in this batch or in the windows; the share is thus over the attempts since the
        # key's first unanswered one (most TCP flows begin with a SYN: keeping every key's
        # would cost the collector as much again as its aggregation).
        watch = failed > 0
        for w in (window, self.previous):
            if w is not None and len(w.counts):
                pos = np.minimum(np.searchsorted(w.counts.keys, uk), len(w.counts) - 1)
                watch |= w.counts.keys[pos] == uk
        watch &= attempts > 0
        if not watch.any():
            return
        window.counts.add(uk[watch], np.vstack([failed[watch], attempts[watch]]))
        if n_unanswered:
            window.add_sources(uk[keys.inverse[unanswered]], batch.src[unanswered], cfg.min_sources)
        self._cap(window)
        if n_unanswered:
            self._raise(uk[failed > 0], now, text)

    def _window(self, now: float) -> _Window:
        cur = self.current
        if cur is None or now - cur.start >= self.config.window_s:
            # The previous window is the one just closed, or nothing after a silence.
            fresh = cur is not None and now - cur.start < 2 * self.config.window_s
            self.previous = cur if fresh else None
            self.current = cur = _Window(now)
        return cur

    def _cap(self, window: _Window) -> None:
        counts = window.counts
        over = len(counts) - self.config.max_keys
        if over <= 0:
            return
        gone = np.argpartition(counts.vals[0], over - 1)[:over]
        keep = np.ones(len(counts), dtype=bool)
        keep[gone] = False
        counts.keep(keep)
        window.compact(self.config.min_sources)
        self.metrics.syn_keys_evicted += over

    def _raise(self, keys: np.ndarray, now: float, text: Callable[[int], str]) -> None:
        """Hints the keys whose counts over both windows pass every threshold."""
        cfg = self.config
        counts = self.current.get(keys) if self.current else np.zeros((2, len(keys)))
        if self.previous is not None:
            counts += self.previous.get(keys)
        unanswered, attempts = counts
        due = (unanswered >= cfg.min_syns) & (unanswered >= cfg.min_share * attempts)
        if not due.any():
            return
        candidates = keys[due]
        sources = self._source_counts(candidates)
        for i, key in enumerate(candidates.tolist()):
            if sources[i] < cfg.min_sources:
                continue
            prefix = text(key >> SLOT_BITS)
            provider = self.providers[key & int(SLOT_MASK)]
            j = np.flatnonzero(due)[i]
            self._hint(prefix, provider, int(unanswered[j]), int(attempts[j]), sources[i], now)

    def _source_counts(self, candidates: np.ndarray) -> list[int]:
        """Distinct sources of each of the sorted ``candidates`` over both windows, counted
        up to ``min_sources``: only keys past every other threshold get here, so rarely."""
        parts = [w.pairs() for w in (self.current, self.previous) if w is not None]
        keys = np.concatenate([k for k, _ in parts])
        sources = np.concatenate([s for _, s in parts])
        pos = np.minimum(np.searchsorted(candidates, keys), len(candidates) - 1)
        mine = candidates[pos] == keys
        keys, _ = _distinct(keys[mine], sources[mine])
        counts = np.bincount(np.searchsorted(candidates, keys), minlength=len(candidates))
        return np.minimum(counts, self.config.min_sources).tolist()

    def _hint(
        self, prefix: str, provider: str, unanswered: int, attempts: int, sources: int, now: float
    ) -> None:
        old = self.hints.get((prefix, provider))
        live = old is not None and old.until > now
        if not live and len(self.hints) >= self.config.max_hinted:
            self.expire(now)
            if len(self.hints) >= self.config.max_hinted:
                self.metrics.syn_hints_skipped += 1
                return
        if not live:
            self.metrics.syn_hints += 1
            log.info(
                "unanswered tcp syns: prefix hinted for probing",
                prefix=prefix,
                provider=provider,
                unanswered=unanswered,
                attempts=attempts,
                sources=sources,
            )
        since = old.since if old is not None and live else now
        self.hints[prefix, provider] = SynHint(
            prefix, provider, unanswered, attempts, sources, since, now + self.config.hold_s
        )

    # -- reading -------------------------------------------------------------------------

    def expire(self, now: float) -> None:
        """Forgets hints whose hold is over."""
        for key in [k for k, h in self.hints.items() if h.until <= now]:
            del self.hints[key]

    def active(self, now: float) -> list[SynHint]:
        """The hints in force at ``now``, by prefix and provider."""
        self.expire(now)
        self.metrics.syn_hinted = len(self.hints)
        return sorted(self.hints.values(), key=lambda h: (h.prefix, h.provider))

    def prefixes(self, now: float) -> dict[str, float]:
        """Hinted prefixes (through any provider) and until when, for the prober."""
        out: dict[str, float] = {}
        for h in self.active(now):
            out[h.prefix] = max(out.get(h.prefix, 0.0), h.until)
        return out

    def forget_counts(self) -> None:
        """The routing table changed, and with it what the prefix codes mean: counting
        starts over (hints in force are kept; they are by prefix text)."""
        self.current = self.previous = None
