"""The open billing period: deltas spread over slots, closing, rollover, rows round trip."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from routepilot.telemetry.billing import Sample
from routepilot.telemetry.config import BillingConfig, BillingGroupConfig
from routepilot.telemetry.ledger import BillingLedger

UTC = ZoneInfo("UTC")
T0 = datetime(2026, 5, 1, tzinfo=UTC).timestamp()  # a period start (billing day 1)


def ledger(**kw: object) -> BillingLedger:
    return BillingLedger(BillingConfig(sample_s=10, **kw))  # type: ignore[arg-type]


def test_delta_spread_over_the_slots_it_overlaps() -> None:
    b = ledger()
    # 15 s at 1000 B/s out from T0+5: 5 s in slot T0, 10 s in slot T0+10.
    b.add("isp1", "r1/eth0", T0 + 5, T0 + 20, 0, 15_000)
    assert b.close(T0 + 19, grace_s=0) == [("isp1", Sample(T0, 0.0, 8000.0, 0.5))]
    # The first slot is only half covered: its rate is the covered average. The second
    # closes once the clock has passed its end.
    assert b.close(T0 + 20, grace_s=0) == [("isp1", Sample(T0 + 10, 0.0, 8000.0, 1.0))]


def test_links_of_a_provider_add_up_and_late_octets_are_counted() -> None:
    b = ledger()
    b.add("isp1", "r1/a", T0, T0 + 10, 1000, 2000)
    b.add("isp1", "r2/b", T0, T0 + 10, 3000, 4000)
    assert b.close(T0 + 12, grace_s=1) == [("isp1", Sample(T0, 3200.0, 4800.0, 1.0))]
    b.add("isp1", "r2/b", T0 + 5, T0 + 10, 500, 500)  # too late for a closed slot
    assert b.late_octets == 1000


def test_period_rolls_over_on_the_billing_day() -> None:
    b = ledger()
    end = datetime(2026, 6, 1, tzinfo=UTC).timestamp()
    b.add("isp1", "l", end - 10, end + 10, 2000, 2000)
    b.close(end + 100, grace_s=0)
    assert len(b.finished) == 1 and b.finished[0].end == end
    assert b.finished[0].samples["isp1"] == [Sample(end - 10, 800.0, 800.0, 1.0)]
    assert b.period_start == end and b.samples["isp1"] == [Sample(end, 800.0, 800.0, 1.0)]


def test_status_of_providers_and_groups() -> None:
    cfg = dict(groups=[BillingGroupConfig(name="transit", providers=["isp1", "isp2"])])
    b = ledger(**cfg)
    for k in range(20):
        b.add("isp1", "l1", T0 + 10 * k, T0 + 10 * (k + 1), 0, 1250 * (k + 1))  # 1..20 kb/s
        b.add("isp2", "l2", T0 + 10 * k, T0 + 10 * (k + 1), 0, 1250)  # 1 kb/s
    b.close(T0 + 1000, grace_s=0)
    s = b.status("isp1", commit_bps=15_000)
    assert s.samples == 20 and s.slots == 31 * 8640
    assert s.current.billable_bps == 19_000.0
    assert s.over_commit == 5 and s.burst_left == s.free_slots - 5
    g = b.status("transit", commit_bps=0)
    assert g.current.billable_bps == 20_000.0 and g.mode == "greater"
    d = s.as_dict()
    # In greater mode both directions show the billed per-sample greater.
    assert d["current"] == {"in_bps": 19_000.0, "out_bps": 19_000.0, "billable_bps": 19_000.0}
    assert (d["samples"], d["over_commit"], d["commit_bps"]) == (20, 5, 15_000)
    assert sorted(d) == sorted(
        ["name", "mode", "period_start", "period_end", "slots", "samples", "commit_bps",
         "current", "projected", "projected_without", "free_slots", "over_commit",
         "burst_left"]
    )  # fmt: skip


def test_rows_round_trip() -> None:
    b = ledger()
    b.add("isp1", "l", T0, T0 + 25, 2500, 5000)
    b.close(T0 + 20, grace_s=0)
    rows = b.to_rows()
    assert all(isinstance(v, str | int | float) for row in rows for v in row.values())
    again = BillingLedger.from_rows(b.config, rows)
    assert again.samples == b.samples and again.partial == b.partial
    assert (again.period_start, again.period_end) == (b.period_start, b.period_end)
    # The restored ledger carries on: the partial slot closes with its earlier octets.
    again.add("isp1", "l", T0 + 25, T0 + 30, 500, 1000)
    assert again.close(T0 + 40, grace_s=0) == [("isp1", Sample(T0 + 20, 800.0, 1600.0, 1.0))]
    with pytest.raises(ValueError, match="unknown kind"):
        BillingLedger.from_rows(b.config, [{"kind": "bogus"}])


def test_a_takeover_joins_the_former_actives_samples() -> None:
    """The new active polled from T0+20 on (it started late); the former active's ledger
    has the period's first slots, a better-covered slot and its shifts: the joined ledger
    bills every slot once, with the better measure."""
    old, new = ledger(), ledger()
    old.add("isp1", "l", T0, T0 + 30, 0, 30_000)  # 8 kb/s, slots T0, T0+10, T0+20
    old.close(T0 + 30, grace_s=0)
    old.add_shift("isp1", T0 + 5, 1000.0)
    new.add("isp1", "l", T0 + 25, T0 + 40, 0, 30_000)  # 16 kb/s; slot T0+20 half seen
    new.close(T0 + 40, grace_s=0)
    assert [s.start for s in new.samples["isp1"]] == [T0 + 20, T0 + 30]
    assert new.adopt(BillingLedger.from_rows(old.config, old.to_rows())) == 3
    assert new.samples["isp1"] == [
        Sample(T0, 0.0, 8000.0, 1.0),
        Sample(T0 + 10, 0.0, 8000.0, 1.0),
        Sample(T0 + 20, 0.0, 8000.0, 1.0),  # the former active's: it saw the whole slot
        Sample(T0 + 30, 0.0, 16000.0, 1.0),
    ]
    assert new.shifts == old.shifts
    assert new.adopt(old) == 0  # joined once: nothing more to take
    # Another period's ledger is not this one's.
    other = ledger()
    other.add("isp1", "l", T0 - 86400 * 40, T0 - 86400 * 40 + 10, 0, 10_000)
    other.close(T0 - 86400 * 40 + 10, grace_s=0)
    assert new.adopt(other) == 0 and len(new.samples["isp1"]) == 4


def test_projection_without_routepilot_takes_its_shift_out_and_survives_a_restart() -> None:
    b = ledger()
    for k in range(20):
        b.add("isp1", "l", T0 + 10 * k, T0 + 10 * (k + 1), 0, 12_500)  # 10 kb/s out
        # routepilot moved 4 kb/s away from isp1 in every slot (two rounds a slot).
        b.add_shift("isp1", T0 + 10 * k + 2, -3_000)
        b.add_shift("isp1", T0 + 10 * k + 7, -5_000)
    b.close(T0 + 1000, grace_s=0)
    s = b.status("isp1", commit_bps=0)
    assert s.projected.billable_bps == 10_000.0
    assert s.projected_without.billable_bps == 14_000.0
    assert b.billable("isp1") == [10_000.0] * 20
    again = BillingLedger.from_rows(b.config, b.to_rows())
    assert again.status("isp1", 0).projected_without.billable_bps == 14_000.0


@given(
    st.lists(
        st.tuples(st.floats(0.5, 40.0), st.integers(0, 10**9), st.integers(0, 10**9)),
        min_size=1,
        max_size=40,
    ),
    st.floats(0.0, 9.9),
)
def test_every_octet_lands_in_exactly_one_sample(deltas: list, offset: float) -> None:
    b = ledger()
    t = T0 + offset
    total = 0
    for seconds, in_o, out_o in deltas:
        b.add("isp1", "l", t, t + seconds, in_o, out_o)
        t += seconds
        total += in_o + out_o
    b.close(t + 100, grace_s=0)
    counted = sum(
        (s.in_bps + s.out_bps) / 8 * s.coverage * b.config.sample_s for s in b.samples["isp1"]
    )
    assert counted == pytest.approx(total, rel=1e-9, abs=1e-3)
    assert b.late_octets == 0 and not b.partial
