"""The routes snapshot's prefix index answers as a dict of the table and ``covering_rows`` do.

The index exists so that a round on a full table does no pass over it (issue 18);
these tests pin that it finds exactly the rows the straightforward code finds, on
random small tables with IPv4 and IPv6, non-canonical and duplicate spellings,
prefixes that are not prefixes, withdrawn prefixes and prefixes with no route.
"""

from __future__ import annotations

import ipaddress
import random

import pytest

from routepilot.decide.prefixes import covering_rows
from routepilot.rib.index import PrefixIndex
from routepilot.rib.rib import Rib
from routepilot.rib.speaker.base import Nlri, PathAttributes, PathsLearned, PathsWithdrawn

PROVIDERS = [("isp1", ["100.64.1.1"]), ("isp2", ["100.64.2.1"]), ("isp3", ["100.64.3.1"])]


def random_prefix(rng: random.Random, canonical: bool = True) -> str:
    """A prefix in a small space, so that many cover others; IPv6 ones past /64 too."""
    if rng.random() < 0.6:
        length = rng.choice([0, 8, 12, 16, 20, 23, 24, 25, 32])
        net = ipaddress.ip_network((rng.getrandbits(4) << 28 | rng.getrandbits(28), length), False)
        host = net.network_address + (rng.getrandbits(32 - length) if length < 32 else 0)
    else:
        length = rng.choice([0, 29, 32, 47, 48, 56, 64, 65, 96, 127, 128])
        value = (0x2001_0DB8 << 96) | rng.getrandbits(96)
        net = ipaddress.ip_network((value, length), False)
        host = net.network_address + (rng.getrandbits(128 - length) if length < 128 else 0)
    if canonical or length in (32, 128):
        return str(net)
    return f"{host}/{length}"  # the same network spelled with host bits


def targets(rng: random.Random, table: list[str]) -> list[str]:
    """Table prefixes, more specifics of them, unrelated prefixes and garbage."""
    out = []
    for p in rng.sample(table, min(len(table), 40)):
        out.append(p)
        try:
            net = ipaddress.ip_network(p, strict=False)
        except ValueError:
            continue
        if net.prefixlen < net.max_prefixlen:
            out.append(str(next(net.subnets(new_prefix=net.max_prefixlen))))
    out += [random_prefix(rng) for _ in range(40)]
    out += ["not-a-prefix", "10.0.0.0/33", ""]
    rng.shuffle(out)
    return out


@pytest.mark.parametrize("seed", range(20))
def test_lookups_equal_a_dict_and_covering_rows_on_random_tables(seed: int) -> None:
    rng = random.Random(seed)
    table = [random_prefix(rng, canonical=rng.random() < 0.8) for _ in range(rng.randint(0, 120))]
    table += rng.sample(table, min(len(table), 5))  # text duplicates
    table += ["garbage", "192.0.2.0/40"]
    rng.shuffle(table)
    asked = targets(rng, table or ["10.0.0.0/8"])
    index = PrefixIndex(tuple(table))

    where = {p: i for i, p in enumerate(table)}
    assert index.rows(asked).tolist() == [where.get(p, -1) for p in asked]
    assert index.covering(asked) == covering_rows(asked, table)


def rib_with_churn(rng: random.Random) -> tuple[Rib, list[str]]:
    """A RIB whose providers announce random prefixes (add-path, a path each), some of
    them then withdrawn by one provider and some by every one."""
    rib = Rib(["edge"], PROVIDERS, clock=lambda: 1.0)
    prefixes = list(dict.fromkeys(random_prefix(rng) for _ in range(300)))
    events: list = []
    for k, (_, hops) in enumerate(PROVIDERS):
        mine = [p for p in prefixes if rng.random() < 0.7]
        attrs = PathAttributes(hops[0], (64_500 + k, rng.choice([100, 200])))
        events.append(PathsLearned("edge", attrs, tuple(Nlri(p, k + 1) for p in mine)))
    gone = rng.sample(prefixes, 60)
    for k in range(len(PROVIDERS)):
        dropped = gone if k == 0 or rng.random() < 0.5 else gone[:30]
        events.append(PathsWithdrawn("edge", tuple(Nlri(p, k + 1) for p in dropped)))
    rib.handle_many(events)
    return rib, prefixes


@pytest.mark.parametrize("seed", range(10))
def test_the_ribs_index_equals_a_dict_and_covering_rows_of_its_snapshot(seed: int) -> None:
    rng = random.Random(seed)
    rib, learned = rib_with_churn(rng)
    snap = rib.snapshot()
    assert snap.index is not None and snap.lookup() is snap.index
    asked = targets(rng, learned)

    where = {p: i for i, p in enumerate(snap.prefixes)}
    assert snap.lookup().rows(asked).tolist() == [where.get(p, -1) for p in asked]
    assert snap.lookup().covering(asked) == covering_rows(asked, snap.prefixes)
    # Learning more after the snapshot changes neither its answers nor the next one's.
    more = [random_prefix(rng) for _ in range(20)]
    attrs = PathAttributes("100.64.2.1", (64_501,))
    rib.handle_many([PathsLearned("edge", attrs, tuple(Nlri(p, 9) for p in more))])
    assert snap.lookup().rows(asked).tolist() == [where.get(p, -1) for p in asked]
    after = rib.snapshot()
    where = {p: i for i, p in enumerate(after.prefixes)}
    asked += more
    assert after.lookup().rows(asked).tolist() == [where.get(p, -1) for p in asked]
    assert after.lookup().covering(asked) == covering_rows(asked, after.prefixes)


def test_an_unchanged_table_hands_out_the_same_index_round_after_round() -> None:
    rib, _ = rib_with_churn(random.Random(1))
    first, second = rib.snapshot(), rib.snapshot()
    assert first.prefixes is second.prefixes and first.index is second.index


@pytest.mark.parametrize("family", ["198.18.", "2001:db8:"])
def test_a_table_of_one_address_family_finds_covering_routes(family: str) -> None:
    table = ("198.18.0.0/16", "198.18.0.0/24") if family == "198.18." else ("2001:db8::/32",)
    asked = ["198.18.1.0/24", "198.18.0.0/24", "2001:db8:1::/48", "10.0.0.0/8"]
    assert PrefixIndex(table).covering(asked) == covering_rows(asked, table)
    assert PrefixIndex(()).covering(asked) == [[], [], [], []]
