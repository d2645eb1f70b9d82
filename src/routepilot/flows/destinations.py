"""Destination addresses seen in flows: where the prober finds live targets.

Real traffic goes to real hosts; probing the addresses it goes to (rather than
a prefix's first address) finds targets that answer. Each batch contributes a
few records drawn in proportion to their bytes, so busy destinations come first;
the pending set is bounded and drained by the daemon every round.
"""

from __future__ import annotations

import ipaddress

import numpy as np

from routepilot.flows.records import FlowBatch


class DestinationSampler:
    """A bounded, byte-weighted sample of destination addresses (address -> times seen)."""

    def __init__(self, per_batch: int = 64, capacity: int = 65536, seed: int = 0) -> None:
        self.per_batch = per_batch
        self.capacity = capacity
        self.pending: dict[str, int] = {}
        self.dropped = 0
        self._rng = np.random.default_rng(seed)

    def add(self, batch: FlowBatch) -> None:
        n = len(batch)
        if n == 0 or self.per_batch == 0:
            return
        weights = batch.bytes.astype(np.float64)
        weights[(batch.family != 4) & (batch.family != 6)] = 0.0
        total = weights.sum()
        if total <= 0:
            return
        k = min(self.per_batch, int(np.count_nonzero(weights)))
        picks = self._rng.choice(n, size=k, replace=False, p=weights / total)
        for i in picks:
            if batch.family[i] == 4:
                addr = str(ipaddress.IPv4Address(int(batch.dst4[i])))
            else:
                value = (int(batch.dst6_hi[i]) << 64) | int(batch.dst6_lo[i])
                addr = str(ipaddress.IPv6Address(value))
            self.pending[addr] = self.pending.get(addr, 0) + 1
        while len(self.pending) > self.capacity:
            self.pending.pop(next(iter(self.pending)))
            self.dropped += 1

    def drain(self) -> list[str]:
        """The addresses seen since the last drain, most seen first."""
        out = sorted(self.pending, key=lambda a: -self.pending[a])
        self.pending = {}
        return out
