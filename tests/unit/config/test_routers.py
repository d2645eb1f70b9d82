"""config: several edge routers (the providers each reaches, its own next hops) and a
route-reflector session."""

from __future__ import annotations

import pytest
from tests.unit.config.test_config import GOOD

from routepilot.config import Config, ConfigError, load_text

TWO = GOOD.replace(
    "  - {name: edge, address: 100.66.1.1, asn: 65000}\n",
    "  - {name: edge, address: 100.66.1.1, asn: 65000, providers: [isp1],\n"
    "     next_hops: {isp2: [100.66.3.2]}}\n"
    "  - {name: edge2, address: 100.66.3.2, asn: 65000, providers: [isp2]}\n",
)


def test_routers_list_their_providers_and_own_next_hops() -> None:
    cfg = load_text(TWO, Config)
    assert cfg.egress() == {"isp1": ["edge"], "isp2": ["edge2"]}
    assert cfg.routers[0].next_hops == {"isp2": ["100.66.3.2"]}
    assert cfg.routers[0].route_reflector is False


def test_a_router_listing_none_reaches_every_provider() -> None:
    assert load_text(GOOD, Config).egress() == {"isp1": ["edge"], "isp2": ["edge"]}


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("providers: [isp1]", "providers: [isp9]", "providers names unknown provider .isp9."),
        ("next_hops: {isp2:", "next_hops: {isp7:", "next_hops names unknown provider 'isp7'"),
        ("providers: [isp2]", "providers: [isp1]", "no router reaches provider.s. isp2"),
        ("[100.66.3.2]}}", "[]}}", "next_hops.isp2 is empty"),
    ],
)
def test_bad_router_providers_are_named(old: str, new: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_text(TWO.replace(old, new, 1), Config)


def test_route_reflector_session_is_a_router_setting() -> None:
    text = GOOD.replace("asn: 65000}", "asn: 65000, route_reflector: true}")
    assert load_text(text, Config).routers[0].route_reflector is True
