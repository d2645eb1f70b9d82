"""The daemon's on-demand measurer (run/wiring.py build_ondemand): its scope and hop ASes
come from the controller's RIB, routepilot's own injected paths never count as a route,
and it follows the configuration in force (a reload)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from tests.unit.rib.test_rib import attrs, learn, make_rib

from routepilot.config import Config
from routepilot.probe.ondemand import Refused
from routepilot.probe.oneshot import PathResult
from routepilot.run.wiring import build_ondemand

pytestmark = pytest.mark.unit

PROVIDERS = [
    {"name": n, "asn": 65000 + k, "next_hops": [f"100.64.{k}.1"], "capacity_mbps": 100,
     "probe": {"source": f"100.67.{k}.1"}}
    for k, n in ((1, "isp1"), (2, "isp2"), (3, "isp3"))
]  # fmt: skip


def config(**probe: object) -> Config:
    return Config.model_validate({"providers": PROVIDERS, "probe": probe})


async def fake_measure(targets, providers, kind, count, interval_s, timeout_s, options):
    out = []
    for name, steering in providers:
        r = PathResult(targets[0], name, kind, sent=count)
        r.rtts_ms = [1.0] * count
        r.responders = {steering.source}
        out.append(r)
    return out


def test_scope_and_ases_come_from_the_rib_and_the_config_in_force() -> None:
    rib = make_rib()
    learn(rib, "r1", attrs("100.64.1.1", [65001, 64600]), ("198.18.1.0/24", 1))
    learn(rib, "r1", attrs("100.64.2.1", [65002, 64510, 64600]), ("198.18.1.0/24", 2))
    own = attrs("100.64.3.1", local_pref=500, communities=("65535:65281", "65535:65282"))
    learn(rib, "r1", own, ("198.18.1.0/24", 3))
    learn(rib, "r2", attrs("100.64.3.1", [65003, 64520]), ("100.92.0.0/16", 1))
    current = {"config": config(enabled=True)}
    assert build_ondemand(lambda: config(), SimpleNamespace(rib=rib)) is None  # type: ignore[arg-type]
    od = build_ondemand(lambda: current["config"], SimpleNamespace(rib=rib))  # type: ignore[arg-type]
    assert od is not None
    od.measure_fn = fake_measure
    out = asyncio.run(od.probe("otto", "198.18.1.9", None, "icmp", 2))
    # isp3's only path is routepilot's own injection: not a route to probe through.
    assert [r["provider"] for r in out["results"]] == ["isp1", "isp2"]
    # The daemon's steering per provider: each provider's own probe source.
    assert [r["responders"] for r in out["results"]] == [["100.67.1.1"], ["100.67.2.1"]]
    assert out["prefix"] == "198.18.1.0/24"
    with pytest.raises(Refused) as exc:
        asyncio.run(od.probe("otto", "198.18.1.9", ["isp3"]))
    assert exc.value.status == 409
    assert od.asn_of("100.92.4.1") == 64520 and od.asn_of("198.18.1.1") == 64600
    assert od.asn_of("203.0.113.1") is None
    with pytest.raises(Refused) as exc:
        asyncio.run(od.probe("otto", "203.0.113.1"))
    assert exc.value.status == 403
    # A reload that allows a range and lowers the rate applies to the next request.
    current["config"] = config(
        enabled=True, on_demand={"allowed": ["203.0.113.0/24"], "per_user_per_minute": 1}
    )
    out = asyncio.run(od.probe("ada", "203.0.113.1", None, "icmp", 1))
    assert out["scope"] == "allowed" and len(out["results"]) == 3
    with pytest.raises(Refused) as exc:
        asyncio.run(od.probe("ada", "203.0.113.1"))
    assert exc.value.status == 429
