"""Prefix arithmetic decide/ needs: lengths, granularity, covering routes.

Parsing 100k prefixes with ``ipaddress`` costs most of a second, so the fast
paths work on the strings (length after the slash) and only the rare rows that
need real arithmetic (a traffic prefix with no route of its own) are parsed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import numpy as np


def too_specific(prefixes: Sequence[str], v4_max: int, v6_max: int) -> np.ndarray:
    """True where a prefix is longer than the configured announce granularity."""
    out = np.zeros(len(prefixes), dtype=bool)
    for i, p in enumerate(prefixes):
        slash = p.rfind("/")
        length = int(p[slash + 1 :]) if slash >= 0 else (128 if ":" in p else 32)
        out[i] = length > (v6_max if ":" in p else v4_max)
    return out


def _key(prefix: str) -> tuple[int, int, int]:
    net = ipaddress.ip_network(prefix, strict=False)
    return net.version, int(net.network_address), net.prefixlen


def covering_rows(targets: Sequence[str], table: Sequence[str]) -> list[list[int]]:
    """For each target prefix, the rows of ``table`` whose prefix covers it, longest first.

    A route for a covering prefix carries the target's traffic too; this is how
    a /24 of traffic inherits the /16 a provider announces, and how a provider
    that announces nothing covering a prefix is never offered for it.
    """
    if not targets:
        return []
    index: dict[tuple[int, int, int], int] = {}
    lengths: dict[int, set[int]] = {4: set(), 6: set()}
    for row, p in enumerate(table):
        try:
            version, net, length = _key(p)
        except ValueError:
            continue
        index[(version, net, length)] = row
        lengths[version].add(length)
    result: list[list[int]] = []
    for p in targets:
        try:
            version, net, length = _key(p)
        except ValueError:
            result.append([])
            continue
        bits = 32 if version == 4 else 128
        rows = []
        for cand in sorted(lengths[version], reverse=True):
            if cand > length:
                continue
            mask = ((1 << cand) - 1) << (bits - cand) if cand else 0
            hit = index.get((version, net & mask, cand))
            if hit is not None:
                rows.append(hit)
        result.append(rows)
    return result
