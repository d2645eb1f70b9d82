"""lab/: the two-edge lab and its route reflector, as generated (no root needed)."""

from __future__ import annotations

import pytest

from routepilot.lab import bird, controller, edges, reflector, topology
from routepilot.lab.spec import LabSpec, default_spec


def two(reflect: bool = False, **extra: object) -> LabSpec:
    base = default_spec(3, 16).model_dump()
    return LabSpec.model_validate({**base, "edges": 2, "reflector": reflect, **extra})


def test_default_lab_has_one_edge_and_every_provider_on_it() -> None:
    spec = default_spec()
    assert spec.edge_nodes() == ["edge"]
    assert "edge2" not in spec.nodes() and "rr" not in spec.nodes()
    assert all(spec.provider_edges(p.name) == ["edge"] for p in spec.providers)


def test_two_edges_each_with_providers_of_their_own_and_one_shared() -> None:
    spec = two()
    assert spec.nodes()[-2:] == ["edge2", "cust2"]
    assert {p.name: spec.provider_edges(p.name) for p in spec.providers} == {
        "isp1": ["edge"],
        "isp2": ["edge", "edge2"],
        "isp3": ["edge2"],
    }
    assert edges.next_hops(spec, 2) == [
        "100.64.2.2",
        "2001:db8:ff00:2::2",
        "100.64.18.2",
        "2001:db8:ff00:12::2",
    ]


def test_each_edge_peers_with_its_providers_the_other_edge_and_the_controller() -> None:
    spec = two()
    edge, edge2 = bird.edge_config(spec, "l"), bird.edge_config(spec, "l", "edge2")
    assert "protocol bgp isp3 " not in edge and "protocol bgp isp1 " not in edge2
    assert "neighbor 100.64.19.2 as 65003;" in edge2
    assert "neighbor 100.66.3.2 as 65000;" in edge  # iBGP to edge2
    assert "neighbor 100.66.1.2 as 65000;" in edge2  # routepilot, through edge
    # The other edge's provider links are in each edge's IGP: every next hop resolves.
    assert "route 100.64.19.0/24 via 100.66.3.2;" in edge
    assert "route 100.64.1.0/24 via 100.66.3.1;" in edge2
    assert "protocol bgp edge2 {" in bird.provider_config(spec, "isp3", "l")
    assert "protocol bgp edge {" not in bird.provider_config(spec, "isp3", "l")


def test_probe_sources_of_the_other_edges_providers_go_through_it() -> None:
    out = topology.batches(two())
    assert "route add default via 100.66.3.2 dev edge2 table 103" in out["edge"]
    assert "route add default via 100.64.19.2 dev isp3 table 103" in out["edge2"]
    assert "route add 100.66.4.0/24 via 100.64.18.1" in out["isp2"]  # cust2's replies


def test_the_controller_peers_with_both_edges_each_with_its_next_hops() -> None:
    cfg = controller.controller_config(
        two(), {"isp1": 5, "isp2": 6}, "/tmp/x.db", edge2_ifindexes={"isp2": 7, "isp3": 8}
    )
    edge, edge2 = cfg.routers
    assert (edge.name, edge.providers, edge.next_hops) == (
        "edge",
        ["isp1", "isp2"],
        {"isp3": ["100.66.3.2", "2001:db8:ff66:3::2"]},
    )
    assert (edge2.address, edge2.providers) == ("100.66.3.2", ["isp2", "isp3"])
    assert edge2.next_hops == {
        "isp1": ["100.66.3.1", "2001:db8:ff66:3::1"],
        "isp2": ["100.64.18.2", "2001:db8:ff00:12::2"],
    }
    exporters = {p.name: [f.exporter for f in p.flow_interfaces] for p in cfg.providers}
    assert exporters == {
        "isp1": ["100.66.1.1"],
        "isp2": ["100.66.1.1", "100.66.3.2"],
        "isp3": ["100.66.3.2"],
    }


def test_with_a_reflector_the_edges_and_the_controller_peer_only_with_it() -> None:
    spec = two(reflect=True)
    assert spec.nodes()[-1] == "rr"
    edge = bird.edge_config(spec, "l")
    assert "neighbor 100.66.5.2 as 65000;" in edge
    assert "protocol bgp ctl " not in edge and "protocol bgp edge2 " not in edge
    cfg = controller.controller_config(spec, {"isp1": 5, "isp2": 6}, "/x", edge2_ifindexes={})
    (rr,) = cfg.routers
    assert (rr.name, rr.address, rr.route_reflector, rr.providers) == ("rr", "100.66.5.2", True, [])
    conf = reflector.config("l")
    for client in ("100.66.5.1", "100.66.3.2", "100.66.1.2"):
        assert f"neighbor {client} route-reflector-client" in conf
    assert "neighbor 100.66.1.2 addpath-tx-all-paths" in conf


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"edges": 1, "reflector": True}, "needs two edges"),
        ({"edge_router": "frr"}, "two edges need the BIRD edge"),
        ({"controllers": 2}, "two controllers are not combined"),
    ],
)
def test_bad_edge_specs_are_named(extra: dict, message: str) -> None:
    base = default_spec(3, 16).model_dump()
    with pytest.raises(ValueError, match=message):
        LabSpec.model_validate({**base, "edges": 2, **extra})


def test_an_edge_without_a_provider_is_refused() -> None:
    base = default_spec(3, 16).model_dump()
    for p in base["providers"]:
        p["edges"] = ["edge"]
    with pytest.raises(ValueError, match="edge2 has no provider"):
        LabSpec.model_validate({**base, "edges": 2})
