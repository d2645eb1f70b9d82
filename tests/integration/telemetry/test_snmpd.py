"""The poller against a real net-snmp agent: rates match the kernel, bad answers are status.

Runs under the lab lock (it creates a namespace and a veth pair):
``flock /tmp/rp-lab.lock python -m pytest tests/integration/telemetry -q``.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from routepilot.telemetry.config import LinkConfig, SnmpAgentConfig, TelemetryConfig
from routepilot.telemetry.poller import Telemetry

from .conftest import AGENT_IP, COMMUNITY, V3_AUTH, V3_PRIV, V3_USER, Agent, start_snmpd, stop

RATE_BPS = 40e6


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RP_T_COMMUNITY", COMMUNITY)
    monkeypatch.setenv("RP_T_BAD_COMMUNITY", "not-the-community")
    monkeypatch.setenv("RP_T_AUTH", V3_AUTH)
    monkeypatch.setenv("RP_T_PRIV", V3_PRIV)
    monkeypatch.setenv("RP_T_BAD_AUTH", "wrong-auth-pass")


def v2c(name: str, port: int, env: str = "RP_T_COMMUNITY") -> SnmpAgentConfig:
    return SnmpAgentConfig(
        name=name, address=AGENT_IP, port=port, community_env=env, timeout_s=0.5, retries=0
    )


def v3(name: str, port: int, user: str = V3_USER, auth: str = "RP_T_AUTH") -> SnmpAgentConfig:
    return SnmpAgentConfig(
        name=name,
        address=AGENT_IP,
        port=port,
        version="3",
        user=user,
        auth_key_env=auth,
        priv_key_env="RP_T_PRIV",
        timeout_s=0.5,
        retries=0,
    )


async def measured_rounds(tel: Telemetry, agent: Agent, rounds: int, interval: float) -> list:
    """Polls ``rounds`` times, ``interval`` apart; per round the kernel counters (midpoint
    of a read just before and just after the poll), its time and the snapshot."""
    out = []
    next_at = time.monotonic()
    for _ in range(rounds):
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        t0, (rx0, tx0) = time.monotonic(), agent.counters()
        await tel.poll_once()
        t1, (rx1, tx1) = time.monotonic(), agent.counters()
        out.append(((t0 + t1) / 2, (rx0 + rx1) / 2, (tx0 + tx1) / 2, tel.snapshot(), t1 - t0))
        next_at += interval
    return out


def wait_for_traffic(agent: Agent) -> None:
    deadline = time.monotonic() + 10
    first = agent.counters()[1]
    while agent.counters()[1] - first < RATE_BPS / 8 / 10:  # 100 ms worth
        assert time.monotonic() < deadline, "traffic generator did not start"
        time.sleep(0.05)


def test_rates_match_the_kernel_over_a_minute_v2c_and_v3(agent: Agent, traffic, secrets) -> None:
    cfg = TelemetryConfig(
        enabled=True,
        interval_s=10,
        agents=[v2c("r-v2c", agent.port), v3("r-v3", agent.port)],
        links=[
            LinkConfig(provider="isp1", agent="r-v2c", if_name="lo"),
            LinkConfig(provider="isp2", agent="r-v3", if_name="lo"),
        ],
        billing={"sample_s": 10},
    )
    traffic(RATE_BPS, 90)
    wait_for_traffic(agent)
    tel = Telemetry(cfg)

    async def go() -> list:
        try:
            await tel.poll_once()  # resolves ifName, v3 engine discovery and key localization
            return await measured_rounds(tel, agent, 7, 10.0)
        finally:
            await tel.stop()

    rounds = asyncio.run(go())
    worst = 0.0
    for (t0, rx0, tx0, _s, w0), (t1, rx1, tx1, snap, w1) in zip(rounds, rounds[1:], strict=False):
        ref_in, ref_out = (rx1 - rx0) * 8 / (t1 - t0), (tx1 - tx0) * 8 / (t1 - t0)
        worst = max([worst] + [abs(lk.out_bps / ref_out - 1) for lk in snap.links])
        assert ref_out > RATE_BPS * 0.5  # the traffic really flowed
        assert snap.warnings == ()
        # No interval is dropped, v2c or v3, loaded machine or not: the poll right after
        # the resolving round reads the same sysUpTime tick and is skipped as too short
        # (counted apart), never a clock mismatch.
        assert snap.errors == {}
        # The kernel reference itself is only known to within half of each poll's round
        # trip (the agent read its counters somewhere inside it): that uncertainty of
        # the reference is added to the poller's 1 %, never the other way round.
        rel = 0.01 + (w0 + w1) / 2 / (t1 - t0)
        for link in snap.links:
            assert link.counter_bits == 64 and link.if_index == 1
            assert link.out_bps == pytest.approx(ref_out, rel=rel), link
            assert link.in_bps == pytest.approx(ref_in, rel=rel), link
    print(f"worst 10-s rate error against the kernel: {worst:.4%} at ~{ref_out / 1e6:.1f} Mb/s")
    # Over the whole minute: the poller's intervals against the kernel's minute.
    (ta, _, txa, _, _), (tb, _, txb, _, _) = rounds[0], rounds[-1]
    minute = [r[3].provider_out_bps for r in rounds[1:]]
    assert tb - ta == pytest.approx(60, abs=1)
    for provider in ("isp1", "isp2"):
        mean = sum(m[provider] for m in minute) / len(minute)
        kernel = (txb - txa) * 8 / (tb - ta)
        print(f"{provider}: minute {mean / 1e6:.3f} Mb/s, kernel {kernel / 1e6:.3f} Mb/s")
        assert mean == pytest.approx(kernel, rel=0.01)
    # Billing samples (10 s here) were closed from the same counters, over v2c and v3 alike.
    s1, s2 = tel.ledger.samples["isp1"], tel.ledger.samples["isp2"]
    assert len(s1) >= 4 and [s.start for s in s1] == [s.start for s in s2]
    for a, b in zip(s1, s2, strict=True):
        if a.coverage > 0.99 and b.coverage > 0.99:
            assert a.out_bps == pytest.approx(b.out_bps, rel=0.01)


def test_bad_credentials_are_counted_and_stated_never_raised(agent: Agent, secrets) -> None:
    cfg = TelemetryConfig(
        enabled=True,
        agents=[
            v2c("good", agent.port),
            v2c("bad-community", agent.port, env="RP_T_BAD_COMMUNITY"),
            v3("bad-auth", agent.port, auth="RP_T_BAD_AUTH"),
            v3("bad-user", agent.port, user="nobody"),
        ],
        links=[
            LinkConfig(provider="isp1", agent="good", if_index=1),
            LinkConfig(provider="isp2", agent="bad-community", if_index=1),
            LinkConfig(provider="isp3", agent="bad-auth", if_index=1),
            LinkConfig(provider="isp4", agent="bad-user", if_index=1),
        ],
    )
    tel = Telemetry(cfg)

    async def go() -> None:
        # Three rounds on the poller's shortest schedule (1 s): a reading closer to the
        # previous one than that is not rated.
        next_at = time.monotonic()
        try:
            for _ in range(3):
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
                await tel.poll_once()
                next_at += 1.0
        finally:
            await tel.stop()

    asyncio.run(go())
    snap = tel.snapshot()
    status = {lk.provider: lk.status for lk in snap.links}
    assert status["isp1"] == "ok"
    assert status["isp2"].startswith("timeout")  # a v2c agent ignores a wrong community
    assert status["isp3"].startswith("auth") and status["isp4"].startswith("auth")
    assert dict(tel.metrics.errors) == {
        ("bad-community", "timeout"): 3,
        ("bad-auth", "auth"): 3,
        ("bad-user", "auth"): 3,
    }
    assert snap.errors == {"timeout": 3, "auth": 6}
    assert any(w.startswith("agent bad-auth: auth") for w in snap.warnings)


def test_agent_without_64bit_counters_falls_back_to_32bit(agent: Agent, traffic, secrets) -> None:
    # The same agent without ifXTable: no ifHC*Octets (nor ifName), as an old router.
    proc, _env = start_snmpd(
        agent.netns, agent.workdir / "no-ifx", agent.port + 1, "-I", "-ifXTable"
    )
    try:
        cfg = TelemetryConfig(
            enabled=True,
            interval_s=5,
            agents=[v2c("old", agent.port + 1)],
            links=[LinkConfig(provider="isp1", agent="old", if_index=1)],
        )
        traffic(RATE_BPS, 30)
        wait_for_traffic(agent)
        tel = Telemetry(cfg)

        async def go() -> list:
            try:
                await tel.poll_once()  # finds no 64-bit counters
                return await measured_rounds(tel, agent, 3, 5.0)
            finally:
                await tel.stop()

        rounds = asyncio.run(go())
    finally:
        stop(proc)
    assert tel.metrics.fallbacks_32bit == 1
    (t0, _, tx0, _, _), (t1, _, tx1, snap, _) = rounds[-2], rounds[-1]
    link = snap.links[0]
    assert (link.counter_bits, link.status) == (32, "ok")
    assert link.out_bps == pytest.approx((tx1 - tx0) * 8 / (t1 - t0), rel=0.01)
