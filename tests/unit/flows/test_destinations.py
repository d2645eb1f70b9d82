from __future__ import annotations

import ipaddress

import numpy as np

from routepilot.flows.destinations import DestinationSampler
from routepilot.flows.records import FlowBatch


def _batch(dsts: list[str], nbytes: list[int]) -> FlowBatch:
    b = FlowBatch.empty(len(dsts))
    for i, d in enumerate(dsts):
        a = ipaddress.ip_address(d)
        if a.version == 4:
            b.family[i], b.dst4[i] = 4, int(a)
        else:
            b.family[i] = 6
            b.dst6_hi[i], b.dst6_lo[i] = int(a) >> 64, int(a) & (2**64 - 1)
    b.bytes[:] = np.array(nbytes)
    return b


def test_busy_destinations_come_first_and_both_families_decode() -> None:
    s = DestinationSampler(per_batch=2, seed=1)
    for _ in range(50):
        s.add(_batch(["198.18.3.7", "198.18.9.1", "2001:db8:1003::5"], [10_000, 10, 5_000]))
    seen = s.drain()
    assert seen[0] == "198.18.3.7"
    assert "2001:db8:1003::5" in seen
    assert s.drain() == []  # drained


def test_bounded_and_no_destination_records_ignored() -> None:
    s = DestinationSampler(per_batch=8, capacity=4)
    s.add(_batch([f"198.18.0.{i}" for i in range(8)], [100] * 8))
    assert len(s.pending) == 4 and s.dropped == 4
    empty = FlowBatch.empty(3)
    empty.bytes[:] = 100  # family 0: no destination
    s.add(empty)
    assert len(s.pending) == 4
