"""Destination address -> aggregation prefix, as one uint64 code per record.

A code names a prefix without a Python object: an index into the routing
table when one covers the address, otherwise the address cut to the fallback
granularity (/24, /48 by default), tagged so the two never collide. The code
leaves 5 bits free for the provider slot of the aggregation key.
"""

from __future__ import annotations

import ipaddress

import numpy as np

from routepilot.flows.lpm import PrefixTable
from routepilot.flows.records import FlowBatch

TAG4 = 1 << 33
TAG6 = 1 << 57


class PrefixMapper:
    def __init__(self, table: PrefixTable | None, ipv4_granularity: int, ipv6_granularity: int):
        self.table = table if table is not None and len(table) else None
        self.g4 = ipv4_granularity
        self.g6 = ipv6_granularity

    def codes(self, batch: FlowBatch) -> tuple[np.ndarray, int]:
        """Code per record (records must have family 4 or 6) and how many missed the table."""
        v4 = batch.family == 4
        codes = np.empty(len(batch), dtype=np.uint64)
        a4 = batch.dst4[v4]
        h6 = batch.dst6_hi[~v4]
        fb4 = np.uint64(TAG4) | (a4 >> np.uint32(32 - self.g4)).astype(np.uint64)
        fb6 = np.uint64(TAG6) | (h6 >> np.uint64(64 - self.g6))
        missed = 0
        if self.table is not None:
            i4 = self.table.lookup4(a4)
            i6 = self.table.lookup6(h6)
            missed = int((i4 < 0).sum() + (i6 < 0).sum())
            fb4 = np.where(i4 >= 0, i4.astype(np.uint64), fb4)
            fb6 = np.where(i6 >= 0, i6.astype(np.uint64), fb6)
        codes[v4] = fb4
        codes[~v4] = fb6
        return codes, missed

    def text(self, code: int) -> str:
        if code >= TAG6:
            hi = (code - TAG6) << (64 - self.g6)
            return f"{ipaddress.IPv6Address(hi << 64)}/{self.g6}"
        if code >= TAG4:
            addr = (code - TAG4) << (32 - self.g4)
            return f"{ipaddress.IPv4Address(addr)}/{self.g4}"
        assert self.table is not None
        return self.table.prefix(code)
