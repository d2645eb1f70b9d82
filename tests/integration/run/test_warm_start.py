"""Warm start through the real path: IPFIX over UDP on loopback into the daemon's collector,
its minute of traffic into the SQLite store, and after a restart that minute on the API
until the exporter's template (lost with the restart) comes back.

The daemon is the one run/wiring.py builds, with a fake BGP speaker and a clock the test
moves (a minute closes when the test says, not after a real minute).
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from tests.flowenc import IPV4_FIELDS, flow_set, ipfix_message, record_dtype, template_record

from routepilot.api.server import bind
from routepilot.config import Config, load_text
from routepilot.rib.speaker.base import Nlri, PathAttributes
from routepilot.rib.speaker.fake import FakeSpeaker
from routepilot.run.controller import Controller
from routepilot.run.wiring import Daemon, build_controller, build_stages
from routepilot.store import AsyncStore, Query, SqliteStore

CONFIG = """
routers: [{name: edge, address: 100.66.1.1, asn: 65000}]
providers:
  - {name: isp1, asn: 65001, next_hops: [100.64.0.1], capacity_mbps: 100}
  - {name: isp2, asn: 65002, next_hops: [100.64.0.2], capacity_mbps: 100}
flows: {listen_address: 127.0.0.1, netflow_port: 0, ipfix_port: 0, sflow_port: 0,
        flush_interval_s: 0.05}
probe: {enabled: false}
api: {write_token: "s3cret-write-token"}
controller: {cycle_s: 0.05, startup_grace_s: 0}
"""
BEFORE = "198.18.0.0/24"
"""Where the traffic went before the restart: 6 MB in its minute, by isp1."""
AFTER = "198.18.1.0/24"
"""Where it goes once the flows are back, by isp2."""
BEFORE_OCTETS = 6_000_000
WARM = "flows not back yet: using the last stored minute of traffic"
TID = 256


class Clock:
    """Wall time until the test moves it on."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def records(dst: int, next_hop: int, octets: int, n: int = 10) -> np.ndarray:
    """``n`` records to ``dst`` by the BGP next hop ``next_hop``, ``octets`` in all."""
    rec = np.zeros(n, dtype=record_dtype(IPV4_FIELDS))
    rec["ie8"] = 0x64400A01  # 100.64.10.1
    rec["ie12"] = dst
    rec["ie18"] = next_hop
    rec["ie1"] = octets // n
    rec["ie2"] = octets // n // 1000
    rec["ie4"] = 6
    return rec


def datagram(rec: np.ndarray, seq: int, template: bool) -> bytes:
    """One IPFIX message (RFC 7011 section 3) with the records, after their template when
    ``template``: an exporter resends it only every so often."""
    sets = [flow_set(TID, rec.tobytes(), pad_to=1)]
    if template:
        sets.insert(0, flow_set(2, template_record(TID, IPV4_FIELDS)))
    return ipfix_message(1, sets, seq=seq)


def get(port: int, path: str) -> object:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        headers={"Authorization": "Bearer s3cret-write-token"},
    )
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())


async def until(check, what: str, timeout: float = 15.0):  # type: ignore[no-untyped-def]
    """Polls ``check`` (run in a thread: it may call the API) until it returns a truthy
    value, which it returns."""
    deadline = time.monotonic() + timeout
    while True:
        got = await asyncio.to_thread(check)
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def start(cfg: Config, clock: Clock) -> tuple[Daemon, Controller, int]:
    """The daemon on ``cfg``'s store, its routers' tables in, its API on a free port."""
    speaker = FakeSpeaker(["edge"])
    stages = build_stages(
        cfg, store=AsyncStore(SqliteStore.open(cfg.store)), speaker=speaker, clock=clock
    )
    c = build_controller(cfg, stages, clock=clock)
    sock = bind("127.0.0.1", 0)
    daemon = Daemon(cfg, c, sock)
    await daemon.start()
    speaker.session("edge", True)
    for i, nh in enumerate(("100.64.0.1", "100.64.0.2"), start=1):
        speaker.learn(
            "edge", PathAttributes(nh, as_path=(65000 + i,), local_pref=100),
            [Nlri(BEFORE, i), Nlri(AFTER, i)],
        )  # fmt: skip
    speaker.end_of_rib("edge", "ipv4 unicast")
    speaker.end_of_rib("edge", "ipv6 unicast")
    await until(lambda: c.rib.synced("edge"), "the routers' tables")
    return daemon, c, sock.getsockname()[1]


def prefixes(port: int) -> dict[str, float]:
    return {p["prefix"]: p["traffic_bps"] for p in get(port, "/api/v1/prefixes")}  # type: ignore[union-attr]


def test_a_restarted_daemon_shows_the_stored_minute_until_the_flows_return(
    tmp_path: Path,
) -> None:
    cfg = load_text(CONFIG + f"store: {{path: {tmp_path / 'rp.db'}}}\n", Config)
    minute = (time.time() // 60) * 60
    clock = Clock(minute + 5)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rows: list = []

    async def before_the_restart() -> None:
        daemon, c, _ = await start(cfg, clock)
        try:
            assert c.collector is not None
            tx.sendto(
                datagram(records(0xC612000A, 0x64400001, BEFORE_OCTETS), 0, template=True),
                ("127.0.0.1", c.collector.ports[1]),
            )
            await until(lambda: c.pipeline.bytes_total >= BEFORE_OCTETS, "the records")
            clock.now = minute + 65  # the minute ends: flows/ writes it to the store

            async def stored() -> list:
                return await c.store.traffic(Query(since=minute - 60))

            deadline = time.monotonic() + 15
            while not rows:
                assert time.monotonic() < deadline, "no traffic stored"
                await asyncio.sleep(0.05)
                rows.extend(await stored())
        finally:
            await daemon.stop()

    async def after_the_restart() -> None:
        clock.now = minute + 100
        daemon, c, port = await start(cfg, clock)
        try:
            assert c.collector is not None
            at = ("127.0.0.1", c.collector.ports[1])
            # The exporter's data arrive before its template, which the restart forgot:
            # nothing decodes yet, and the stored minute stands in.
            tx.sendto(datagram(records(0xC612010A, 0x64400002, 3_000_000), 1, template=False), at)
            got = await until(lambda: prefixes(port), "the stored minute on the API")
            # The stored row's rate: the minute began when the first run started, 5 s in.
            (row,) = rows
            assert (row.prefix, row.provider, row.bytes) == (BEFORE, "isp1", BEFORE_OCTETS)
            assert got == {BEFORE: pytest.approx(BEFORE_OCTETS * 8 / row.window_s)}
            status = await asyncio.to_thread(get, port, "/api/v1/status")
            assert WARM in status["degraded"]  # type: ignore[index]

            # The template comes back, with more records: the first window holds some flows
            # and not others, so the stored minute still stands in; the live flows replace
            # it once every flow has been reported (an active timeout and a window later).
            tx.sendto(datagram(records(0xC612010A, 0x64400002, 3_000_000), 2, template=True), at)
            await until(lambda: c.pipeline.bytes_total > 0, "the records decoded")
            clock.now += cfg.flows.window_s + 1
            rounds = c.cycle_stats.count
            await until(lambda: c.cycle_stats.count > rounds + 1, "two more rounds")
            assert await asyncio.to_thread(prefixes, port) == got
            clock.now += cfg.flows.active_timeout_s
            live = await until(lambda: AFTER in prefixes(port) and prefixes(port), "live flows")
            assert BEFORE not in live and live[AFTER] > 0
            status = await asyncio.to_thread(get, port, "/api/v1/status")
            assert WARM not in status["degraded"]  # type: ignore[index]
        finally:
            await daemon.stop()

    try:
        asyncio.run(before_the_restart())
        asyncio.run(after_the_restart())
    finally:
        tx.close()
