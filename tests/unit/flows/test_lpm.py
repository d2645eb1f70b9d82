"""Longest-prefix match against a brute-force reference."""

from __future__ import annotations

import ipaddress

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from routepilot.flows.lpm import PrefixTable, remap


def _reference(prefixes, address):
    best = None
    for i, p in enumerate(prefixes):
        if address in p and (best is None or p.prefixlen > prefixes[best].prefixlen):
            best = i
    return best


v4_prefix = st.builds(
    lambda a, n: ipaddress.IPv4Network((a, n), strict=False),
    st.integers(0, 2**32 - 1),
    st.integers(0, 32),
)
v6_prefix = st.builds(
    lambda a, n: ipaddress.IPv6Network((a << 64, n), strict=False),
    st.integers(0, 2**64 - 1),
    st.integers(0, 64),
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(v4_prefix, max_size=30, unique=True), st.lists(st.integers(0, 2**32 - 1), max_size=30)
)
def test_ipv4_matches_reference(prefixes, extra):
    table = PrefixTable(prefixes)
    addrs = extra + [int(p.network_address) for p in prefixes]
    addrs += [int(p.broadcast_address) for p in prefixes]
    got = table.lookup4(np.array(addrs, dtype=np.uint32))
    for a, i in zip(addrs, got.tolist(), strict=True):
        ref = _reference(prefixes, ipaddress.IPv4Address(a))
        assert (table.prefix(i) if i >= 0 else None) == (
            str(prefixes[ref]) if ref is not None else None
        )


@settings(max_examples=60, deadline=None)
@given(
    st.lists(v6_prefix, max_size=30, unique=True), st.lists(st.integers(0, 2**64 - 1), max_size=30)
)
def test_ipv6_matches_reference(prefixes, extra):
    table = PrefixTable(prefixes)
    uppers = extra + [int(p.network_address) >> 64 for p in prefixes]
    uppers += [int(p.broadcast_address) >> 64 for p in prefixes]
    got = table.lookup6(np.array(uppers, dtype=np.uint64))
    for u, i in zip(uppers, got.tolist(), strict=True):
        ref = _reference(prefixes, ipaddress.IPv6Address(u << 64))
        assert (table.prefix(i) if i >= 0 else None) == (
            str(prefixes[ref]) if ref is not None else None
        )


def test_long_prefixes_inherit_covering_route():
    t = PrefixTable(["198.18.0.0/16", "198.18.1.128/25", "198.18.1.129/32"])
    got = t.lookup4(np.array([0xC6120181, 0xC6120182, 0xC6120101, 0xC6130000], dtype=np.uint32))
    assert [t.prefix(i) if i >= 0 else None for i in got.tolist()] == [
        "198.18.1.129/32", "198.18.1.128/25", "198.18.0.0/16", None,
    ]  # fmt: skip


def test_empty_table_misses():
    t = PrefixTable([])
    assert t.lookup4(np.array([1], dtype=np.uint32)).tolist() == [-1]
    assert t.lookup6(np.array([1], dtype=np.uint64)).tolist() == [-1]


def test_remap_follows_prefixes_between_tables():
    old = PrefixTable(["198.18.0.0/24", "2001:db8::/48", "198.18.1.0/24"])
    new = PrefixTable(["198.18.1.0/24", "198.18.0.0/24"])
    # IPv4 prefixes are numbered first: old indexes are 198.18.0.0/24, 198.18.1.0/24, the /48.
    assert remap(old, new).tolist() == [1, 0, -1]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 32)), max_size=30),
    st.lists(st.tuples(st.integers(0, 2**128 - 1), st.integers(0, 128)), max_size=30),
)
def test_a_table_from_numbers_is_the_table_from_text(v4, v6):
    """As a RIB holds prefixes (host bits possibly set, IPv6 longer than /64, repeats): the
    same prefixes, indexes and answers as the table built from their text."""
    text = [f"{ipaddress.IPv4Address(a)}/{n}" for a, n in v4]
    text += [f"{ipaddress.IPv6Address(a)}/{n}" for a, n in v6]
    want = PrefixTable(text)
    got = PrefixTable.from_numbers(
        np.array([a for a, _ in v4], dtype=np.uint32),
        np.array([n for _, n in v4], dtype=np.uint8),
        np.array([a >> 64 for a, _ in v6], dtype=np.uint64),
        np.array([n for _, n in v6], dtype=np.uint8),
    )
    assert [got.prefix(i) for i in range(len(got))] == [want.prefix(i) for i in range(len(want))]
    probe4 = np.array([a for a, _ in v4] + [0, 2**32 - 1], dtype=np.uint32)
    probe6 = np.array([a >> 64 for a, _ in v6] + [0, 2**64 - 1], dtype=np.uint64)
    assert (got.lookup4(probe4) == want.lookup4(probe4)).all()
    assert (got.lookup6(probe6) == want.lookup6(probe6)).all()
