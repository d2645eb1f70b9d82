"""Finds prefixes among a routes snapshot's rows without a pass over the whole table per round.

A full table is 1.25M prefixes; a decision round asks about a few thousand
(the busy and measured ones). Building a dict of the whole table, or parsing
every prefix to find covering routes, each round stalled the event loop for
seconds (issue 18). An index is built once per set of rows and kept across
rounds: the RIB hands the same one out until its rows change, and rows that
never move (the RIB's own) let it answer without any rebuild at all.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping, Sequence

import numpy as np

Numbers = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
"""Per row: is IPv6, the address's high 64 bits (IPv4: the address), low 64 bits, length."""

_LOW = (1 << 64) - 1


class PrefixIndex:
    """Row lookups in one routes snapshot's prefix tuple: exact, and by covering prefix.

    ``row_of`` and ``table_rows`` (optional): the RIB's prefix -> row mapping, whose rows
    never move, and the RIB row of each snapshot row (ascending); with them an exact
    lookup needs no index of its own. ``numbers`` (optional): a function returning the
    rows' addresses as :data:`Numbers`, so covering lookups need not parse the text.
    Without them both are built from ``prefixes`` on first use, once.
    """

    def __init__(
        self,
        prefixes: Sequence[str],
        *,
        row_of: Mapping[str, int] | None = None,
        table_rows: np.ndarray | None = None,
        numbers: Callable[[], Numbers] | None = None,
    ) -> None:
        self.prefixes = prefixes
        self._row_of = row_of if table_rows is not None else None
        self._table_rows = table_rows
        self._numbers = numbers
        self._where: dict[str, int] | None = None
        self._by_length: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] | None = None
        self._last: tuple[Sequence[str], np.ndarray] | None = None

    def rows(self, targets: Sequence[str]) -> np.ndarray:
        """Row of each target (-1 where the snapshot has no such prefix), as text matches."""
        last = self._last
        if last is not None and last[0] is targets:
            return last[1]
        n = len(targets)
        if self._row_of is not None and self._table_rows is not None:
            get = self._row_of.get
            table = np.fromiter((get(p, -1) for p in targets), dtype=np.int64, count=n)
            pos = np.searchsorted(self._table_rows, table)
            safe = np.minimum(pos, max(len(self._table_rows) - 1, 0))
            hit = (table >= 0) & (pos < len(self._table_rows))
            if len(self._table_rows):
                hit &= self._table_rows[safe] == table
            out = np.where(hit, pos, -1).astype(np.int64)
        else:
            if self._where is None:
                self._where = {p: i for i, p in enumerate(self.prefixes)}
            get = self._where.get
            out = np.fromiter((get(p, -1) for p in targets), dtype=np.int64, count=n)
        if isinstance(targets, tuple):  # immutable: the same object asks the same question
            self._last = (targets, out)
        return out

    def covering(self, targets: Sequence[str]) -> list[list[int]]:
        """For each target, the rows whose prefix covers it (itself included), longest first.

        Compared as numbers, as ``decide.prefixes.covering_rows`` does: a target or row
        that is not a prefix covers nothing; of two rows that are the same network, the
        later one stands for it."""
        by_length = self._lengths()
        parsed: list[tuple[int, int, int] | None] = []
        for p in targets:
            try:
                net = ipaddress.ip_network(p, strict=False)
            except ValueError:
                parsed.append(None)
                continue
            parsed.append((net.version, int(net.network_address), net.prefixlen))
        result: list[list[int]] = [[] for _ in targets]
        for version in (4, 6):
            which = [i for i, k in enumerate(parsed) if k is not None and k[0] == version]
            if not which:
                continue
            bits = 32 if version == 4 else 128
            nets = [parsed[i][1] for i in which]  # type: ignore[index]
            plens = np.array([parsed[i][2] for i in which], dtype=np.int64)  # type: ignore[index]
            hi = np.array([n >> 64 if version == 6 else n for n in nets], dtype=np.uint64)
            lo = np.array([n & _LOW if version == 6 else 0 for n in nets], dtype=np.uint64)
            lengths = sorted((ln for v, ln in by_length if v == version), reverse=True)
            for length in lengths:
                keys, rows = by_length[version, length]
                k_hi, k_lo = _mask(hi, lo, length, bits)
                key = _key(k_hi, k_lo, length, bits)
                pos = np.searchsorted(keys, key, side="right") - 1
                found = (pos >= 0) & (plens >= length)
                found &= keys[np.maximum(pos, 0)] == key
                for j in np.flatnonzero(found).tolist():
                    result[which[j]].append(int(rows[pos[j]]))
        return result

    def _lengths(self) -> dict[tuple[int, int], tuple[np.ndarray, np.ndarray]]:
        """Per (IP version, length): the rows' masked networks as sorted keys, and their rows."""
        if self._by_length is not None:
            return self._by_length
        is6, hi, lo, plen = self._numbers() if self._numbers is not None else _parse(self.prefixes)
        plen = plen.astype(np.int64)
        out: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        for version, bits, fam in ((4, 32, ~is6), (6, 128, is6)):
            rows = np.flatnonzero(fam & (plen >= 0))
            length = plen[rows]
            m_hi, m_lo = _masks(length, bits)
            net_hi, net_lo = hi[rows] & m_hi, lo[rows] & m_lo
            # Sorted by (length, network, row): of equal networks the last one a right-side
            # search finds is the later row, as a dict keeps it.
            if bits == 32 and (not len(rows) or rows[-1] < 1 << 26):
                # Length, network and row in one number: unique, so the quicker sort
                # gives the same order (6 + 32 + 26 bits).
                packed = length.astype(np.uint64) << np.uint64(58)
                packed |= (net_hi << np.uint64(26)) | rows.astype(np.uint64)
                packed.sort()
                length = (packed >> np.uint64(58)).astype(np.int64)
                net_hi = (packed >> np.uint64(26)) & np.uint64(0xFFFFFFFF)
                rows = (packed & np.uint64((1 << 26) - 1)).astype(np.int64)
            else:
                order = np.lexsort((rows, net_lo, net_hi, length))
                length, rows = length[order], rows[order]
                net_hi, net_lo = net_hi[order], net_lo[order]
            values, starts = np.unique(length, return_index=True)
            ends = [*starts[1:].tolist(), len(length)] if len(starts) else []
            for ln, a, b in zip(values.tolist(), starts.tolist(), ends, strict=True):
                key = _key(net_hi[a:b], net_lo[a:b], ln, bits)
                out[version, ln] = (key, rows[a:b])
        self._by_length = out
        return out


def _masks(length: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the netmask of its length, as (high, low) 64-bit halves (IPv4: in high)."""
    ones = np.uint64(_LOW)
    if bits == 32:
        shift = (32 - length).astype(np.uint64)
        return (np.uint64(0xFFFFFFFF) >> shift) << shift, np.zeros(len(length), np.uint64)
    # Shifts of 64 are undefined for 64-bit integers: 0 and full halves are set apart.
    top = np.clip(length, 1, 63)
    m_hi = np.where(length >= 64, ones, ones << (64 - top).astype(np.uint64))
    m_hi = np.where(length <= 0, np.uint64(0), m_hi)
    low = np.clip(length - 64, 1, 63)
    m_lo = np.where(length >= 128, ones, ones << (64 - low).astype(np.uint64))
    m_lo = np.where(length <= 64, np.uint64(0), m_lo)
    return m_hi, m_lo


def _mask(hi: np.ndarray, lo: np.ndarray, length: int, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """The network of each address at ``length`` (IPv4 in ``hi``; IPv6 in ``hi``, ``lo``)."""
    if bits == 32:
        mask = ((1 << length) - 1) << (32 - length) if length else 0
        return hi & np.uint64(mask), lo
    m_hi = ((1 << min(length, 64)) - 1) << (64 - min(length, 64)) if length else 0
    low_bits = max(0, length - 64)
    m_lo = ((1 << low_bits) - 1) << (64 - low_bits) if low_bits else 0
    return hi & np.uint64(m_hi), lo & np.uint64(m_lo)


def _key(hi: np.ndarray, lo: np.ndarray, length: int, bits: int) -> np.ndarray:
    """One sortable key per masked network of one length: a number when it fits 64 bits,
    else the 16 bytes of the address (IPv6 longer than /64)."""
    if bits == 32 or length <= 64:
        return hi
    pair = np.empty((len(hi), 2), dtype=">u8")
    pair[:, 0], pair[:, 1] = hi, lo
    return pair.view("S16").ravel()


def _parse(prefixes: Sequence[str]) -> Numbers:
    """The numbers of prefixes given as text; one that does not parse gets length -1 (no row)."""
    n = len(prefixes)
    is6 = np.zeros(n, dtype=bool)
    hi = np.zeros(n, dtype=np.uint64)
    lo = np.zeros(n, dtype=np.uint64)
    plen = np.full(n, -1, dtype=np.int64)
    for i, p in enumerate(prefixes):
        try:
            net = ipaddress.ip_network(p, strict=False)
        except ValueError:
            continue
        value = int(net.network_address)
        if net.version == 6:
            is6[i], hi[i], lo[i] = True, value >> 64, value & _LOW
        else:
            hi[i] = value
        plen[i] = net.prefixlen
    return is6, hi, lo, plen
