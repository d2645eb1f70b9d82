"""What every Store does, checked on the SQLite store and the in-memory fake alike.

tests/integration/store/test_contract_postgresql.py runs every test here again on a
PostgreSQL server: a test added here runs on all three backends.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from routepilot.decide import Active, DecisionState, Reason
from routepilot.flows.sink import ProviderRow, SamplerRate, TrafficRow
from routepilot.probe.rollup import ProbeRollup
from routepilot.store import (
    ControllerState,
    JournalEntry,
    MemoryStore,
    Query,
    SqliteStore,
    StoreConfig,
    UtilizationSample,
)

DAY = 86400.0
T0 = 1_700_000_000.0


@pytest.fixture(params=["sqlite", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator:
    if request.param == "sqlite":
        s = SqliteStore.open(StoreConfig(path=str(tmp_path / "rp.db")))
    else:
        s = MemoryStore()
    yield s
    s.close()


def entry(t: float, prefix: str, src: str, dst: str, reason: str, **kw) -> JournalEntry:
    return JournalEntry(
        time=t, prefix=prefix, from_provider=src, to_provider=dst, default_provider=src,
        reason=reason, traffic_bps=1e6, old_rtt_ms=80.0, new_rtt_ms=20.0, **kw,
    )  # fmt: skip


def probe(minute: int, prefix: str, provider: str, rtt: float = 20.0) -> ProbeRollup:
    return ProbeRollup(
        minute, prefix, provider, "icmp", 60, 59, rtt, rtt, rtt, rtt, math.nan, 1 / 60
    )


def test_traffic_roundtrip_and_filters(store) -> None:
    rows = [
        TrafficRow(T0 + i * 60, 60.0, f"198.18.{i % 3}.0/24", "a" if i % 2 else "b", 1e6, 1e3)
        for i in range(10)
    ]
    rows.append(TrafficRow(T0, 60.0, "198.18.9.0/24", None, 5.0, 1.0))
    store.write_traffic(rows)
    assert len(store.traffic(Query())) == 11
    got = store.traffic(Query(prefix="198.18.0.0/24"))
    assert [r.time for r in got] == [T0, T0 + 180, T0 + 360, T0 + 540]
    got = store.traffic(Query(since=T0 + 60, until=T0 + 300, provider="a"))
    assert [r.time for r in got] == [T0 + 60, T0 + 180]
    assert store.traffic(Query(limit=2))[1].time == T0
    assert store.traffic(Query(prefix="198.18.9.0/24"))[0].provider is None


def test_provider_traffic_by_window_for_billing(store) -> None:
    rows = [ProviderRow(T0 + i * 60, 60.0, "a", 1.0, 1.0, 100.0 + i) for i in range(10)]
    rows += [ProviderRow(T0 + i * 300, 300.0, "a", 1.0, 1.0, 200.0 + i) for i in range(3)]
    store.write_provider_traffic(rows)
    five = store.provider_traffic(Query(provider="a", window_s=300))
    assert [r.bps for r in five] == [200.0, 201.0, 202.0]


def test_probe_rollups_keep_nan(store) -> None:
    store.write_probe_rollups([probe(int(T0), "198.18.0.0/24", "a"), probe(int(T0) + 60, "x", "b")])
    (r,) = store.probe_rollups(Query(provider="a"))
    assert r.rtt_median_ms == 20.0 and math.isnan(r.jitter_ms) and r.sent == 60


def test_utilization(store) -> None:
    store.write_utilization(
        [UtilizationSample(T0 + i, p, 1e6 * i, 1e9, 5e8) for i in range(5) for p in "ab"]
    )
    got = store.utilization(Query(provider="b", since=T0 + 3))
    assert [(r.time, r.rate_bps) for r in got] == [(T0 + 3, 3e6), (T0 + 4, 4e6)]


def test_journal_is_newest_first_and_filterable(store) -> None:
    ids = store.append_decisions(
        [
            entry(T0, "p1", "a", "b", "latency"),
            entry(T0 + 10, "p2", "a", "c", "outage"),
            entry(T0 + 20, "p1", "b", "a", "revert", dry_run=True),
        ]
    )
    assert len(set(ids)) == 3
    assert [e.time for e in store.decisions(Query())] == [T0 + 20, T0 + 10, T0]
    assert [e.reason for e in store.decisions(Query(prefix="p1"))] == ["revert", "latency"]
    assert [e.prefix for e in store.decisions(Query(provider="c"))] == ["p2"]
    assert len(store.decisions(Query(provider="b"))) == 2  # from or to
    assert [e.reason for e in store.decisions(Query(reason="outage"))] == ["outage"]
    assert store.decisions(Query(since=T0 + 5, until=T0 + 15))[0].prefix == "p2"
    assert store.decisions(Query(limit=1))[0].dry_run is True
    fields = store.decisions(Query(limit=1))[0].as_dict()
    for name in ("time", "prefix", "from_provider", "to_provider", "default_provider",
                 "reason", "traffic_bps", "old_rtt_ms", "new_rtt_ms", "old_loss", "new_loss",
                 "threshold_ms", "dry_run"):  # fmt: skip
        assert name in fields


def test_outcome_after_the_move(store) -> None:
    (i,) = store.append_decisions([entry(T0, "p1", "a", "b", "latency")])
    store.record_outcome(i, T0 + 60, 21.5, 0.0)
    (e,) = store.decisions(Query())
    assert (e.after_time, e.after_rtt_ms, e.after_loss) == (T0 + 60, 21.5, 0.0)
    with pytest.raises(KeyError):
        store.record_outcome(9999, T0, 1.0, 0.0)


def test_state_roundtrip(store) -> None:
    state = ControllerState(
        pins={"198.18.0.0/24": "b"},
        exclusions=frozenset({"198.18.1.0/24"}),
        paused=True,
        dry_run=False,
        injections={"198.18.2.0/24": "c"},
        decision=DecisionState(
            active={"198.18.2.0/24": Active("c", Reason.OUTAGE, T0, 2)},
            last_move={"198.18.2.0/24": T0},
            pending={"198.18.3.0/24": 2},
            recent_changes=((T0, 3),),
            recent_outage_changes=((T0 - 5, 1),),
            avoid={"198.18.2.0/24": {"a": T0}},
        ),
        saved_at=T0 + 1,
    )
    store.save_state(state)
    assert store.load_state() == state
    store.save_state(ControllerState())
    assert store.load_state() == ControllerState()


def test_sampler_rates_keep_the_last_per_sampler(store) -> None:
    assert store.sampler_rates() == []
    store.write_sampler_rates(
        [SamplerRate("192.0.2.9", 9, 1, 2, 100, T0), SamplerRate("192.0.2.10", 10, 1, 0, 64, T0)]
    )
    store.write_sampler_rates([SamplerRate("192.0.2.9", 9, 1, 2, 2182, T0 + 60)])
    assert store.sampler_rates() == [
        SamplerRate("192.0.2.10", 10, 1, 0, 64, T0),
        SamplerRate("192.0.2.9", 9, 1, 2, 2182, T0 + 60),
    ]


def test_prune_keeps_billing_samples_longer(store) -> None:
    old, now = T0, T0 + 40 * DAY
    store.write_traffic([TrafficRow(old, 60.0, "p", "a", 1.0, 1.0)])
    store.write_provider_traffic(
        [ProviderRow(old, 60.0, "a", 1.0, 1.0, 1.0), ProviderRow(old, 300.0, "a", 1.0, 1.0, 1.0)]
    )
    store.write_probe_rollups([probe(int(old), "p", "a")])
    store.write_utilization([UtilizationSample(old, "a", 1.0, 1.0)])
    store.append_decisions([entry(old, "p", "a", "b", "loss"), entry(now, "p", "b", "a", "revert")])
    counts = store.prune(now)
    assert counts == {
        "traffic": 1, "provider_traffic": 1, "probes": 1, "utilization": 1, "decisions": 1,
    }  # fmt: skip
    assert [r.window_s for r in store.provider_traffic(Query())] == [300.0]
    assert len(store.decisions(Query())) == 1


def test_probe_series_sums_buckets(store) -> None:
    m0 = int(T0 // 300 * 300)
    rows = []
    for i in range(10):  # ten minutes, two prefixes, provider a; b lost everything once
        rows.append(ProbeRollup(m0 + 60 * i, "p1", "a", "icmp", 10, 10, 9, 10.0, 12.0, 15, 1, 0))
        rows.append(ProbeRollup(m0 + 60 * i, "p2", "a", "icmp", 10, 5, 29, 30.0, 40.0, 45, 1, 0.5))
    rows.append(ProbeRollup(m0, "p1", "b", "icmp", 10, 0, *(math.nan,) * 5, 1.0))
    store.write_probe_rollups(rows)
    points = store.probe_series(Query(), 300)
    assert [(p.time, p.provider) for p in points] == [(m0, "a"), (m0, "b"), (m0 + 300, "a")]
    a0 = points[0]
    assert a0.prefix is None and a0.sent == 100
    assert a0.rtt_ms == pytest.approx((10 * 50 + 30 * 25) / 75)
    assert a0.loss == pytest.approx(0.25) and a0.rtt_p90_ms == 40.0
    b0 = points[1]
    assert math.isnan(b0.rtt_ms) and b0.loss == 1.0
    (p,) = store.probe_series(Query(prefix="p2", provider="a", since=m0 + 300), 600)
    assert p.prefix == "p2" and p.rtt_ms == 30.0 and p.sent == 50


def test_decision_counts(store) -> None:
    store.append_decisions(
        [
            entry(T0, "p1", "a", "b", "latency"),
            entry(T0 + 1, "p2", "a", "b", "latency"),
            entry(T0 + 2, "p3", "b", "c", "outage"),
        ]
    )
    assert store.decision_counts(Query()) == {"latency": 2, "outage": 1}
    assert store.decision_counts(Query(provider="c")) == {"outage": 1}
    assert store.decision_counts(Query(since=T0 + 1, until=T0 + 2)) == {"latency": 1}
