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

from routepilot.flows.aggregate import SLOT_BITS, SLOT_MASK, Columns, reduce
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


class _Window:
    """Counts of one window: per key (prefix code << 5 | provider slot), unanswered and
    all attempts, and the distinct sources of the unanswered ones."""

    def __init__(self, start: float) -> None:
        self.start = start
        self.counts = Columns(2)
        self.sources: dict[int, set[int]] = {}

    def get(self, keys: np.ndarray) -> np.ndarray:
        """Counts of ``keys`` (2 x len(keys)); zero for keys not seen."""
        out = np.zeros((2, len(keys)))
        if not len(self.counts):
            return out
        pos = np.minimum(np.searchsorted(self.counts.keys, keys), len(self.counts) - 1)
        found = self.counts.keys[pos] == keys
        out[:, found] = self.counts.vals[:, pos[found]]
        return out


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
        codes: np.ndarray,
        slots: np.ndarray,
        now: float,
        text: Callable[[int], str],
    ) -> None:
        """Counts the attempts among ``batch``'s records (``codes`` and ``slots`` are their
        prefixes and providers) and raises the hints they call for."""
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
        if not syn.any():
            return
        keys = (codes[syn] << np.uint64(SLOT_BITS)) | slots[syn].astype(np.uint64)
        unanswered = (batch.tcp_flags[syn] & ANSWERED) == SYN
        n_unanswered = int(unanswered.sum())
        self.metrics.syn_records += len(keys)
        self.metrics.syn_unanswered_records += n_unanswered
        uk, sums = reduce(keys, np.vstack([unanswered.astype(np.float64), np.ones(len(keys))]))
        window.counts.add(uk, sums)
        if not n_unanswered:
            self._cap(window)
            return
        self._sources(window, keys[unanswered], batch.src[syn][unanswered])
        self._cap(window)
        self._raise(uk[sums[0] > 0], now, text)

    def _window(self, now: float) -> _Window:
        cur = self.current
        if cur is None or now - cur.start >= self.config.window_s:
            # The previous window is the one just closed, or nothing after a silence.
            fresh = cur is not None and now - cur.start < 2 * self.config.window_s
            self.previous = cur if fresh else None
            self.current = cur = _Window(now)
        return cur

    def _sources(self, window: _Window, keys: np.ndarray, sources: np.ndarray) -> None:
        """Distinct sources per key, each set kept to ``min_sources`` (all that is asked)."""
        enough = self.config.min_sources
        pairs = np.unique(np.stack([keys, sources]), axis=1)
        for key, src in zip(pairs[0].tolist(), pairs[1].tolist(), strict=True):
            seen = window.sources.get(key)
            if seen is None:
                window.sources[key] = {src}
            elif len(seen) < enough:
                seen.add(src)

    def _cap(self, window: _Window) -> None:
        counts = window.counts
        over = len(counts) - self.config.max_keys
        if over <= 0:
            return
        gone = np.argpartition(counts.vals[0], over - 1)[:over]
        keep = np.ones(len(counts), dtype=bool)
        keep[gone] = False
        for key in counts.keys[gone].tolist():
            window.sources.pop(key, None)
        counts.keep(keep)
        self.metrics.syn_keys_evicted += over

    def _raise(self, keys: np.ndarray, now: float, text: Callable[[int], str]) -> None:
        """Hints the keys whose counts over both windows pass every threshold."""
        cfg = self.config
        counts = self.current.get(keys) if self.current else np.zeros((2, len(keys)))
        if self.previous is not None:
            counts += self.previous.get(keys)
        unanswered, attempts = counts
        due = (unanswered >= cfg.min_syns) & (unanswered >= cfg.min_share * attempts)
        for i in np.flatnonzero(due).tolist():
            key = int(keys[i])
            sources = self._source_count(key)
            if sources < cfg.min_sources:
                continue
            prefix = text(key >> SLOT_BITS)
            provider = self.providers[key & int(SLOT_MASK)]
            self._hint(prefix, provider, int(unanswered[i]), int(attempts[i]), sources, now)

    def _source_count(self, key: int) -> int:
        seen: set[int] = set()
        for w in (self.current, self.previous):
            if w is not None:
                seen |= w.sources.get(key, set())
        return len(seen)

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
