"""Export sequence numbers: what an exporter sent that never arrived.

NetFlow v9 (RFC 3954 §5.1) and sFlow v5 number their datagrams, IPFIX (RFC
7011 §3.1) numbers data records. A jump forward opens a "missing" range; a
datagram that arrives late (UDP reorders) fills its part of a range again.
A range is only counted as lost once ``REORDER_WINDOW`` later datagrams have
arrived without filling it, or when the input ends, so that reordering within
that window never shows as loss.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MASK = 0xFFFFFFFF
MAX_GAP = 1 << 20
"""A bigger jump forward is an exporter restart, not loss."""
REORDER_WINDOW = 16
"""Datagrams a missing range waits for its late arrivals before it is counted lost."""
MAX_RANGES = 64
"""Missing ranges kept per sequence; older ones are counted lost at once beyond it."""


@dataclass
class SequenceTracker:
    """Sequence state of one (exporter, domain) or sFlow (agent, sub-agent)."""

    next: int | None = None
    """The sequence number the next in-order datagram should carry (None: unknown)."""
    missing: list[list[int]] = field(default_factory=list)
    """Ranges not yet seen: [start, length, datagrams seen since]."""

    def observe(self, seq: int, count: int) -> int:
        """Notes a datagram carrying ``count`` units from ``seq``; returns units now
        known lost. ``count`` < 0: unknown (the next datagram sets the expectation)."""
        if seq == self.next and not self.missing and count >= 0:
            self.next = (seq + count) & MASK  # in order, the usual case
            return 0
        if self.next is None:
            self._advance(seq, count)
            return 0
        lost = 0
        ahead = (seq - self.next) & MASK
        if ahead and self._fill(seq, count):
            return self._age()  # a late datagram: never moves the expectation back
        if 0 < ahead < MAX_GAP:
            self.missing.append([self.next, ahead, -1])
            if len(self.missing) > MAX_RANGES:
                lost += self.missing.pop(0)[1]
        # Anything else that is not the expected number is an exporter restart (or a
        # duplicate): no gap, and the count starts again from it.
        self._advance(seq, count)
        return self._age() + lost

    def _advance(self, seq: int, count: int) -> None:
        self.next = (seq + count) & MASK if count >= 0 else None

    def _fill(self, seq: int, count: int) -> bool:
        """Removes what a late datagram carried from the missing ranges; False when it
        falls in none."""
        count = max(count, 1)
        kept: list[list[int]] = []
        hit = False
        for start, length, age in self.missing:
            off = (seq - start) & MASK
            if off < length:
                hit = True
                if off:
                    kept.append([start, off, age])
                rest = length - off - count
                if rest > 0:
                    kept.append([(seq + count) & MASK, rest, age])
            else:
                kept.append([start, length, age])
        self.missing = kept
        return hit

    def _age(self) -> int:
        lost = 0
        kept = []
        for r in self.missing:
            r[2] += 1
            if r[2] >= REORDER_WINDOW:
                lost += r[1]
            else:
                kept.append(r)
        self.missing = kept
        return lost

    def finish(self) -> int:
        """The input ended: whatever is still missing is lost."""
        lost = sum(r[1] for r in self.missing)
        self.missing.clear()
        return lost
