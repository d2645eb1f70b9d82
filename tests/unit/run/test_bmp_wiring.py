"""run/: a router's ``route_source`` decides whether add-path or BMP feeds the RIB."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests import bmpenc as b

from routepilot.config import Config, load_text
from routepilot.rib.speaker.base import Nlri, PathAttributes
from routepilot.rib.speaker.fake import FakeSpeaker
from routepilot.run.wiring import Daemon, build_controller, build_stages
from routepilot.store import AsyncStore, MemoryStore

CONFIG = """
routers:
  - {name: edge, address: 100.66.1.1, asn: 65000, route_source: bmp, bmp_address: 127.0.0.1}
  - {name: edge2, address: 100.66.1.2, asn: 65000, route_source: both, bmp_address: 127.0.0.2}
  - {name: edge3, address: 100.66.1.3, asn: 65000}
providers:
  - {name: isp1, asn: 64501, next_hops: [100.64.1.1], capacity_mbps: 100,
     probe: {source: 100.64.9.1}}
  - {name: isp2, asn: 64502, next_hops: [100.64.2.1], capacity_mbps: 100,
     probe: {source: 100.64.9.2}}
flows: {enabled: false}
probe: {enabled: false}
rib: {bmp: {listen: 127.0.0.1, port: 0}}
controller: {cycle_s: 0.05, startup_grace_s: 0}
"""

ISP1 = b.peer_header("100.64.1.1", 64501)
ISP2 = b.peer_header("100.64.2.1", 64502)


def _bmp_table() -> bytes:
    return b"".join(
        [
            b.initiation(),
            b.peer_up(ISP1),
            b.peer_up(ISP2),
            b.route_monitoring(
                ISP1,
                b.update(attrs=b.ipv4_attrs("100.64.1.1", [64501]), nlri=b.prefix("198.18.1.0/24")),
            ),
            b.route_monitoring(
                ISP2,
                b.update(
                    attrs=b.ipv4_attrs("100.64.2.1", [64502, 7]), nlri=b.prefix("198.18.1.0/24")
                ),
            ),
        ]
    )


async def _until(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def test_route_source_picks_what_feeds_the_rib(tmp_path: Path) -> None:
    cfg = load_text(CONFIG + f"store: {{path: {tmp_path / 'rp.db'}}}\n", Config)
    assert [r.route_source for r in cfg.routers] == ["bmp", "both", "addpath"]

    async def body() -> None:
        speaker = FakeSpeaker(["edge", "edge2", "edge3"])
        stages = build_stages(cfg, store=AsyncStore(MemoryStore()), speaker=speaker)
        assert stages.bmp is not None
        daemon = Daemon(cfg, build_controller(cfg, stages))
        await daemon.start()
        rib, feed = stages.rib, stages.bmp
        writers = []
        try:
            for source in ("127.0.0.1", "127.0.0.2"):
                _, writer = await asyncio.open_connection(
                    "127.0.0.1", feed.station.port, local_addr=(source, 0)
                )
                writer.write(_bmp_table())
                writers.append(writer)
            # Add-path paths: edge's are not used (it is a BMP router), edge2's and edge3's are.
            isp1 = PathAttributes("100.64.1.1", (64501,))
            for router in ("edge", "edge2", "edge3"):
                speaker.session(router, True)
                speaker.learn(router, isp1, ["198.18.1.0/24", "198.18.9.0/24"])
            speaker.learn(
                "edge2", PathAttributes("100.64.2.1", (64502, 7)), [Nlri("198.18.1.0/24", 2)]
            )

            await _until(lambda: rib.router_summary()["edge"]["paths"] == 2)
            await _until(lambda: rib.router_summary()["edge2"]["paths"] == 3)
            summary = rib.router_summary()
            assert summary["edge"]["providers"] == {"isp1": 1, "isp2": 1}
            assert summary["edge3"]["providers"] == {"isp1": 2}
            assert rib.bgp_choice("198.18.1.0/24") == "isp1"
            shown = {r["name"]: r for r in daemon.view.routers()}
            assert [shown[r]["route_source"] for r in ("edge", "edge2", "edge3")] == [
                "bmp",
                "both",
                "addpath",
            ]
            assert shown["edge"]["paths"] == 2 and shown["edge"]["session"] == "established"

            # edge2: add-path is used, BMP only compared (add-path has one more prefix).
            await _until(lambda: feed.shadow.router_summary()["edge2"]["paths"] == 2)
            assert feed.compare() == {
                "edge2": {"addpath": {"isp1": 2, "isp2": 1}, "bmp": {"isp1": 1, "isp2": 1},
                          "agree": False}
            }  # fmt: skip
            # The API shows the comparison for edge2, and nothing for the other sources.
            shown = {r["name"]: r for r in daemon.view.routers()}
            assert (shown["edge2"]["bmp_providers"], shown["edge2"]["bmp_agrees"]) == (
                {"isp1": 1, "isp2": 1}, False)  # fmt: skip
            assert shown["edge"]["bmp_agrees"] is None and shown["edge3"]["bmp_providers"] is None

            # The BGP speaker restarts: add-path paths go, edge's BMP paths stay.
            speaker.crash()
            await _until(lambda: rib.router_summary()["edge3"]["paths"] == 0)
            await _until(lambda: rib.router_summary()["edge2"]["paths"] == 0)
            assert rib.router_summary()["edge"]["paths"] == 2
            assert rib.session_up["edge"]
        finally:
            for writer in writers:
                writer.close()
            await daemon.stop()

    asyncio.run(body())


def test_no_bmp_station_by_default(tmp_path: Path) -> None:
    text = CONFIG.replace("route_source: bmp, ", "").replace("route_source: both, ", "")
    cfg = load_text(text + f"store: {{path: {tmp_path / 'rp.db'}}}\n", Config)
    stages = build_stages(cfg, store=AsyncStore(MemoryStore()), speaker=FakeSpeaker(["edge"]))
    assert stages.bmp is None
