"""rib/: paths per prefix from add-path updates, BGP's choice, flaps, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from routepilot.rib.rib import Rib, normalize_community
from routepilot.rib.speaker.base import (
    ORIGIN_EGP,
    ORIGIN_IGP,
    ORIGIN_INCOMPLETE,
    EndOfRib,
    MalformedUpdate,
    Nlri,
    PathAttributes,
    PathIdsWithdrawn,
    PathsLearned,
    PathsWithdrawn,
    SessionChanged,
    SpeakerRestarted,
)

PROVIDERS = [("isp1", ["100.64.1.1"]), ("isp2", ["100.64.2.1"]), ("isp3", ["100.64.3.1"])]


def make_rib(**kwargs) -> Rib:
    kwargs.setdefault("own_local_pref", 500)
    kwargs.setdefault("own_communities", ["no-export", "no-advertise"])
    rib = Rib(["r1", "r2"], PROVIDERS, clock=lambda: 42.0, **kwargs)
    rib.handle(SessionChanged("r1", True))
    rib.handle(SessionChanged("r2", True))
    return rib


def attrs(nh: str, path=(), **kw) -> PathAttributes:
    return PathAttributes(next_hop=nh, as_path=tuple(path), **kw)


def learn(rib: Rib, router: str, a: PathAttributes, *nlri: tuple[str, int]) -> None:
    rib.handle(PathsLearned(router, a, tuple(Nlri(p, i) for p, i in nlri)))


def best_of(rib: Rib, prefix: str) -> str | None:
    snap = rib.snapshot()
    i = snap.prefixes.index(prefix)
    b = int(snap.bgp_best[i])
    return snap.providers[b] if b >= 0 else None


def test_every_providers_path_is_learned_with_add_path_ids():
    rib = make_rib()
    learn(
        rib, "r1", attrs("100.64.1.1", [64501, 64510]), ("198.18.1.0/24", 1), ("198.18.2.0/24", 1)
    )
    learn(rib, "r1", attrs("100.64.2.1", [64502]), ("198.18.1.0/24", 2))
    learn(rib, "r1", attrs("100.64.3.1", [64503, 1, 2]), ("198.18.1.0/24", 3))
    snap = rib.snapshot()
    assert snap.prefixes == ("198.18.1.0/24", "198.18.2.0/24")
    assert snap.providers == ("isp1", "isp2", "isp3")
    assert snap.has_route.tolist() == [[True, True, True], [True, False, False]]
    assert snap.as_path_len.tolist() == [[2, 1, 3], [2, -1, -1]]
    assert [snap.providers[b] for b in snap.bgp_best] == ["isp2", "isp1"]
    assert snap.time == 42.0
    assert snap.session_up == {"r1": True, "r2": True}
    assert snap.provider_up == {"isp1": True, "isp2": True, "isp3": True}
    assert rib.metrics.paths_received == 4 and rib.metrics.paths == 4


@pytest.mark.parametrize(
    ("a", "b", "winner"),
    [
        # LOCAL_PREF beats AS-path length.
        (dict(path=[1, 2, 3], local_pref=200), dict(path=[1], local_pref=100), "isp1"),
        # A missing LOCAL_PREF counts as the default (100).
        (dict(path=[1, 2]), dict(path=[1], local_pref=100), "isp2"),
        (dict(path=[1], origin=ORIGIN_EGP), dict(path=[2], origin=ORIGIN_IGP), "isp2"),
        (dict(path=[1], origin=ORIGIN_IGP), dict(path=[2], origin=ORIGIN_INCOMPLETE), "isp1"),
        # MED compares between paths from the same neighbouring AS only...
        (dict(path=[7, 1], med=50), dict(path=[7, 2], med=10), "isp2"),
        # ...otherwise the lowest next-hop breaks the tie.
        (dict(path=[7], med=50), dict(path=[8], med=10), "isp1"),
        # A missing MED is the lowest one.
        (dict(path=[7], med=None), dict(path=[7], med=10), "isp1"),
    ],
)
def test_best_path_follows_rfc4271(a, b, winner):
    rib = make_rib()
    pa = a.pop("path")
    pb = b.pop("path")
    learn(rib, "r1", attrs("100.64.1.1", pa, **a), ("198.18.9.0/24", 1))
    learn(rib, "r1", attrs("100.64.2.1", pb, **b), ("198.18.9.0/24", 2))
    assert best_of(rib, "198.18.9.0/24") == winner


def test_same_path_id_replaces_and_withdraw_removes():
    rib = make_rib()
    learn(rib, "r1", attrs("100.64.1.1", [1]), ("198.18.1.0/24", 7))
    learn(rib, "r1", attrs("100.64.2.1", [1, 2]), ("198.18.1.0/24", 7))
    snap = rib.snapshot()
    assert snap.has_route.tolist() == [[False, True, False]]
    assert rib.table.paths == 1
    rib.handle(PathsWithdrawn("r1", (Nlri("198.18.1.0/24", 7), Nlri("198.18.200.0/24", 1))))
    assert rib.snapshot().prefixes == ()
    assert rib.table.paths == 0
    assert rib.metrics.withdrawals_received == 2


def test_same_path_id_from_two_routers_are_two_paths():
    rib = make_rib()
    learn(rib, "r1", attrs("100.64.1.1", [1, 2]), ("198.18.1.0/24", 1))
    learn(rib, "r2", attrs("100.64.2.1", [1]), ("198.18.1.0/24", 1))
    assert rib.snapshot().has_route.tolist() == [[True, True, False]]
    rib.handle(SessionChanged("r2", False, "hold timer expired"))
    snap = rib.snapshot()
    assert snap.has_route.tolist() == [[True, False, False]]
    assert snap.session_up == {"r1": True, "r2": False}
    assert snap.provider_up["isp2"] is False
    assert rib.metrics.session_downs == 1


def test_more_paths_than_slots_grow_the_table():
    rib = make_rib(slots=2, capacity=2)
    nhs = ["100.64.1.1", "100.64.2.1", "100.64.3.1"]
    for pid in range(1, 7):
        learn(rib, "r1", attrs(nhs[pid % 3], [1] * pid), ("198.18.1.0/24", pid))
    for i in range(10):
        learn(rib, "r1", attrs("100.64.3.1", [1]), (f"198.18.{100 + i}.0/24", 1))
    assert rib.table.slots >= 6
    assert rib.table.paths == 16
    snap = rib.snapshot()
    i = snap.prefixes.index("198.18.1.0/24")
    assert snap.as_path_len[i].tolist() == [3, 1, 2]
    assert snap.providers[snap.bgp_best[i]] == "isp2"


def test_two_new_paths_of_one_prefix_in_one_update_take_two_slots():
    rib = make_rib()
    learn(rib, "r1", attrs("100.64.1.1", [1]), ("198.18.1.0/24", 1), ("198.18.1.0/24", 2))
    assert rib.table.paths == 2
    assert len(rib.paths("198.18.1.0/24")) == 2


def test_own_injected_routes_and_unknown_next_hops_are_ignored():
    rib = make_rib()
    learn(rib, "r1", attrs("100.64.1.1", [1, 2, 3]), ("198.18.1.0/24", 1))
    own = attrs("100.64.2.1", local_pref=500, communities=("65535:65281", "65535:65282"))
    learn(rib, "r1", own, ("198.18.1.0/24", 2))
    learn(rib, "r1", attrs("100.64.0.1"), ("100.64.1.0/24", 3))
    snap = rib.snapshot()
    assert snap.prefixes == ("198.18.1.0/24",)
    assert snap.has_route.tolist() == [[True, False, False]]
    assert rib.metrics.own_paths_ignored == 1
    assert rib.metrics.unknown_next_hop_paths == 1
    assert [p["own"] for p in rib.paths("198.18.1.0/24")] == [False, True]


def test_end_of_rib_speaker_restart_and_bad_input_are_counted():
    rib = make_rib()
    assert not rib.synced("r1")
    rib.handle(EndOfRib("r1", "ipv4 unicast"))
    assert rib.synced("r1")
    learn(rib, "r1", attrs("100.64.1.1", [1]), ("198.18.1.0/24", 1))
    rib.handle(MalformedUpdate("r1", "as-path is not a list"))
    rib.handle(PathsLearned("nobody", attrs("100.64.1.1"), (Nlri("198.18.3.0/24"),)))
    rib.handle(SpeakerRestarted("killed"))
    assert rib.metrics.malformed_updates == 1
    assert rib.metrics.unknown_router_events == 1
    assert rib.table.paths == 0
    assert not rib.synced("r1")
    assert rib.snapshot().session_up == {"r1": False, "r2": False}


def test_ipv6_and_prefix_table_for_lpm():
    rib = Rib(["r1"], [("isp1", ["100.64.1.1", "2001:db8:ffff::1"])])
    learn(rib, "r1", attrs("2001:db8:ffff::1", [1]), ("2001:db8:1::/48", 1))
    learn(rib, "r1", attrs("100.64.1.1", [1]), ("198.18.4.0/24", 1))
    table = rib.prefix_table()
    assert table.prefixes == ("2001:db8:1::/48", "198.18.4.0/24")
    assert table.is6.tolist() == [True, False]
    assert table.length.tolist() == [48, 24]
    assert int(table.net4[1]) == (198 << 24) | (18 << 16) | (4 << 8)
    assert int(table.net6_hi[0]) == 0x20010DB800010000
    assert int(table.net6_lo[0]) == 0
    assert rib.snapshot().bgp_best.tolist() == [0, 0]


def test_empty_rib_snapshot_has_the_right_shapes():
    snap = Rib(["r1"], PROVIDERS).snapshot()
    assert snap.has_route.shape == (0, 3)
    assert snap.bgp_best.dtype == np.int32


def test_well_known_communities_are_normalized():
    assert normalize_community("NO-EXPORT") == "65535:65281"
    assert normalize_community("64500:1") == "64500:1"


def test_batched_events_give_the_same_table_as_one_by_one():
    events = [
        PathsLearned("r1", attrs("100.64.1.1", [1, 2]), (Nlri("198.18.1.0/24", 1),)),
        PathsLearned("r1", attrs("100.64.2.1", [1]), (Nlri("198.18.1.0/24", 2),)),
        # Replaces path 1 within the same batch: the last one wins.
        PathsLearned("r1", attrs("100.64.3.1", [5]), (Nlri("198.18.1.0/24", 1),)),
        PathsLearned("r2", attrs("100.64.1.1", [1]), (Nlri("198.18.2.0/24", 1),)),
        PathsWithdrawn("r1", (Nlri("198.18.1.0/24", 2),)),
        PathsLearned("r1", attrs("100.64.2.1", [1, 2, 3]), (Nlri("198.18.3.0/24", 1),)),
        PathsLearned("r1", attrs("100.64.2.1", [1, 2, 3]), ()),
    ]
    one, many = make_rib(), make_rib()
    for event in events:
        one.handle(event)
    many.handle_many(events)
    a, b = one.snapshot(), many.snapshot()
    assert a.prefixes == b.prefixes == ("198.18.1.0/24", "198.18.2.0/24", "198.18.3.0/24")
    assert a.has_route.tolist() == b.has_route.tolist()
    assert a.bgp_best.tolist() == b.bgp_best.tolist()
    assert b.has_route.tolist()[0] == [False, False, True]
    assert one.metrics == many.metrics


def _reference_best(paths: list[PathAttributes], providers: dict[str, int]) -> int:
    """RFC 4271 section 9.1.2.2, written out plainly, for the randomized check."""
    cands = [a for a in paths if a.next_hop in providers]
    if not cands:
        return -1
    lp = max(a.local_pref if a.local_pref is not None else 100 for a in cands)
    cands = [a for a in cands if (a.local_pref if a.local_pref is not None else 100) == lp]
    n = min(len(a.as_path) for a in cands)
    cands = [a for a in cands if len(a.as_path) == n]
    o = min(a.origin for a in cands)
    cands = [a for a in cands if a.origin == o]
    cands = [
        a
        for a in cands
        if not any(b.as_path[:1] == a.as_path[:1] and (b.med or 0) < (a.med or 0) for b in cands)
    ]
    best = min(cands, key=lambda a: tuple(int(x) for x in a.next_hop.split(".")))
    return providers[best.next_hop]


@pytest.mark.parametrize("seed", range(8))
def test_randomized_updates_match_a_plain_reference(seed):
    import random

    rng = random.Random(seed)
    nhs = ["100.64.1.1", "100.64.2.1", "100.64.3.1", "100.64.9.9"]
    providers = {"100.64.1.1": 0, "100.64.2.1": 1, "100.64.3.1": 2}
    rib = make_rib(slots=2, capacity=4)
    model: dict[tuple[str, str, int], PathAttributes] = {}
    prefixes = [f"198.18.{i}.0/24" for i in range(12)]
    for step in range(300):
        op = rng.random()
        router = rng.choice(["r1", "r2"])
        if op < 0.6:
            a = attrs(
                rng.choice(nhs),
                [rng.choice([64500, 64501]) for _ in range(rng.randint(0, 3))],
                origin=rng.randint(0, 2),
                med=rng.choice([None, 0, 10, 20]),
                local_pref=rng.choice([None, 100, 200]),
            )
            batch = [(rng.choice(prefixes), rng.randint(1, 4)) for _ in range(rng.randint(1, 4))]
            learn(rib, router, a, *batch)
            for p, i in batch:
                model[(router, p, i)] = a
        elif op < 0.85:
            batch = [(rng.choice(prefixes), rng.randint(1, 4)) for _ in range(rng.randint(1, 3))]
            rib.handle(PathsWithdrawn(router, tuple(Nlri(p, i) for p, i in batch)))
            for p, i in batch:
                model.pop((router, p, i), None)
        elif op < 0.9:
            rib.handle(SessionChanged(router, False))
            rib.handle(SessionChanged(router, True))
            model = {k: v for k, v in model.items() if k[0] != router}
        if step % 7 == 0 or step == 299:
            snap = rib.snapshot()
            got = dict(zip(snap.prefixes, snap.bgp_best.tolist(), strict=True))
            want = {}
            for p in prefixes:
                best = _reference_best([v for k, v in model.items() if k[1] == p], providers)
                if best >= 0:
                    want[p] = best
            assert got == want, (seed, step)
    assert rib.table.paths == len(model)


def test_router_without_end_of_rib_is_synced_after_a_quiet_time():
    now = [100.0]
    rib = Rib(["r1"], PROVIDERS, clock=lambda: now[0], sync_quiet_time=3.0)
    rib.handle(SessionChanged("r1", True))
    learn(rib, "r1", attrs("100.64.1.1", [1]), ("198.18.1.0/24", 1))
    now[0] += 2.0
    assert not rib.synced("r1")
    rib.handle_many([PathsLearned("r1", attrs("100.64.2.1", [1]), (Nlri("198.18.1.0/24", 2),))])
    now[0] += 2.9
    assert not rib.synced("r1")
    now[0] += 0.2
    assert rib.synced("r1")
    rib.handle(SessionChanged("r1", False))
    assert not rib.synced("r1")


def test_next_hops_the_config_and_the_routers_disagree_on():
    rib = make_rib()
    learn(rib, "r1", attrs("100.64.1.1", [1]), ("198.18.1.0/24", 1))
    learn(rib, "r1", attrs("100.64.7.7", [1]), ("198.18.1.0/24", 2), ("198.18.2.0/24", 2))
    assert rib.unknown_next_hops == {"100.64.7.7": 2}
    assert rib.missing_next_hops() == {"100.64.2.1": "isp2", "100.64.3.1": "isp3"}


@pytest.mark.parametrize("bad", ["garbage", "198.18.1.0/33", "198.18.1.0/x", "2001:db8::/129"])
def test_a_bad_prefix_is_a_counted_malformed_update_and_spares_its_batch(bad):
    rib = make_rib()
    rib.handle_many(
        [
            PathsLearned("r1", attrs("100.64.1.1", [1]), (Nlri("198.18.1.0/24", 1),)),
            PathsLearned("r1", attrs("100.64.2.1", [1]), (Nlri(bad, 1),)),
            PathsLearned("r1", attrs("100.64.3.1", [1]), (Nlri("198.18.2.0/24", 1),)),
        ]
    )
    assert rib.metrics.malformed_updates == 1
    assert rib.snapshot().prefixes == ("198.18.1.0/24", "198.18.2.0/24")
    learn(rib, "r1", attrs("100.64.2.1", [1]), (bad, 2))
    assert rib.metrics.malformed_updates == 2


@pytest.mark.parametrize(
    "bad",
    [
        {"med": 2**32},
        {"local_pref": -1},
        {"local_pref": 2**32 + 100},
        {"path": (64501, 2**32)},
        {"path": (-5, 64501)},
    ],
)
def test_a_number_past_its_four_octets_is_a_counted_malformed_update_and_spares_its_batch(bad):
    # LOCAL_PREF, MED and ASNs are 4-octet unsigned (RFC 4271 section 4.3, RFC 6793).
    rib = make_rib()
    path = bad.pop("path", (64501,))
    top = attrs("100.64.1.1", (64501,), med=2**32 - 1, local_pref=2**32 - 1)
    rib.handle_many(
        [
            PathsLearned("r1", top, (Nlri("198.18.1.0/24", 1),)),
            PathsLearned("r1", attrs("100.64.2.1", path, **bad), (Nlri("198.18.2.0/24", 1),)),
            PathsLearned("r1", attrs("100.64.3.1", (2**32 - 1,)), (Nlri("198.18.3.0/24", 1),)),
        ]
    )
    assert rib.metrics.malformed_updates == 1
    assert rib.snapshot().prefixes == ("198.18.1.0/24", "198.18.3.0/24")
    assert rib.snapshot().origin_as.tolist() == [[64501, 0, 0], [0, 0, 2**32 - 1]]
    (path,) = rib.paths("198.18.1.0/24")
    assert (path["med"], path["local_pref"]) == (2**32 - 1, 2**32 - 1)


def test_origin_as_is_the_last_as_of_each_providers_path():
    rib = make_rib()
    learn(rib, "r1", attrs("100.64.1.1", [64501, 64501, 64610]), ("198.18.1.0/24", 1))
    learn(rib, "r1", attrs("100.64.2.1", [64502, 64610]), ("198.18.1.0/24", 2))
    learn(rib, "r1", attrs("100.64.2.1", []), ("198.18.2.0/24", 2))
    snap = rib.snapshot()
    assert snap.origin_as is not None
    assert snap.origin_as.tolist() == [[64610, 64610, 0], [0, 0, 0]]
    assert rib.learned_path("198.18.1.0/24", "isp1") == (64501, 64501, 64610)
    assert rib.learned_path("198.18.1.0/24", "isp3") is None


def test_learned_path_of_a_more_specific_prefix_comes_from_its_covering_route():
    rib = make_rib()
    learn(rib, "r1", attrs("100.64.2.1", [64502, 64610]), ("198.18.0.0/16", 2))
    assert rib.learned_path("198.18.7.0/24", "isp2") == (64502, 64610)


def test_own_routes_are_recognised_by_any_of_their_local_prefs():
    rib = make_rib(own_local_pref={500, 450})
    own = attrs("100.64.2.1", local_pref=450, communities=("65535:65281", "65535:65282"))
    learn(rib, "r1", own, ("198.18.1.0/24", 2))
    assert rib.metrics.own_paths_ignored == 1


def test_looking_glass_covering_prefix_and_bgps_pick():
    rib = make_rib()
    learn(rib, "r1", attrs("100.64.1.1", [64501, 64510]), ("198.18.0.0/16", 1))
    learn(rib, "r1", attrs("100.64.1.1", [64501, 64600]), ("198.18.1.0/24", 1))
    learn(rib, "r1", attrs("100.64.2.1", [64502, 9, 64600]), ("198.18.1.0/24", 2))
    learn(rib, "r2", attrs("100.64.3.1", [64503, 64600]), ("198.18.1.0/24", 7))
    own = attrs("100.64.2.1", local_pref=500, communities=("65535:65281", "65535:65282"))
    learn(rib, "r1", own, ("198.18.1.0/24", 3))
    assert rib.covering("198.18.1.7/32") == "198.18.1.0/24"
    assert rib.covering("198.18.1.0/24") == "198.18.1.0/24"
    assert rib.covering("198.18.9.0/25") == "198.18.0.0/16"
    assert rib.covering("203.0.113.1/32") is None
    assert rib.covering("2001:db8::1/128") is None
    # Equal AS-path lengths and local-prefs: BGP's tie-break picks one; the looking glass
    # marks that provider's path, exactly one, never routepilot's own route.
    choice = rib.bgp_choice("198.18.1.0/24")
    assert choice == best_of(rib, "198.18.1.0/24")
    paths = rib.paths("198.18.1.0/24")
    assert [(p["router"], p["provider"], p["own"]) for p in paths if p["best"]] == [
        ({"isp1": "r1", "isp3": "r2"}[choice], choice, False)
    ]
    assert {p["path_id"]: p["as_path"] for p in paths if not p["own"]} == {
        1: [64501, 64600],
        2: [64502, 9, 64600],
        7: [64503, 64600],
    }
    assert rib.bgp_choice("203.0.113.0/24") is None


def test_router_summary_counts_each_routers_paths_per_provider():
    rib = make_rib()
    learn(rib, "r1", attrs("100.64.1.1", [1]), ("198.18.1.0/24", 1), ("198.18.2.0/24", 1))
    learn(rib, "r1", attrs("100.64.2.1", [2]), ("198.18.1.0/24", 2))
    learn(rib, "r2", attrs("100.64.3.1", [3]), ("198.18.1.0/24", 1))
    own = attrs("100.64.2.1", local_pref=500, communities=("65535:65281", "65535:65282"))
    learn(rib, "r2", own, ("198.18.2.0/24", 9))
    s = rib.router_summary()
    assert s["r1"]["paths"] == 3 and s["r1"]["providers"] == {"isp1": 2, "isp2": 1}
    assert s["r2"]["paths"] == 2 and s["r2"]["providers"] == {"isp3": 1}
    rib.handle(SessionChanged("r2", False))
    s = rib.router_summary()
    assert s["r2"] == {"session_up": False, "synced": False, "paths": 0, "providers": {}}
    assert s["r1"]["paths"] == 3


@pytest.mark.parametrize("seed", range(6))
def test_withdrawals_batched_give_the_same_table_as_one_by_one(seed):
    """Runs of withdrawals are applied in one batch, as announcements are (#18): the
    table and the counters must be those of one event at a time, in any mix."""
    import random

    rng = random.Random(seed)
    prefixes = [f"198.18.{i}.0/24" for i in range(10)]
    events: list = []
    for _ in range(400):
        router = rng.choice(["r1", "r2"])
        batch = tuple(
            Nlri(rng.choice(prefixes), rng.randint(1, 3)) for _ in range(rng.randint(1, 4))
        )
        if rng.random() < 0.55:
            a = attrs(rng.choice(["100.64.1.1", "100.64.2.1"]), [rng.randint(1, 3)])
            events.append(PathsLearned(router, a, batch))
        else:
            # Now and then a prefix never learned, or the same path twice in a run.
            if rng.random() < 0.2:
                batch += (Nlri("203.0.113.0/24", 1),)
            events.append(PathsWithdrawn(router, batch + batch[:1]))
    one, many = make_rib(), make_rib()
    for event in events:
        one.handle(event)
    i = 0
    while i < len(events):
        n = rng.randint(1, 40)
        many.handle_many(events[i : i + n])
        i += n
    for p in prefixes:
        assert sorted(one.paths(p), key=str) == sorted(many.paths(p), key=str)
    assert one.table.paths == many.table.paths
    assert one.metrics == many.metrics


def _two_edges() -> Rib:
    # r1 reaches isp1 and isp2, r2 reaches isp2 and isp3.
    egress = {"isp1": ["r1"], "isp2": ["r1", "r2"], "isp3": ["r2"]}
    return make_rib(egress=egress)


def test_a_providers_path_counts_only_from_a_router_that_reaches_it():
    rib = _two_edges()
    learn(rib, "r1", attrs("100.64.1.1", [64501]), ("198.18.1.0/24", 1))
    # r2 relays isp1's path (an iBGP-learned one): not isp1's view from r2.
    learn(rib, "r2", attrs("100.64.1.1", [64501]), ("198.18.2.0/24", 1))
    learn(rib, "r2", attrs("100.64.3.1", [64503, 1]), ("198.18.1.0/24", 7))
    snap = rib.snapshot()
    assert snap.prefixes == ("198.18.1.0/24",)
    assert snap.has_route.tolist() == [[True, False, True]]
    assert best_of(rib, "198.18.1.0/24") == "isp1"


def test_a_provider_whose_every_egress_router_is_down_is_down():
    rib = _two_edges()
    learn(rib, "r1", attrs("100.64.1.1", [64501]), ("198.18.1.0/24", 1))
    learn(rib, "r1", attrs("100.64.2.1", [64502]), ("198.18.1.0/24", 2))
    learn(rib, "r2", attrs("100.64.2.1", [64502]), ("198.18.1.0/24", 1))
    learn(rib, "r2", attrs("100.64.3.1", [64503]), ("198.18.1.0/24", 2))
    rib.handle(SessionChanged("r2", False, "hold timer expired"))
    snap = rib.snapshot()
    assert snap.provider_up == {"isp1": True, "isp2": True, "isp3": False}
    assert snap.has_route.tolist() == [[True, True, False]]
    # r1's paths are untouched, path ids and all.
    assert [(p["router"], p["path_id"]) for p in rib.paths("198.18.1.0/24")] == [
        ("r1", 1),
        ("r1", 2),
    ]
    rib.handle(SessionChanged("r1", False, "hold timer expired"))
    assert rib.snapshot().provider_up == {"isp1": False, "isp2": False, "isp3": False}


def test_learned_path_falls_back_to_the_covering_route_when_the_exact_one_lacks_the_provider():
    rib = make_rib()
    learn(rib, "r1", attrs("100.64.1.1", [64501, 64610]), ("198.18.7.0/24", 1))
    learn(rib, "r1", attrs("100.64.2.1", [64502, 64610]), ("198.18.0.0/16", 2))
    assert rib.learned_path("198.18.7.0/24", "isp1") == (64501, 64610)
    assert rib.learned_path("198.18.7.0/24", "isp2") == (64502, 64610)
    # Text the RIB does not write (host bits set) is parsed and found all the same.
    assert rib.learned_path("198.18.7.9/24", "isp1") == (64501, 64610)
    assert rib.learned_path("not a prefix", "isp1") is None


@pytest.mark.parametrize("seed", range(8))
def test_path_ids_withdrawn_equal_those_paths_withdrawn_one_by_one(seed, monkeypatch):
    """PathIdsWithdrawn (a BMP peer down, #18) drops a router's paths by path id in bulk:
    the table must be the one left by withdrawing each of those paths in turn, and no
    other router's paths may go, whatever their ids."""
    import random

    from routepilot.rib import table as table_module

    if seed % 2:
        # Several blocks of rows, as a full table has.
        monkeypatch.setattr(table_module, "_DROP_BLOCK", 7)
    rng = random.Random(seed)
    routers = ["r1", "r2", "r3"]
    nhs = ["100.64.1.1", "100.64.2.1", "100.64.3.1", "100.64.9.9"]
    prefixes = [f"198.18.{i}.0/24" for i in range(40)] + [f"2001:db8:{i}::/48" for i in range(5)]
    learned: list = []
    for _ in range(150):
        a = attrs(
            rng.choice(nhs),
            [rng.choice([64500, 64501, 64502]) for _ in range(rng.randint(0, 3))],
            med=rng.choice([None, 10, 20]),
            local_pref=rng.choice([None, 100, 200]),
        )
        nlri = tuple(
            Nlri(rng.choice(prefixes), rng.randint(1, 6)) for _ in range(rng.randint(1, 5))
        )
        learned.append(PathsLearned(rng.choice(routers), a, nlri))
    gone_router = rng.choice(routers)
    gone_ids = tuple(rng.sample(range(1, 7), rng.randint(1, 4))) + (99, 2**32 + 1)

    def fresh() -> Rib:
        rib = Rib(routers, PROVIDERS, clock=lambda: 42.0, slots=2, capacity=4)
        for router in routers:
            rib.handle(SessionChanged(router, True))
        rib.handle_many(learned)
        return rib

    bulk, one = fresh(), fresh()
    bulk.snapshot()  # best paths already computed, as in a running daemon: only rows changed
    before = {p: one.paths(p) for p in prefixes}
    held = [
        Nlri(p, path["path_id"])
        for p, paths in before.items()
        for path in paths
        if path["router"] == gone_router and path["path_id"] in gone_ids
    ]
    assert held  # the draw withdraws something
    for nlri in held:
        one.handle(PathsWithdrawn(gone_router, (nlri,)))
    bulk.handle_many([PathIdsWithdrawn(gone_router, gone_ids)])

    a, b = one.snapshot(), bulk.snapshot()
    assert a.prefixes == b.prefixes
    for field in ("has_route", "as_path_len", "bgp_best", "origin_as"):
        assert getattr(a, field).tolist() == getattr(b, field).tolist(), field

    def others(paths: list[dict]) -> list[dict]:
        # BGP's pick among them may change with the paths gone: not the path itself.
        return [{**x, "best": None} for x in paths if x["router"] != gone_router]

    for p in prefixes:
        got = bulk.paths(p)
        assert sorted(got, key=str) == sorted(one.paths(p), key=str)
        assert others(got) == others(before[p])
    assert bulk.table.paths == one.table.paths == sum(map(len, before.values())) - len(held)
    assert bulk.router_summary() == one.router_summary()
    assert bulk.metrics.withdrawals_received == one.metrics.withdrawals_received == len(held)
    assert bulk.metrics.paths == one.metrics.paths


def test_a_snapshot_with_nothing_changed_is_the_last_one_read_only_and_a_change_makes_a_new_one():
    rib = make_rib()
    learn(rib, "r1", attrs("100.64.1.1", [64501, 64610]), ("198.18.1.0/24", 1))
    learn(rib, "r1", attrs("100.64.2.1", [64502, 64600, 64610]), ("198.18.1.0/24", 2))
    first = rib.table.best_paths()
    assert rib.table.best_paths() is first
    assert best_of(rib, "198.18.1.0/24") == "isp1"
    with pytest.raises(ValueError):
        first.bgp_best[0] = 1  # shared by every round until a row changes
    learn(rib, "r1", attrs("100.64.2.1", [64502]), ("198.18.1.0/24", 2))
    assert best_of(rib, "198.18.1.0/24") == "isp2"  # the shorter path now
    learn(rib, "r1", attrs("100.64.1.1", [64501, 64610]), ("198.18.2.0/24", 1))
    assert rib.snapshot().prefixes == ("198.18.1.0/24", "198.18.2.0/24")
    rib.handle(PathsWithdrawn("r1", (Nlri("198.18.1.0/24", 1), Nlri("198.18.1.0/24", 2))))
    assert rib.snapshot().prefixes == ("198.18.2.0/24",)
