"""`GET /api/v1/exchanges`: an exchange LAN's peers, each a provider, added up."""

from __future__ import annotations

import pytest

from routepilot.api.exchanges import exchanges
from routepilot.api.fake import FakeView

pytestmark = pytest.mark.unit


def _row(name: str, exchange: str | None, rate: float, up: bool = True) -> dict:
    return {
        "name": name,
        "exchange": exchange,
        "session_up": up,
        "healthy": up,
        "rate_bps": rate,
        "capacity_bps": 100e6,
        "prefixes_routed": 2,
    }


def test_peers_of_one_exchange_are_summed_and_transit_left_out() -> None:
    rows = [
        _row("isp1", None, 50e6),
        _row("ix1", "ams", 10e6),
        _row("ix2", "ams", 30e6, up=False),
        _row("ix3", "fra", 5e6),
    ]
    ams, fra = exchanges(rows)
    assert ams["name"] == "ams" and fra["name"] == "fra"
    assert [p["name"] for p in ams["peers"]] == ["ix1", "ix2"]
    assert (ams["peers_up"], ams["peers_healthy"]) == (1, 1)
    assert ams["rate_bps"] == 40e6 and ams["capacity_bps"] == 200e6
    assert ams["utilization"] == pytest.approx(0.2)
    assert ams["prefixes_routed"] == 4
    assert ams["peers"][1] == {k: v for k, v in rows[2].items() if k != "exchange"}


def test_endpoint_lists_the_exchanges_of_the_providers(client, view: FakeView) -> None:
    assert client.get("/api/v1/exchanges").json() == []
    view._providers[2]["exchange"] = "ams"
    body = client.get("/api/v1/exchanges").json()
    assert [(e["name"], [p["name"] for p in e["peers"]]) for e in body] == [("ams", ["isp3"])]
    provider = next(p for p in client.get("/api/v1/providers").json() if p["name"] == "isp3")
    assert provider["exchange"] == "ams"
    assert body[0]["rate_bps"] == provider["rate_bps"]
