"""The lab's exchange LAN and BMP options, as generated configuration (no root needed)."""

from __future__ import annotations

import pytest

from routepilot.lab import bird, frr, ix, topology
from routepilot.lab.controller import controller_config
from routepilot.lab.spec import LabSpec, default_spec

pytestmark = pytest.mark.unit


def _with(**extra: object) -> LabSpec:
    return LabSpec.model_validate({**default_spec(3, 16).model_dump(), **extra})


def test_the_default_lab_has_no_exchange_and_no_bmp() -> None:
    spec = default_spec(3, 16)
    lines = [line for batch in topology.batches(spec).values() for line in batch]
    assert not [line for line in lines if "ix" in line.split()[-1] or "100.69." in line]
    assert "exchange peer" not in bird.edge_config(spec, "/x.log")
    frr_spec = default_spec(3, 16, edge_router="frr")
    assert "bmp" not in frr.edge_config(frr_spec, "/x.log")
    ifindex = {"isp1": 1, "isp2": 2, "isp3": 3}
    cfg = controller_config(spec, ifindex, "/x.db")
    assert [p.exchange for p in cfg.providers] == [None] * 3
    assert cfg.routers[0].route_source == "addpath"


def test_exchange_peers_share_one_lan_and_announce_slices() -> None:
    spec = _with(ix_peers=3)
    assert ix.peers(spec) == ["ix1", "ix2", "ix3"]
    assert spec.nodes()[-3:] == ["ix1", "ix2", "ix3"]
    assert [ix.announced(spec, p) for p in ix.peers(spec)] == [[0, 1, 2, 3], [4, 5, 6, 7],
                                                                [8, 9, 10, 11]]  # fmt: skip
    edge = topology.batches(spec)["edge"]
    assert "addr add 100.69.0.1/24 dev ix" in edge
    assert all(f"link set ixp{k} master ix" in edge for k in (1, 2, 3))
    ifindex = {"isp1": 1, "isp2": 2, "isp3": 3, "ixp1": 7, "ixp2": 8, "ixp3": 9}
    cfg = controller_config(spec, ifindex, "/x.db")
    peers = [p for p in cfg.providers if p.exchange == "ix"]
    assert [(p.name, p.next_hops, p.flow_interfaces[0].ifindex) for p in peers] == [
        ("ix1", ["100.69.0.11"], 7), ("ix2", ["100.69.0.12"], 8), ("ix3", ["100.69.0.13"], 9)
    ]  # fmt: skip
    # A peer's path is longer than every provider's: BGP's own choice stays a transit's.
    conf = ix.peer_config(spec, "ix1", "/x.log")
    assert conf.count("bgp_path.prepend(65101)") == 3 * len(ix.announced(spec, "ix1"))


def test_bmp_lab_sends_bmp_from_frr_and_compares() -> None:
    spec = _with(edge_router="frr", bmp=True)
    conf = frr.edge_config(spec, "/x.log")
    assert "  bmp connect 100.66.1.2 port 11019 min-retry 100 max-retry 1000" in conf
    assert "  bmp monitor ipv6 unicast post-policy" in conf
    cfg = controller_config(spec, {"isp1": 1, "isp2": 2, "isp3": 3}, "/x.db")
    assert cfg.routers[0].route_source == "both"


@pytest.mark.parametrize(
    ("extra", "error"),
    [({"bmp": True}, "bmp needs the FRR edge"), ({"ix_peers": 2, "edge_router": "frr"},
                                                  "ix_peers needs the BIRD edge"),
     ({"ix_peers": 2, "controllers": 2}, "ix_peers needs one controller")],
)  # fmt: skip
def test_options_that_need_another_edge_say_so(extra: dict, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        _with(**extra)
