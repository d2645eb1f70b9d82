"""``paths_from`` finds routes through the snapshot's index, and chooses the same paths
as looking every prefix up in a dict of the whole table (issue 18: that dict cost a
second a round on a full table)."""

from __future__ import annotations

import ipaddress
import random
from dataclasses import replace

import numpy as np
import pytest

from routepilot.flows.snapshot import TrafficSnapshot
from routepilot.probe.component import ALTERNATIVE, BUSY_EXIT, EXIT, paths_from
from routepilot.probe.config import ProbeConfig
from routepilot.rib.rib import Rib
from routepilot.rib.snapshot import RoutesSnapshot
from routepilot.rib.speaker.base import Nlri, PathAttributes, PathsLearned, PathsWithdrawn

NAMES = ("isp1", "isp2", "isp3")
HOPS = ("100.64.1.1", "100.64.2.1", "100.64.3.1")


def reference(config, names, traffic, routes, exits, vip) -> list[tuple[str, str, int]]:
    """The busiest prefixes' exits and alternatives, then VIP and target prefixes, one prefix
    at a time against a dict of every routes row."""
    rows = {p: i for i, p in enumerate(routes.prefixes)}
    order = np.argsort(-traffic.total_bps(), kind="stable")[: config.max_prefixes]
    paths = []
    for rank, i in enumerate(order):
        prefix = traffic.prefixes[i]
        r = rows.get(prefix)
        exit_name = exits.get(prefix)
        if exit_name is None and r is not None and routes.bgp_best[r] >= 0:
            exit_name = routes.providers[routes.bgp_best[r]]
        if exit_name is None:
            exit_name = traffic.providers[int(np.argmax(traffic.bps[i]))]
        for name in names:
            k = routes.providers.index(name) if name in routes.providers else None
            if r is not None and k is not None and not routes.has_route[r, k]:
                continue
            busy = BUSY_EXIT if rank < config.busy_prefixes else EXIT
            paths.append((prefix, name, busy if name == exit_name else ALTERNATIVE))
    wanted = [p for p in set(vip) if p in rows]
    for t in config.targets:
        host = ipaddress.ip_network(t)
        for length in range(host.prefixlen, -1, -1):
            if (p := str(host.supernet(new_prefix=length))) in rows:
                wanted.append(p)
                break
    for prefix in dict.fromkeys(wanted):
        r = rows[prefix]
        best = int(routes.bgp_best[r])
        exit_name = exits.get(prefix) or (routes.providers[best] if best >= 0 else None)
        for k, name in enumerate(routes.providers):
            if name not in names or not routes.has_route[r, k]:
                continue
            if prefix in set(vip):
                paths.append((prefix, name, BUSY_EXIT))
            elif prefix not in traffic.prefixes:
                paths.append((prefix, name, EXIT if name == exit_name else ALTERNATIVE))
    return paths


def routes_of(rng: random.Random) -> tuple[RoutesSnapshot, list[str]]:
    rib = Rib(["edge"], [(n, [h]) for n, h in zip(NAMES, HOPS, strict=True)], clock=lambda: 1.0)
    learned = [f"198.18.{i}.0/24" for i in range(120)] + ["198.18.0.0/16"]
    learned += [f"2001:db8:{i:x}::/48" for i in range(40)]
    events: list = []
    for k, hop in enumerate(HOPS):
        mine = tuple(Nlri(p, k + 1) for p in learned if rng.random() < 0.7)
        path = (64_500 + k, *([7] * rng.randint(0, 2)))  # equal lengths tie
        events.append(PathsLearned("edge", PathAttributes(hop, path), mine))
    gone = rng.sample(learned, 20)
    events += [PathsWithdrawn("edge", tuple(Nlri(p, k + 1) for p in gone)) for k in range(3)]
    rib.handle_many(events)
    return rib.snapshot(), learned


@pytest.mark.parametrize("seed", range(10))
def test_paths_equal_a_dict_of_the_whole_table(seed: int) -> None:
    rng = random.Random(seed)
    routes, learned = routes_of(rng)
    busy = tuple(rng.sample(learned, 60)) + ("203.0.113.0/24",)
    bps = np.array([[rng.random() * 1e6 * (rng.random() < 0.5) for _ in NAMES] for _ in busy])
    traffic = TrafficSnapshot(1.0, 60.0, busy, NAMES, bps, bps / 8000)
    exits = {p: rng.choice(NAMES) for p in rng.sample(busy, 10)}
    vip = rng.sample(learned, 5) + ["192.0.2.0/24"]
    config = ProbeConfig(
        max_prefixes=rng.randint(1, 70),
        busy_prefixes=rng.randint(0, 20),
        targets=["198.18.3.9", "198.18.200.1", "2001:db8:5::1"],
    )
    for snap in (routes, replace(routes, index=None)):
        got = paths_from(config, NAMES, traffic, snap, exits, vip)
        assert got == reference(config, NAMES, traffic, snap, exits, vip)
