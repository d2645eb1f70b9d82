"""The frame's routes columns equal a plain per-prefix reference, so that finding rows
through the RIB's index (issue 18: no pass over a full table per round) changes no decision.

Random small tables, IPv4 and IPv6, from a real :class:`Rib` (its index) and built by
hand (an index made on first use): prefixes with their own route, withdrawn ones,
ones with no route at all, more specifics covered by a shorter route, providers in
another order than the snapshot's or missing from it, and paths that tie.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import replace

import numpy as np
import pytest

from routepilot.decide.frame import build_frame
from routepilot.decide.model import DecisionInput
from routepilot.decide.prefixes import covering_rows
from routepilot.decide.scenario import Provider
from routepilot.flows.snapshot import TrafficSnapshot
from routepilot.probe.snapshot import MeasurementSnapshot
from routepilot.rib.rib import Rib
from routepilot.rib.snapshot import RoutesSnapshot
from routepilot.rib.speaker.base import Nlri, PathAttributes, PathsLearned, PathsWithdrawn

HOPS = {"isp1": "100.64.1.1", "isp2": "100.64.2.1", "isp3": "100.64.3.1", "isp4": "100.64.4.1"}


def reference(
    routes: RoutesSnapshot, prefixes: tuple[str, ...], names: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """has_route, default and origin, one prefix at a time: the route of the prefix itself,
    else the union of its covering routes (BGP's choice from the longest that has one)."""
    where = {p: i for i, p in enumerate(routes.prefixes)}
    col = [routes.providers.index(n) if n in routes.providers else -1 for n in names]
    ours = {s: c for c, s in enumerate(col) if s >= 0}
    n, k = len(prefixes), len(names)
    has = np.zeros((n, k), dtype=bool)
    default = np.full(n, -1, dtype=np.int64)
    origin = np.zeros(n, dtype=np.int64)
    for i, p in enumerate(prefixes):
        exact = routes.prefixes == prefixes or p in where
        rows = [i if routes.prefixes == prefixes else where[p]] if exact else []
        if not exact:
            rows = covering_rows([p], routes.prefixes)[0]
        for r in rows:
            for c, s in enumerate(col):
                has[i, c] |= s >= 0 and bool(routes.has_route[r, s])
            best = int(routes.bgp_best[r])
            if default[i] < 0 and (best >= 0 or exact):
                default[i] = ours.get(best, -1)
        if exact and routes.origin_as is not None and k:
            per = [int(routes.origin_as[rows[0], s]) if s >= 0 else 0 for s in col]
            first = next((a for a in per if a), 0)
            on_default = per[default[i]] if default[i] >= 0 else 0
            origin[i] = on_default if on_default else first
    return has, default, origin


def prefix(rng: random.Random) -> str:
    if rng.random() < 0.7:
        length = rng.choice([8, 16, 20, 24, 24, 24])
        return str(ipaddress.ip_network((0xC612_0000 | rng.getrandbits(16) << 0, length), False))
    length = rng.choice([32, 40, 48, 48])
    return str(ipaddress.ip_network((0x2001_0DB8 << 96 | rng.getrandbits(24) << 80, length), False))


def rib_snapshot(rng: random.Random, names: tuple[str, ...]) -> tuple[RoutesSnapshot, list[str]]:
    """A RIB's snapshot after learning random add-path paths, ties among them (the same AS
    path length through several providers), and withdrawals by one or every provider."""
    rib = Rib(["edge"], [(n, [HOPS[n]]) for n in names], clock=lambda: 1.0)
    learned = list(dict.fromkeys(prefix(rng) for _ in range(250)))
    events: list = []
    for k, name in enumerate(names):
        for length in (2, 3):
            path = (64_500 + k, *[rng.randint(1, 9) for _ in range(length - 2)], 65_000 + length)
            mine = tuple(Nlri(p, k + 1) for p in learned if rng.random() < 0.35)
            events.append(PathsLearned("edge", PathAttributes(HOPS[name], path), mine))
    gone = rng.sample(learned, 40)
    for k in range(len(names)):
        dropped = gone if rng.random() < 0.6 else gone[:10]
        events.append(PathsWithdrawn("edge", tuple(Nlri(p, k + 1) for p in dropped)))
    rib.handle_many(events)
    return rib.snapshot(), learned


def round_input(
    rng: random.Random, routes: RoutesSnapshot, asked: tuple[str, ...]
) -> DecisionInput:
    names = routes.providers
    n, k = len(asked), len(names)
    traffic = TrafficSnapshot(1.0, 60.0, asked, names, rng_bps(rng, n, k), np.zeros((n, k)))
    return DecisionInput(
        now=1.0,
        traffic=traffic,
        routes=routes,
        measurements=MeasurementSnapshot.empty(1.0, names),
    )


def rng_bps(rng: random.Random, n: int, k: int) -> np.ndarray:
    return np.array([[rng.random() * 1e6 for _ in range(k)] for _ in range(n)]).reshape(n, k)


def universe(rng: random.Random, routes: RoutesSnapshot, learned: list[str]) -> tuple[str, ...]:
    """Routed prefixes, withdrawn ones, more specifics and prefixes nothing covers."""
    out = rng.sample(learned, 80) + rng.sample(list(routes.prefixes), min(40, len(routes.prefixes)))
    for p in rng.sample(learned, 30):
        net = ipaddress.ip_network(p)
        out.append(str(next(net.subnets(new_prefix=min(net.max_prefixlen, net.prefixlen + 3)))))
    out += ["203.0.113.0/24", "2001:db9::/48"]
    rng.shuffle(out)
    return tuple(dict.fromkeys(out))


def check(inp: DecisionInput, asked: tuple[str, ...], names: tuple[str, ...]) -> None:
    f = build_frame(inp, asked, [Provider(n) for n in names])
    has, default, origin = reference(inp.routes, asked, names)
    assert np.array_equal(f.has_route, has)
    assert np.array_equal(f.default, default)
    assert np.array_equal(f.origin, origin)


@pytest.mark.parametrize("seed", range(12))
def test_routes_columns_from_the_ribs_index_equal_the_reference(seed: int) -> None:
    rng = random.Random(seed)
    names = ("isp1", "isp2", "isp3", "isp4")
    routes, learned = rib_snapshot(rng, names)
    asked = universe(rng, routes, learned)
    inp = round_input(rng, routes, asked)
    check(inp, asked, names)
    # Our providers in another order, one of them unknown to the routes.
    check(inp, asked, ("isp3", "isp1", "isp9", "isp2"))
    # The same snapshot without the RIB's index: one made from the text instead.
    bare = replace(routes, index=None)
    check(replace(inp, routes=bare), asked, names)
    # The fast path: the round's prefixes are the snapshot's own.
    check(replace(inp, routes=bare), bare.prefixes, names)


def test_a_hand_made_snapshot_with_duplicates_and_no_origin_equals_the_reference() -> None:
    rng = random.Random(3)
    table = ("198.18.0.0/16", "198.18.1.0/24", "198.18.1.0/24", "2001:db8::/32", "198.18.0.0/15")
    has = np.array([[1, 0], [0, 1], [1, 1], [0, 1], [1, 1]], dtype=bool)
    routes = RoutesSnapshot(
        1.0, table, ("isp1", "isp2"), has, np.where(has, 2, -1), np.array([0, 1, -1, 1, 1])
    )
    asked = ("198.18.1.0/24", "198.18.1.128/25", "198.18.2.0/24", "2001:db8:1::/48", "10.0.0.0/8")
    check(round_input(rng, routes, asked), asked, ("isp1", "isp2"))
    with_origin = replace(routes, origin_as=np.where(has, [[64_501, 64_502]], 0))
    check(round_input(rng, with_origin, asked), asked, ("isp2", "isp1"))
