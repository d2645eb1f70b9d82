"""The daemon as wired by ``run/wiring.py`` polls a real net-snmp agent: /api/v1/status
shows the SNMP rates (matching the kernel's counters) and /metrics the poller's counters.

Runs under the lab lock (it creates a namespace and a veth pair):
``flock /tmp/rp-lab.lock python -m pytest tests/integration/telemetry/test_daemon.py -q``.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from routepilot.api.server import bind
from routepilot.config import Config, load_text
from routepilot.rib.speaker.fake import FakeSpeaker
from routepilot.run.wiring import Daemon, build_controller, build_stages
from routepilot.store import AsyncStore, SqliteStore, StoreConfig

from .conftest import AGENT_IP, COMMUNITY, Agent
from .test_snmpd import wait_for_traffic

RATE_BPS = 40e6
INTERVAL_S = 5

CONFIG = f"""
routers: [{{name: edge, address: 100.66.1.1, asn: 65000}}]
providers:
  - {{name: isp1, asn: 65001, next_hops: [100.64.1.2], capacity_mbps: 1000, commit_mbps: 30}}
  - {{name: isp2, asn: 65002, next_hops: [100.64.2.2], capacity_mbps: 1000}}
flows: {{enabled: false}}
probe: {{enabled: false}}
controller: {{cycle_s: 1, startup_grace_s: 0}}
telemetry:
  enabled: true
  interval_s: {INTERVAL_S}
  agents:
    - {{name: edge, address: {AGENT_IP}, port: PORT, community_env: RP_T_COMMUNITY,
       timeout_s: 0.5, retries: 0}}
  links: [{{provider: isp1, agent: edge, if_name: lo}}]
  billing: {{sample_s: 5}}
"""


class KernelClock:
    """The agent's kernel counters of ``lo``, read every 20 ms with the wall time, so a
    rate can be taken over exactly the poller's interval (interpolated between reads)."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.times: list[float] = []
        self.tx: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            tx = self.agent.counters()[1]
            self.times.append(time.time())
            self.tx.append(tx)
            self._stop.wait(0.02)

    def __enter__(self) -> KernelClock:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def tx_at(self, t: float) -> float:
        i = bisect.bisect_left(self.times, t)
        assert 0 < i < len(self.times), "time outside the recorded window"
        t0, t1 = self.times[i - 1], self.times[i]
        x0, x1 = self.tx[i - 1], self.tx[i]
        return x0 + (x1 - x0) * (t - t0) / (t1 - t0)


def get(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        return r.read().decode()


def test_daemon_polls_snmpd_and_status_shows_the_rates(
    agent: Agent, traffic: Callable[[float, float], None], tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("RP_T_COMMUNITY", COMMUNITY)
    text = CONFIG.replace("PORT", str(agent.port))
    cfg = load_text(text + f"store: {{path: {tmp_path / 'rp.db'}}}\n", Config)
    traffic(RATE_BPS, 60)
    wait_for_traffic(agent)
    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    seen: list[dict] = []

    async def run() -> str:
        store = AsyncStore(SqliteStore.open(cfg.store))
        stages = build_stages(cfg, store=store, speaker=FakeSpeaker(["edge"]))
        daemon = Daemon(cfg, build_controller(cfg, stages), sock)
        await daemon.start()
        try:
            # Three intervals with a rate after the first reading: each one's end ("updated")
            # is the next one's start.
            deadline = time.monotonic() + 6 * INTERVAL_S
            while len({s["links"][0]["updated"] for s in seen if s["links"][0]["updated"]}) < 3:
                assert time.monotonic() < deadline, seen[-1] if seen else "no status"
                body = json.loads(await asyncio.to_thread(get, port, "/api/v1/status"))
                tel = body["telemetry"]
                measured = bool(tel["links"]) and tel["links"][0]["in_bps"] is not None
                if measured and (
                    not seen or seen[-1]["links"][0]["updated"] != tel["links"][0]["updated"]
                ):
                    seen.append(tel)
                await asyncio.sleep(0.1)
            return await asyncio.to_thread(get, port, "/metrics")
        finally:
            await daemon.stop()

    with KernelClock(agent) as kernel:
        metrics = asyncio.run(run())

    assert all(s["link_source"] == "snmp" and s["warnings"] == [] for s in seen)
    assert seen[-1]["links"][0]["if_index"] == 1 and seen[-1]["links"][0]["counter_bits"] == 64
    for prev, cur in zip(seen, seen[1:], strict=False):
        start, end = prev["links"][0]["updated"], cur["links"][0]["updated"]
        assert end - start == pytest.approx(INTERVAL_S, abs=1)
        kernel_bps = (kernel.tx_at(end) - kernel.tx_at(start)) * 8 / (end - start)
        got = cur["providers"]["isp1"]["out_bps"]
        print(f"api {got / 1e6:.3f} Mb/s, kernel {kernel_bps / 1e6:.3f} Mb/s")
        assert kernel_bps > RATE_BPS * 0.5  # the traffic really flowed
        assert got == pytest.approx(kernel_bps, rel=0.01)
        assert cur["providers"]["isp1"]["known"] is True
    billing = seen[-1]["providers"]["isp1"]["billing"]
    assert billing["commit_bps"] == 30e6 and billing["mode"] == "greater"
    assert 'routepilot_telemetry_requests_total{agent="edge"}' in metrics
    assert "routepilot_telemetry_deltas_total" in metrics
    # The open billing period was written at stop.
    stored = SqliteStore.open(StoreConfig(path=str(tmp_path / "rp.db")))
    try:
        kinds = {r["kind"] for r in stored.billing_rows()}
    finally:
        stored.close()
    assert "period" in kinds
