"""The lab with an exchange LAN (`--ix-peers 2`, issue 12 part 3): peers with partial tables.

Two peers, ix1 and ix2, share one LAN with edge and each announces a slice of the
destinations (lab/ix.py: ix1 0-4, ix2 5-9, 10-15 nobody's at the exchange), with
paths longer than any transit's, so BGP never picks them; the peers add no delay, so
they are faster than every transit. The transit providers then get 30 ms slower toward
everything: routepilot moves what it can to the peers, and never a prefix to a peer
that does not announce it, neither in its decisions nor in edge's FIB. The API shows
each peer's traffic and the exchange's sum.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from routepilot.lab import ix
from routepilot.lab.spec import LabSpec, default_spec
from tests.lab.looplab import FAST_EXPORT, LoopLab

SPEC = LabSpec.model_validate(
    {
        **default_spec(3, 16, "rplabix").model_dump(),
        "prefixes_v6": 2,
        "ix_peers": 2,
        "export": FAST_EXPORT,  # the traffic's first records come sooner
    }
)


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopLab]:
    ll = LoopLab(SPEC, tmp_path_factory.mktemp("ix"), policy__hold_down_s=10.0)
    try:
        ll.up()
        yield ll
    finally:
        ll.down()


def announcers(spec: LabSpec, prefix: str) -> set[str]:
    """The exchange peers that announce ``prefix``."""
    k = spec.prefixes_v4_list().index(prefix) if prefix in spec.prefixes_v4_list() else -1
    return {peer for peer in ix.peers(spec) if k in ix.announced(spec, peer)}


def on_peers(loop: LoopLab) -> dict[str, str]:
    """Prefix -> peer, for every IPv4 destination edge's FIB sends to an exchange peer;
    fails at once when one goes to a peer that does not announce it."""
    moved = {}
    for prefix in loop.spec.prefixes_v4_list():
        exit_ = loop.exit_of(prefix)
        if exit_ in ix.peers(loop.spec):
            assert exit_ in announcers(loop.spec, prefix), (prefix, exit_, loop.detail(prefix))
            moved[prefix] = exit_
    for row in loop.api("/prefixes?top=100"):
        if row["exit"] in ix.peers(loop.spec):
            assert row["exit"] in announcers(loop.spec, row["prefix"]), row
    return moved


@pytest.fixture(scope="module")
def slow_transit(loop: LoopLab) -> Iterator[dict[str, str]]:
    """Every transit 30 ms slower toward everything, until routepilot has moved prefixes of
    both peers; yields the moves (prefix -> peer) it made."""
    for p in loop.spec.providers:
        loop.lab.impair(p.name, delay_ms=30)
    try:
        loop.wait(lambda: set(on_peers(loop).values()) == {"ix1", "ix2"}, 60, "moves to peers")
        yield on_peers(loop)
    finally:
        loop.lab.clear_all()


def test_exchange_peers_have_their_slice_only(loop: LoopLab) -> None:
    for k, prefix in enumerate(loop.spec.prefixes_v4_list()):
        found = loop.api(f"/routes/{prefix}")
        peers = {p["provider"] for p in found["paths"]} & set(ix.peers(loop.spec))
        assert peers == announcers(loop.spec, prefix), prefix
        # BGP alone never picks a peer: their paths are longer than every transit's.
        assert found["bgp_choice"] == loop.spec.bgp_best(k), prefix
    on_peers(loop)


def test_partial_peer_never_chosen_outside_what_it_announces(
    loop: LoopLab, slow_transit: dict[str, str]
) -> None:
    nobody = [p for p in loop.spec.prefixes_v4_list() if not announcers(loop.spec, p)]
    # Checked again on a later round, with the moves in force.
    loop.wait(lambda: len(on_peers(loop)) >= len(slow_transit), 20, "moves held")
    assert all(prefix not in on_peers(loop) for prefix in nobody)
    for prefix, peer in slow_transit.items():
        assert loop.api(f"/routes/{prefix}")["injected"]["provider"] == peer


def test_per_peer_and_exchange_traffic_in_the_api(
    loop: LoopLab, slow_transit: dict[str, str]
) -> None:
    def peer_rates() -> dict[str, float]:
        return {p["name"]: p["rate_bps"] for p in loop.api("/providers") if p["exchange"] == "ix"}

    loop.wait(lambda: all(r > 0 for r in peer_rates().values()), 30, "traffic on both peers")
    (exchange,) = loop.api("/exchanges")
    rates = {p["name"]: round(p["rate_bps"] / 1e3) for p in exchange["peers"]}
    print(f"exchange: {len(slow_transit)} prefixes on peers, kbit/s per peer {rates}")
    assert exchange["name"] == "ix"
    assert [p["name"] for p in exchange["peers"]] == ["ix1", "ix2"]
    assert exchange["peers_up"] == 2
    assert exchange["rate_bps"] == pytest.approx(sum(p["rate_bps"] for p in exchange["peers"]))
    assert exchange["capacity_bps"] == 2 * ix.PEER_CAPACITY_MBPS * 1e6
    # Each peer's traffic is that of the prefixes it carries now (the flows of its port).
    for peer in ("ix1", "ix2"):
        carried = [x for x in loop.api("/prefixes?top=100") if x["exit"] == peer]
        assert carried, peer
