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
        net4: list[int] = []
        len4: list[int] = []
        net6: list[int] = []
        len6: list[int] = []
        for p in prefixes:
            net = p if not isinstance(p, str) else ipaddress.ip_network(p, strict=False)
            if net.version == 4:
                net4.append(int(net.network_address))
                len4.append(net.prefixlen)
            else:
                net6.append(int(net.network_address) >> 64)
                len6.append(net.prefixlen)
        self._build(
            np.array(net4, dtype=np.uint32),
            np.array(len4, dtype=np.uint8),
            np.array(net6, dtype=np.uint64),
            np.array(len6, dtype=np.uint8),
        )

    @classmethod
    def from_numbers(
        cls, net4: np.ndarray, len4: np.ndarray, net6_hi: np.ndarray, len6: np.ndarray
    ) -> PrefixTable:
        """The table of prefixes given as numbers (IPv4 networks, IPv6 networks' upper 64
        bits, and their lengths), as a RIB holds them: the same table as from their text,
        without parsing it (a full table's text takes tens of seconds of Python)."""
        table = cls.__new__(cls)
        table._build(
            np.asarray(net4, dtype=np.uint32),
            np.asarray(len4, dtype=np.uint8),
            np.asarray(net6_hi, dtype=np.uint64),
            np.asarray(len6, dtype=np.uint8),
        )
        return table

    def _build(
        self, net4: np.ndarray, len4: np.ndarray, net6: np.ndarray, len6: np.ndarray
    ) -> None:
        """Host bits cleared, duplicates dropped (the first one kept, in order)."""
        shift4 = (32 - len4.astype(np.uint64)).clip(0, 32)
        mask4 = ((np.uint64(0xFFFFFFFF) << shift4) & np.uint64(0xFFFFFFFF)).astype(np.uint32)
        net4 = net4 & mask4
        # Longer than /64 cannot be told apart by the upper half: kept as its /64.
        len6 = np.minimum(len6, 64).astype(np.uint8)
        shift6 = (64 - len6.astype(np.uint64)).clip(0, 63)
        mask6 = np.where(len6 == 0, np.uint64(0), ~np.uint64(0) << shift6).astype(np.uint64)
        net6 = net6 & mask6
        keep4 = _first_of_each(net4.astype(np.uint64) << np.uint64(8) | len4.astype(np.uint64))
        keep6 = _first_of_each(np.column_stack((net6, len6.astype(np.uint64))))
        self.net4 = net4[keep4]
        self.len4 = len4[keep4]
        self.net6 = net6[keep6]
        self.len6 = len6[keep6]
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


def _first_of_each(keys: np.ndarray) -> np.ndarray:
    """Positions of the first occurrence of each distinct key (row), in their order."""
    if not len(keys):
        return np.zeros(0, dtype=np.int64)
    _, first = np.unique(keys, axis=0 if keys.ndim > 1 else None, return_index=True)
    return np.sort(first)


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
