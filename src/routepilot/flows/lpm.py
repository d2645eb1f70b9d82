"""Batched longest-prefix match: DIR-24-8 for IPv4, a flattened range table for IPv6.

IPv4 (Gupta, Lin, McKeown, "Routing lookups in hardware at memory access
speeds", 1998): a 2^24-entry table indexed by the top 24 bits of the address
holds either the answer or, for the few /24s that contain longer prefixes, the
number of a 256-entry second-level group. A lookup is one numpy gather for
every address of the batch plus a second gather for the addresses that hit a
group. Entries are ``prefix index + 1`` (0 means no route).

IPv6: prefixes (at most /64; the internet carries nothing longer) are
flattened into non-overlapping ranges of the upper 64 address bits, each
labelled with its most specific prefix; a lookup is one ``searchsorted``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

import numpy as np

_GROUP = np.uint32(0x80000000)


class PrefixTable:
    """An immutable routing table: prefix strings in, indexes out (-1 for no route).

    Indexes ``0 .. n4-1`` are IPv4 prefixes, ``n4 .. n4+n6-1`` IPv6 ones;
    :meth:`prefix` turns an index back into its text.
    """

    def __init__(self, prefixes: Iterable[str | ipaddress.IPv4Network | ipaddress.IPv6Network]):
        nets4: dict[tuple[int, int], None] = {}
        nets6: dict[tuple[int, int], None] = {}
        for p in prefixes:
            net = p if not isinstance(p, str) else ipaddress.ip_network(p, strict=False)
            if net.version == 4:
                nets4[(int(net.network_address), net.prefixlen)] = None
            else:
                # Longer than /64 cannot be told apart by the upper half: kept as its /64.
                length = min(net.prefixlen, 64)
                hi = int(net.network_address) >> 64
                hi &= ~((1 << (64 - length)) - 1) & 0xFFFFFFFFFFFFFFFF
                nets6[(hi, length)] = None
        self.net4 = np.array([a for a, _ in nets4], dtype=np.uint32)
        self.len4 = np.array([n for _, n in nets4], dtype=np.uint8)
        self.net6 = np.array([a for a, _ in nets6], dtype=np.uint64)
        self.len6 = np.array([n for _, n in nets6], dtype=np.uint8)
        self.n4 = len(self.net4)
        self.n6 = len(self.net6)
        self._tbl24, self._tbl8 = _build_dir24_8(self.net4, self.len4)
        self._starts6, self._values6 = _build_ranges6(self.net6, self.len6, self.n4)

    def __len__(self) -> int:
        return self.n4 + self.n6

    @property
    def nbytes(self) -> int:
        """Memory held by the lookup structures and prefix arrays."""
        arrays = (self._tbl24, self._tbl8, self._starts6, self._values6, self.net4, self.len4,
                  self.net6, self.len6)  # fmt: skip
        return sum(a.nbytes for a in arrays)

    def lookup4(self, addresses: np.ndarray) -> np.ndarray:
        """Prefix index for each IPv4 address (uint32), -1 where no prefix covers it."""
        if self.n4 == 0:
            return np.full(len(addresses), -1, dtype=np.int64)
        a = addresses.astype(np.uint32, copy=False)
        entry = np.take(self._tbl24, a >> np.uint32(8))
        if len(self._tbl8):
            hit = entry >= _GROUP
            if hit.any():
                groups = (entry[hit] & np.uint32(0x7FFFFFFF)).astype(np.int64)
                entry[hit] = np.take(self._tbl8, (groups << 8) | (a[hit] & np.uint32(0xFF)))
        return entry.astype(np.int64) - 1

    def lookup6(self, upper: np.ndarray) -> np.ndarray:
        """Prefix index for each IPv6 address given by its upper 64 bits, -1 when none."""
        if self.n6 == 0:
            return np.full(len(upper), -1, dtype=np.int64)
        pos = np.searchsorted(self._starts6, upper.astype(np.uint64, copy=False), side="right")
        return self._values6[pos - 1]

    def prefix(self, index: int) -> str:
        if index < self.n4:
            return f"{ipaddress.IPv4Address(int(self.net4[index]))}/{int(self.len4[index])}"
        i = index - self.n4
        return f"{ipaddress.IPv6Address(int(self.net6[i]) << 64)}/{int(self.len6[i])}"

    def keys(self) -> np.ndarray:
        """One uint64 per prefix, identical for equal prefixes of two tables (for remapping)."""
        k4 = (self.net4.astype(np.uint64) << np.uint64(8)) | self.len4.astype(np.uint64)
        # IPv6: the network's upper bits with the length folded into the (zero) host bits
        # where there is room, a hash-like tag otherwise; collisions only cost history.
        k6 = self.net6 ^ (self.len6.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15))
        return np.concatenate([k4, k6 | np.uint64(1 << 63)])


def remap(old: PrefixTable, new: PrefixTable) -> np.ndarray:
    """For each index of ``old``, the index of the same prefix in ``new`` (-1 if gone)."""
    ko, kn = old.keys(), new.keys()
    if len(kn) == 0:
        return np.full(len(ko), -1, dtype=np.int64)
    order = np.argsort(kn, kind="stable")
    pos = np.minimum(np.searchsorted(kn[order], ko), len(kn) - 1)
    found = kn[order][pos] == ko
    return np.where(found, order[pos], -1).astype(np.int64)


def _build_dir24_8(net: np.ndarray, length: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    tbl24 = np.zeros(1 << 24 if len(net) else 1, dtype=np.uint32)
    if not len(net):
        return tbl24, np.zeros(0, dtype=np.uint32)
    values = np.arange(1, len(net) + 1, dtype=np.uint32)
    # Shorter prefixes first, so that longer ones overwrite the ranges they refine.
    for plen in range(0, 25):
        sel = length == plen
        if not sel.any():
            continue
        starts = (net[sel] >> np.uint32(8)).astype(np.int64)
        vals = values[sel]
        size = 1 << (24 - plen)
        if size >= 4096:
            for s, v in zip(starts.tolist(), vals.tolist(), strict=True):
                tbl24[s : s + size] = v
        else:
            idx = (starts[:, None] + np.arange(size, dtype=np.int64)).ravel()
            tbl24[idx] = np.repeat(vals, size)
    long = length > 24
    if not long.any():
        return tbl24, np.zeros(0, dtype=np.uint32)
    slots = np.unique((net[long] >> np.uint32(8)).astype(np.int64))
    tbl8 = np.repeat(tbl24[slots], 256)  # each group starts as its /24's covering answer
    tbl24[slots] = np.arange(len(slots), dtype=np.uint32) | _GROUP
    for plen in range(25, 33):
        sel = length == plen
        if not sel.any():
            continue
        addr = net[sel].astype(np.int64)
        group = np.searchsorted(slots, addr >> 8)
        size = 1 << (32 - plen)
        base = (group << 8) | (addr & 0xFF)
        idx = (base[:, None] + np.arange(size, dtype=np.int64)).ravel()
        tbl8[idx] = np.repeat(values[sel], size)
    return tbl24, tbl8


def _build_ranges6(
    net: np.ndarray, length: np.ndarray, offset: int
) -> tuple[np.ndarray, np.ndarray]:
    """Flattens nested prefixes into sorted range starts, each with its most specific prefix."""
    starts: list[int] = [0]
    values: list[int] = [-1]
    if len(net):
        order = np.lexsort((length, net))  # by start, then shortest (outermost) first
        stack: list[tuple[int, int]] = []  # (last address, value)

        def emit(at: int, value: int) -> None:
            if starts[-1] == at:
                values[-1] = value
            else:
                starts.append(at)
                values.append(value)

        def close_until(limit: int) -> None:
            while stack and stack[-1][0] < limit:
                end, _ = stack.pop()
                if end < (1 << 64) - 1:
                    emit(end + 1, stack[-1][1] if stack else -1)

        nets = net.tolist()
        lens = length.tolist()
        for i in order.tolist():
            s, n = nets[i], lens[i]
            last = s + (1 << (64 - n)) - 1
            close_until(s)
            emit(s, offset + i)
            stack.append((last, offset + i))
        close_until(1 << 64)
    return np.array(starts, dtype=np.uint64), np.array(values, dtype=np.int64)
