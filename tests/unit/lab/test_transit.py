"""The transit lab's plan: who buys from whom, the routers' sessions, where impairments
apply; and the default lab without transits keeps its shape."""

from __future__ import annotations

import pytest

from routepilot.lab import impair, transit
from routepilot.lab.spec import default_spec, with_transits
from routepilot.lab.topology import batches


def test_providers_share_some_transits_and_not_others() -> None:
    spec = with_transits(default_spec(3, 8), 2)
    assert [transit.provider_transits(spec, i) for i in (1, 2, 3)] == [[1], [1, 2], [2]]
    assert [transit.transit_for(spec, 2, k) for k in range(4)] == [1, 2, 1, 2]
    assert spec.transit_names() == ["t1", "t2"]
    assert spec.nodes() == ["edge", "isp1", "isp2", "isp3", "t1", "t2", "inet", "cust", "ctl"]
    four = with_transits(default_spec(4, 8), 2)
    assert [transit.provider_transits(four, i) for i in (1, 2, 3, 4)] == [[1], [1, 2], [1, 2], [2]]
    one = with_transits(default_spec(3, 8), 1)
    assert {tuple(transit.provider_transits(one, i)) for i in (1, 2, 3)} == {(1,)}


def test_each_transit_announces_to_a_provider_only_what_it_routes_through_it() -> None:
    spec = with_transits(default_spec(3, 4), 2)
    t1 = transit.transit_config(spec, "t1", "/dev/null", "")
    assert "local 100.90.11.2 as 64501;" in t1 and "neighbor 100.90.21.1 as 65002;" in t1
    assert "protocol bgp isp3" not in t1  # isp3 buys from t2 only
    to_isp2 = t1.split("filter to_isp2 {")[1].split("}")[0]
    assert "198.18.0.0/24" in to_isp2 and "198.18.1.0/24" not in to_isp2
    assert "100.92.101.0/24" in to_isp2  # t1's own network, for traceroute hops
    isp2 = transit.provider_config(spec, "isp2", "/dev/null", "")
    assert "protocol bgp t1 {" in isp2 and "protocol bgp t2 {" in isp2
    assert "route 100.92.2.0/24 blackhole;" in isp2


def test_without_transits_nothing_of_the_transit_lab_appears() -> None:
    plain = batches(default_spec(3, 8))
    assert "t1" not in plain
    assert not any("100.9" in line for lines in plain.values() for line in lines)
    assert any("dev inet" in line for line in plain["isp1"])
    assert impair.nft_ruleset([impair.Impairment(loss_pct=1)]).count('oifname "inet"') == 4


def test_a_providers_impairments_apply_on_its_links_to_the_transits() -> None:
    spec = with_transits(default_spec(3, 8), 2)
    assert transit.uplink_pattern(spec, "isp1") == "t*"
    assert transit.uplink_pattern(spec, "t1") == "inet"
    rules = impair.nft_ruleset([impair.Impairment(loss_pct=10)], "t*")
    assert 'oifname "t*" ip daddr 198.18.0.0/15 numgen random mod 10000 < 1000' in rules
    ipt = impair.iptables_rules([impair.Impairment(delay_ms=5)], False, uplink="t*")
    assert "-o t+ -d 198.18.0.0/15" in ipt
    built = batches(spec)
    assert "addr add 100.92.101.1/32 dev lo" in built["t1"]
    assert "route replace 100.66.0.0/15 via 100.64.1.1 src 100.92.1.1" in built["isp1"]


def test_transit_count_is_checked() -> None:
    with pytest.raises(ValueError, match="between 0 and 8"):
        with_transits(default_spec(3, 8), 9)
