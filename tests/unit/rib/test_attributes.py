"""Attribute sets interned once, as bytes: equal sets share an id, each comes back whole."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from routepilot.rib import attributes
from routepilot.rib.attributes import AttributeStore, encode
from routepilot.rib.rib import Rib
from routepilot.rib.speaker.base import (
    Nlri,
    PathAttributes,
    PathsLearned,
    SessionChanged,
    SharedAttributes,
)


def test_equal_sets_share_an_id_and_come_back_whole():
    store = AttributeStore()
    a = PathAttributes("100.64.1.1", (64601, 4_200_000_001, 4_200_000_001), 2, None, 100,
                       ("64601:1", "65535:65281"))  # fmt: skip
    # The same values as other objects: large ints and strings built at run time.
    big = int("4200000001")
    b = PathAttributes("".join(["100.64.", "1.1"]), (64601, big, big), 2, None, 100,
                       ("64601:" + str(1), "65535:65281"))  # fmt: skip
    c = a._replace(med=0)
    assert store.add(a) == (0, True)
    assert store.add(b) == (0, False)
    assert store.add(c) == (1, True)
    assert store.find(b) == 0 and store.find(a._replace(origin=0)) is None
    assert store.get(0) == a and type(store.get(0)) is PathAttributes
    assert store.get(1) == c and store.get(1).med == 0 and store.get(0).med is None
    assert len(store) == 2


def test_numpy_integers_are_the_same_set():
    a = PathAttributes("100.64.1.1", (64601, 3), 0, 10, 100)
    b = PathAttributes("100.64.1.1", (np.int64(64601), np.uint32(3)), np.int8(0), np.int64(10), 100)
    assert encode(a) == encode(b)
    store = AttributeStore()
    store.add(b)
    assert store.find(a) == 0
    assert store.get(0) == a and all(type(x) is int for x in store.get(0).as_path)


def test_an_unhashable_set_is_refused_as_before():
    with pytest.raises(TypeError):
        encode(PathAttributes("100.64.1.1", [64601, 3]))  # type: ignore[arg-type]


def test_an_attribute_out_of_range_is_a_malformed_update_and_costs_nothing_else():
    rib = Rib(["r1"], [("isp1", ["100.64.1.1"])])
    rib.handle(SessionChanged("r1", True))
    bad = PathAttributes("100.64.1.1", (64601,), origin=300)
    good = PathAttributes("100.64.1.1", (64601, 7), med=5)
    rib.handle_many(
        [
            PathsLearned("r1", bad, (Nlri("198.18.0.0/24", 1),)),
            PathsLearned("r1", good, (Nlri("198.18.1.0/24", 1),)),
        ]
    )
    assert rib.metrics.malformed_updates == 1
    assert rib.table.paths == 1
    [path] = rib.paths("198.18.1.0/24")
    assert (path["provider"], path["as_path"], path["med"], path["best"]) == (
        "isp1",
        [64601, 7],
        5,
        True,
    )
    assert rib.snapshot().prefixes == ("198.18.1.0/24",)


def test_ids_stay_right_past_the_recent_sets_kept_as_objects():
    store = AttributeStore()
    sets = [PathAttributes("100.64.1.1", (64601, i)) for i in range(10_000)]
    assert [store.add(a) for a in sets] == [(i, True) for i in range(10_000)]
    assert [store.add(a) for a in sets] == [(i, False) for i in range(10_000)]
    assert [store.find(a._replace(as_path=tuple(a.as_path))) for a in sets] == list(range(10_000))
    assert store.get(9_999) == sets[9_999]


def test_a_set_found_by_identity_is_the_id_of_its_value(monkeypatch):
    """intern() finds a shared set it has seen by the object itself: past the bound, after the
    objects it held are gone and their addresses reused, every id is still its value's."""
    monkeypatch.setattr(attributes, "_SAME", 64)
    store = AttributeStore()
    ids = {}
    for round_ in range(3):
        # New objects each round (equal values, fresh addresses), each interned twice.
        sets = [SharedAttributes("100.64.1.1", (64601, i % 300)) for i in range(1_000)]
        for a in sets + sets[::-1]:
            got = store.intern(a, lambda _: None)
            assert ids.setdefault(a.as_path, got) == got, (round_, a)
        del sets
    assert len(store) == 300
    assert {store.get(i).as_path for i in ids.values()} == set(ids)


def test_sets_made_anew_for_each_update_are_not_kept_alive():
    """ExaBGP's decoder makes a new object for each UPDATE's set. The store knows sets by
    value; holding every object it was handed, to know it again by identity, kept one
    object an UPDATE: 1.66x the RIB's memory on a 0.5M-path table (bench/rib/memory.py).
    Only a producer's shared sets are known by identity."""
    store = AttributeStore()
    hop = "100.64.250.77"  # this test's own: other modules' sets are not counted
    values = [(hop, (64601, i)) for i in range(100)]
    updates = [PathAttributes(*values[i % 100]) for i in range(20_000)]
    ids = [store.intern(a, lambda _: None) for a in updates]
    del updates
    gc.collect()
    alive = sum(1 for o in gc.get_objects() if type(o) is PathAttributes and o[0] == hop)
    assert alive <= 100, f"{alive} sets held for 100 values"
    shared = [SharedAttributes(*v) for v in values]
    assert [store.intern(a, lambda _: None) for a in shared] == ids[:100]
    assert [store.get(i) for i in ids[:100]] == [PathAttributes(*v) for v in values]
