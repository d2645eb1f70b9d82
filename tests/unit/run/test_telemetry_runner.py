"""run/telemetry.py: the ledger saved off the event loop after rounds, failures counted
and made up for by the next save, the snapshot taken on the loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from routepilot.run.telemetry import TelemetryRunner
from routepilot.store import AsyncStore, MemoryStore, StoreError
from routepilot.store.base import FencedWrite
from routepilot.telemetry.config import LinkConfig, SnmpAgentConfig, TelemetryConfig
from routepilot.telemetry.fake import FakeAgent, FakeInterface
from routepilot.telemetry.poller import Telemetry


class FlakyStore(MemoryStore):
    """Refuses the first ``failures`` billing writes; records which thread wrote."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.threads: set[str] = set()

    def write_billing_rows(self, rows: Sequence[Mapping[str, Any]]) -> None:
        self.threads.add(threading.current_thread().name)
        if self.failures:
            self.failures -= 1
            raise StoreError("rp.db: disk I/O error")
        super().write_billing_rows(rows)


def _one_link(monkeypatch: pytest.MonkeyPatch) -> tuple[Telemetry, FakeAgent, list[float]]:
    """Telemetry polling one fake agent for isp1's link, 10 s billing samples, and the
    clock (``t[0]``) the test moves."""
    monkeypatch.setenv("RP_TEST_COMMUNITY", "x")
    cfg = TelemetryConfig(
        enabled=True,
        agents=[SnmpAgentConfig(name="r1", address="127.0.0.1", community_env="RP_TEST_COMMUNITY")],
        links=[LinkConfig(provider="isp1", agent="r1", if_index=1)],
        billing={"sample_s": 10},
    )
    agent = FakeAgent({1: FakeInterface("eth1")}, uptime_cs=1000)
    t = [1_777_593_600.0]
    tel = Telemetry(
        cfg,
        client_factory=lambda _a: agent,
        clock=lambda: t[0],
        monotonic=lambda: t[0] - 1_777_000_000.0,
    )
    return tel, agent, t


def test_rounds_save_the_ledger_on_the_store_thread_and_a_failed_save_is_made_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tel, agent, t = _one_link(monkeypatch)
    backend = FlakyStore(failures=1)
    store = AsyncStore(backend)
    runner = TelemetryRunner(tel, store)

    async def go() -> None:
        await store.start()
        try:
            for _ in range(6):
                await tel.poll_once()
                if runner._saving is not None:
                    await runner._saving  # the test waits; the loop never does
                t[0] += 10
                agent.advance(10, {1: (8e6, 16e6)})
        finally:
            await store.stop()

    asyncio.run(go())
    assert runner.latest.source == "snmp" and runner.latest.known("isp1")
    assert runner.latest.provider_out_bps["isp1"] == pytest.approx(16e6)
    assert runner.save_errors == 1 and runner.saves >= 1
    assert backend.threads and all(n.startswith("store") for n in backend.threads)
    # The failed save's rows were carried by the next one: the store has the ledger now.
    assert backend.billing_rows() == tel.ledger.to_rows()
    assert sum(r["kind"] == "sample" for r in backend.billing_rows()) >= 3


def test_decide_gets_snmp_link_rates_and_the_billing_period_and_shifts_are_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tel, agent, t = _one_link(monkeypatch)
    runner = TelemetryRunner(tel, AsyncStore(MemoryStore()))

    async def go() -> None:
        for _ in range(8):
            await tel.poll_once()
            runner.record_shift(t[0], {"isp1": -4e6})  # routepilot moved 4 Mb/s away
            t[0] += 10
            agent.advance(10, {1: (8e6, 16e6)})

    asyncio.run(go())
    runner.refresh()
    # SNMP's rate replaces flows' for the polled provider; others keep flows' rate.
    assert runner.link_rates({"isp1": 1e6, "isp2": 2e6}) == {"isp1": 16e6, "isp2": 2e6}
    billing = runner.billing_inputs()
    assert billing is not None and set(billing) == {"isp1"}
    assert billing["isp1"].slots == tel.ledger.slots() and billing["isp1"].percentile == 95.0
    assert len(billing["isp1"].samples) >= 4
    assert all(s == pytest.approx(16e6) for s in billing["isp1"].samples[1:])
    status = tel.ledger.status("isp1", 0)
    assert status.projected_without.billable_bps == pytest.approx(20e6)
    again = type(tel.ledger).from_rows(tel.config.billing, tel.ledger.to_rows())
    assert again.status("isp1", 0).projected_without.billable_bps == pytest.approx(20e6)


class FencedStore(MemoryStore):
    """Refuses writes as the HA fence does while ``standby`` is set."""

    standby = True

    def write_billing_rows(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if self.standby:
            raise FencedWrite("rp: this instance is a standby; only the active (a) writes")
        super().write_billing_rows(rows)


def test_a_standby_polls_without_saving_and_joins_the_actives_period_at_takeover(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A standby's saves are refused by the fence: not an error. At takeover its own ledger
    (polled since it started) is joined with the former active's in the store, and saved
    under the new epoch."""
    active, active_agent, t_active = _one_link(monkeypatch)
    standby, agent, t = _one_link(monkeypatch)
    backend = FencedStore()
    store = AsyncStore(backend)
    runner = TelemetryRunner(standby, store)

    async def go() -> int:
        # The former active billed the period's first minute; the standby starts later.
        for _ in range(7):
            await active.poll_once()
            t_active[0] += 10
            active_agent.advance(10, {1: (8e6, 16e6)})
        MemoryStore.write_billing_rows(backend, active.ledger.to_rows())
        t[0] = t_active[0] - 20
        agent.advance(60, {1: (8e6, 16e6)})
        await store.start()
        try:
            for _ in range(4):
                await standby.poll_once()
                if runner._saving is not None:
                    await runner._saving
                t[0] += 10
                agent.advance(10, {1: (8e6, 16e6)})
            backend.standby = False  # the lease is ours
            return await runner.take_over()
        finally:
            await store.stop()

    adopted = asyncio.run(go())
    assert runner.save_errors == 0 and runner.saves == 1
    starts = [s.start for s in standby.ledger.samples["isp1"]]
    assert adopted == len(active.ledger.samples["isp1"]) > 0
    assert starts == sorted(set(starts))
    assert starts[0] == active.ledger.samples["isp1"][0].start
    assert backend.billing_rows() == standby.ledger.to_rows()
