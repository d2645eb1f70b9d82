"""The poller against the in-memory agent: rates, names, fallbacks and every bad answer."""

from __future__ import annotations

import asyncio
import json
import math

import pytest

from routepilot.telemetry import snmp
from routepilot.telemetry.config import LinkConfig, SnmpAgentConfig, TelemetryConfig
from routepilot.telemetry.fake import FakeAgent, FakeInterface
from routepilot.telemetry.ledger import BillingLedger
from routepilot.telemetry.poller import Telemetry


@pytest.fixture(autouse=True)
def community(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RP_TEST_COMMUNITY", "x")


SINK: list = []


class Clock:
    def __init__(self) -> None:
        self.t = 1_777_593_600.0  # 2026-05-01 00:00 UTC, a period start

    def wall(self) -> float:
        return self.t

    def mono(self) -> float:
        return self.t - 1_777_000_000.0


def setup(
    links: list[LinkConfig], agent: FakeAgent, *, interval: float = 10.0, sample_s: float = 60.0
) -> tuple[Telemetry, Clock]:
    cfg = TelemetryConfig(
        enabled=True,
        interval_s=interval,
        agents=[SnmpAgentConfig(name="r1", address="127.0.0.1", community_env="RP_TEST_COMMUNITY")],
        links=links,
        billing={"sample_s": sample_s},
    )
    clock = Clock()
    tel = Telemetry(
        cfg,
        commits_mbps={"isp1": 0.5},
        on_samples=SINK.extend,
        client_factory=lambda _a: agent,
        clock=clock.wall,
        monotonic=clock.mono,
    )
    return tel, clock


def run(tel: Telemetry, clock: Clock, agent: FakeAgent, rounds: int, rates: dict) -> None:
    async def go() -> None:
        for _ in range(rounds):
            await tel.poll_once()
            clock.t += 10
            agent.advance(10, rates)

    asyncio.run(go())


def two_ifaces() -> FakeAgent:
    return FakeAgent({1: FakeInterface("lo"), 7: FakeInterface("eth1")}, uptime_cs=123_456)


def test_rates_by_name_and_index_and_billing_samples() -> None:
    agent = two_ifaces()
    links = [
        LinkConfig(provider="isp1", agent="r1", if_name="eth1"),
        LinkConfig(provider="isp2", agent="r1", if_index=1),
    ]
    tel, clock = setup(links, agent)
    run(tel, clock, agent, 20, {7: (1e5, 4e5), 1: (2e5, 2e5)})
    snap = tel.snapshot()
    assert snap.source == "snmp" and snap.warnings == ()
    eth1 = next(lk for lk in snap.links if lk.provider == "isp1")
    assert (eth1.if_index, eth1.in_bps, eth1.out_bps, eth1.counter_bits) == (7, 1e5, 4e5, 64)
    assert snap.provider_out_bps == {"isp1": 4e5, "isp2": 2e5}
    bill = snap.billing["isp1"]
    # 190 s of polling in 60 s samples: two full samples are closed (the grace is 15 s+).
    assert bill.samples >= 2 and bill.current.billable_bps == 4e5
    assert bill.commit_bps == 5e5 and bill.over_commit == 0
    assert tel.metrics.deltas == 2 * 19
    # The store's sink saw every closed sample, as the ledger holds them.
    seen = [s for p, s in SINK if p == "isp1"]
    assert seen[-len(tel.ledger.samples["isp1"]) :] == tel.ledger.samples["isp1"]


def test_reboot_and_counter_reset_are_counted_never_a_spike() -> None:
    agent = two_ifaces()
    tel, clock = setup([LinkConfig(provider="isp1", agent="r1", if_index=7)], agent)
    agent.interfaces[7].out_octets = 10**15
    run(tel, clock, agent, 3, {7: (0, 8e6)})
    agent.restart()
    run(tel, clock, agent, 1, {7: (0, 8e6)})
    snap = tel.snapshot()
    assert snap.errors == {"agent_restart": 1}
    assert "agent_restart" in snap.links[0].status and "interval dropped" in snap.links[0].status
    run(tel, clock, agent, 2, {7: (0, 8e6)})
    agent.interfaces[7].out_octets -= 5 * 10**7  # a 64-bit counter going back
    run(tel, clock, agent, 2, {7: (0, 8e6)})
    snap = tel.snapshot()
    assert snap.errors == {"agent_restart": 1, "counter_backwards": 1}
    run(tel, clock, agent, 6, {7: (0, 8e6)})
    # Every rate ever recorded is the true one: no sample above 8 Mb/s.
    assert max(s.out_bps for s in tel.ledger.samples["isp1"]) <= 8e6 * 1.000001
    assert tel.snapshot().links[0].out_bps == 8e6


def test_falls_back_to_32bit_counters_and_handles_their_wrap() -> None:
    agent = two_ifaces()
    agent.has_hc = False
    agent.interfaces[7].out_octets = 2**32 - 3_000_000  # wraps within the first intervals
    tel, clock = setup([LinkConfig(provider="isp1", agent="r1", if_name="eth1")], agent)
    run(tel, clock, agent, 6, {7: (0, 8e6)})
    snap = tel.snapshot()
    assert tel.metrics.fallbacks_32bit == 1
    assert (snap.links[0].counter_bits, snap.links[0].out_bps, snap.links[0].status) == (
        32,
        8e6,
        "ok",
    )


def test_timeouts_and_auth_errors_are_status_not_exceptions() -> None:
    agent = two_ifaces()
    tel, clock = setup([LinkConfig(provider="isp1", agent="r1", if_index=7)], agent)
    run(tel, clock, agent, 2, {7: (0, 1e6)})
    agent.failure = snmp.SnmpError(snmp.TIMEOUT, "no answer")
    run(tel, clock, agent, 3, {7: (0, 1e6)})
    agent.failure = snmp.SnmpError(snmp.AUTH, "Wrong SNMP PDU digest")
    run(tel, clock, agent, 1, {7: (0, 1e6)})
    snap = tel.snapshot()
    assert snap.errors == {"timeout": 3, "auth": 1}
    assert any("agent r1: auth" in w for w in snap.warnings)
    assert snap.links[0].status.startswith("auth")
    # After the agent answers again the delta spans the gap: bytes are not lost.
    agent.failure = None
    run(tel, clock, agent, 2, {7: (0, 1e6)})
    snap = tel.snapshot()
    assert snap.links[0].out_bps == 1e6 and snap.links[0].status == "ok"


def test_stale_rate_is_unknown_and_unknown_names_are_stated() -> None:
    agent = two_ifaces()
    links = [
        LinkConfig(provider="isp1", agent="r1", if_index=7),
        LinkConfig(provider="isp2", agent="r1", if_name="eth9"),
    ]
    tel, clock = setup(links, agent)
    run(tel, clock, agent, 2, {7: (0, 1e6)})
    clock.t += 100  # no poll for 10 intervals
    snap = tel.snapshot()
    assert math.isnan(snap.links[0].out_bps) and snap.links[0].status == "stale: no recent answer"
    assert "no interface named 'eth9'" in snap.links[1].status
    assert not snap.known("isp1") and not snap.known("isp2")


def test_start_stop_polls_in_the_background() -> None:
    agent = two_ifaces()
    cfg = TelemetryConfig(
        enabled=True,
        interval_s=1,
        agents=[SnmpAgentConfig(name="r1", address="127.0.0.1", community_env="RP_TEST_COMMUNITY")],
        links=[LinkConfig(provider="isp1", agent="r1", if_index=7)],
    )
    tel = Telemetry(cfg, client_factory=lambda _a: agent)

    async def go() -> None:
        await tel.start()
        while agent.requests < 1:
            await asyncio.sleep(0.01)
        await tel.stop()

    asyncio.run(go())
    assert tel.metrics.rounds >= 1


def test_disabled_telemetry_says_so() -> None:
    tel = Telemetry(TelemetryConfig())
    assert tel.snapshot().source == "none"
    asyncio.run(tel.start())
    asyncio.run(tel.stop())


def test_names_are_resolved_again_after_a_restart_that_renumbers() -> None:
    agent = two_ifaces()
    tel, clock = setup([LinkConfig(provider="isp1", agent="r1", if_name="eth1")], agent)
    run(tel, clock, agent, 3, {7: (0, 8e6)})
    agent.restart()
    # eth1 comes back as ifIndex 9, and ifIndex 7 is now another interface.
    agent.interfaces[9] = agent.interfaces.pop(7)
    agent.interfaces[7] = FakeInterface("eth2")
    run(tel, clock, agent, 8, {9: (0, 2e6), 7: (0, 5e7)})
    link = tel.snapshot().links[0]
    assert (link.if_index, link.out_bps, link.status) == (9, 2e6, "ok")
    assert tel.metrics.discontinuities == {("r1", "agent_restart"): 1}
    # Every sample is eth1's: never the other interface's 50 Mb/s.
    assert max(s.out_bps for s in tel.ledger.samples["isp1"]) <= 8e6 * 1.000001


def test_an_interface_that_disappears_is_stated_and_found_again() -> None:
    agent = two_ifaces()
    tel, clock = setup([LinkConfig(provider="isp1", agent="r1", if_name="eth1")], agent)
    run(tel, clock, agent, 3, {7: (0, 8e6)})
    agent.interfaces[9] = agent.interfaces.pop(7)  # renumbered without a restart
    run(tel, clock, agent, 1, {9: (0, 8e6)})
    assert "no counters for ifIndex 7" in tel.snapshot().links[0].status
    run(tel, clock, agent, 3, {9: (0, 8e6)})
    link = tel.snapshot().links[0]
    assert (link.if_index, link.out_bps, link.counter_bits) == (9, 8e6, 64)
    assert tel.metrics.errors == {("r1", "no_such_object"): 1}
    assert tel.metrics.fallbacks_32bit == 0


def test_a_restart_in_mid_period_keeps_the_samples_and_the_percentile() -> None:
    agent = two_ifaces()
    links = [LinkConfig(provider="isp1", agent="r1", if_index=7)]
    tel, clock = setup(links, agent)
    for k in range(30):  # a minute at a rate that changes every 10 s
        run(tel, clock, agent, 1, {7: (1e5 * k, 1e6 * (k % 7))})
    before = tel.snapshot().billing["isp1"]
    rows = json.loads(json.dumps(tel.ledger.to_rows()))  # as a store would keep them
    again = Telemetry(
        tel.config,
        commits_mbps={"isp1": 0.5},
        ledger=BillingLedger.from_rows(tel.config.billing, rows),
        client_factory=lambda _a: agent,
        clock=clock.wall,
        monotonic=clock.mono,
    )
    after = again.snapshot().billing["isp1"]
    assert after == before and after.samples >= 4
    run(again, clock, agent, 12, {7: (0, 1e6)})
    assert again.snapshot().billing["isp1"].samples > before.samples


def test_a_poll_right_after_the_previous_keeps_the_older_reading() -> None:
    # Two rounds a few milliseconds apart read the same sysUpTime (hundredths): the second
    # is neither a clock mismatch nor a rate; the next round is rated from the first.
    agent = two_ifaces()
    tel, clock = setup([LinkConfig(provider="isp1", agent="r1", if_index=7)], agent)

    async def go() -> None:
        await tel.poll_once()
        clock.t += 0.004
        agent.advance(0.004, {7: (0, 8e6)})
        await tel.poll_once()
        clock.t += 10
        agent.advance(10, {7: (0, 8e6)})
        await tel.poll_once()

    asyncio.run(go())
    snap = tel.snapshot()
    assert snap.errors == {} and snap.warnings == ()
    assert tel.metrics.short_intervals == 1 and tel.metrics.deltas == 1
    assert snap.links[0].out_bps == pytest.approx(8e6, rel=1e-3)
