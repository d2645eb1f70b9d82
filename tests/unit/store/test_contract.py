"""What every Store does, checked on the SQLite store and the in-memory fake alike.

tests/integration/store/test_contract_postgresql.py runs every test here again on a
PostgreSQL server: a test added here runs on all three backends.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from routepilot.decide import Active, DecisionState, Reason
from routepilot.flows.sink import ProviderRow, SamplerRate, TrafficRow
from routepilot.probe.rollup import ProbeRollup
from routepilot.store import (
    AuditQuery,
    AuditRecord,
    ControllerState,
    JournalEntry,
    MemoryStore,
    Query,
    SqliteStore,
    StoreConfig,
    TokenRecord,
    UserRecord,
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


def test_journal_keeps_the_incident_as_and_the_jitter_of_both_paths(store) -> None:
    """What the sentences read back: the AS an as_incident move avoids, and the jitter of
    the path left and the path taken; None where a move has none."""
    incident = entry(T0, "p1", "a", "b", "as_incident", incident_asn=4_200_000_001)
    jitter = entry(T0 + 10, "p2", "a", "c", "jitter", old_jitter_ms=12.25, new_jitter_ms=0.75)
    plain = entry(T0 + 20, "p3", "a", "b", "latency")
    ids = store.append_decisions([incident, jitter, plain])
    got = {e.prefix: e for e in store.decisions(Query())}
    assert got["p1"] == replace(incident, id=ids[0])  # a 32-bit AS number, whole
    assert (got["p2"].old_jitter_ms, got["p2"].new_jitter_ms) == (12.25, 0.75)
    assert got["p2"].incident_asn is None
    assert (got["p3"].incident_asn, got["p3"].old_jitter_ms, got["p3"].new_jitter_ms) == (
        None, None, None,
    )  # fmt: skip
    store.record_outcome(ids[1], T0 + 70, 21.5, 0.0)  # the outcome leaves them be
    (after,) = store.decisions(Query(prefix="p2"))
    assert after == replace(jitter, id=ids[1], after_time=T0 + 70, after_rtt_ms=21.5,
                            after_loss=0.0)  # fmt: skip


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
        "traces": 0,
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


def test_billing_rows_replace_the_open_period_and_keep_every_digit(store) -> None:
    from routepilot.telemetry.config import BillingConfig
    from routepilot.telemetry.ledger import BillingLedger

    assert store.billing_rows() == []
    ledger = BillingLedger(BillingConfig(sample_s=10))
    ledger.add("isp1", "edge/eth1", T0, T0 + 25.0, 1_234_567.0, 7_654_321.0)
    ledger.add("isp2", "edge/eth2", T0, T0 + 25.0, 1 / 3, math.pi)
    ledger.close(T0 + 30.0, grace_s=5.0)  # [T0+20, T0+30) stays open
    rows = ledger.to_rows()
    assert {r["kind"] for r in rows} == {"period", "sample", "partial"}
    store.write_billing_rows(rows)
    assert store.billing_rows() == rows
    back = BillingLedger.from_rows(ledger.config, store.billing_rows())
    assert back.samples == ledger.samples and back.partial == ledger.partial
    assert (back.period_start, back.period_end) == (ledger.period_start, ledger.period_end)
    # A later save replaces the period whole: no row of the previous one is left.
    store.write_billing_rows(rows[:1])
    assert store.billing_rows() == rows[:1]
    store.write_billing_rows([])
    assert store.billing_rows() == []


def test_maintenance_windows_survive_and_end_early(store) -> None:
    from routepilot.store import ControlEvent
    from routepilot.store.base import Window

    assert store.windows() == []
    first = store.add_window(Window("isp1", T0, T0 + 1800, True, "fibre work", created=T0 - 5))
    second = store.add_window(Window("isp2", T0 - 600, T0 - 60, False, ""))
    assert first != second
    ws = store.windows()
    assert [w.id for w in ws] == [second, first]  # by start
    w = ws[1]
    assert (w.provider, w.start, w.end, w.drain, w.reason, w.created) == (
        "isp1", T0, T0 + 1800, True, "fibre work", T0 - 5,
    )  # fmt: skip
    assert [w.id for w in store.windows(ending_after=T0)] == [first]
    ended = store.end_window(first, T0 + 60)
    assert ended is not None and ended.end == T0 + 60 and ended.id == first
    assert store.end_window(first, T0 + 900).end == T0 + 60  # never later than it was
    assert store.end_window(999_999, T0) is None
    assert store.windows(ending_after=T0 + 60) == []
    # The control journal, newest first.
    ids = [
        store.append_event(ControlEvent(T0 + i, kind, f"detail {i}"))
        for i, kind in enumerate(["maintenance_start", "config_applied", "config_refused"])
    ]
    events = store.events(Query(since=T0 + 1))
    assert [e.kind for e in events] == ["config_refused", "config_applied"]
    assert events[0].id == ids[2] and events[0].detail == "detail 2"
    assert len(store.events(Query(limit=1))) == 1


def test_users_and_their_tokens(store) -> None:
    assert store.users() == []
    store.save_user(UserRecord("bob", "viewer", T0))
    store.save_user(UserRecord("alice", "admin", T0, password_hash="$argon2id$x"))
    assert [u.name for u in store.users()] == ["alice", "bob"]
    assert store.users()[0].password_hash == "$argon2id$x"
    store.save_user(UserRecord("bob", "operator", T0 + 1))  # a new role replaces the old
    assert [(u.name, u.role) for u in store.users()] == [("alice", "admin"), ("bob", "operator")]
    store.add_token(TokenRecord("t1", "bob", "$argon2id$h1", T0))
    store.add_token(TokenRecord("t2", "bob", "$argon2id$h2", T0))
    store.add_token(TokenRecord("t3", "alice", "$argon2id$h3", T0))
    assert store.token("t1") == TokenRecord("t1", "bob", "$argon2id$h1", T0)
    assert store.token("nope") is None
    assert store.remove_tokens("bob") == 2
    assert store.token("t1") is None and store.token("t3") is not None
    store.add_token(TokenRecord("t4", "bob", "$argon2id$h4", T0))
    # Removing a user takes their tokens with them, at once.
    assert store.remove_user("bob") is True
    assert store.token("t4") is None
    assert store.remove_user("bob") is False
    assert [u.name for u in store.users()] == ["alice"]


def audit(t: float, user: str | None, action: str, status: int = 200) -> AuditRecord:
    return AuditRecord(
        time=t, user=user, address="127.0.0.1", action=action, method="POST",
        path=f"/api/v1/{action}", request='{"a": 1}', change='{"paused": true}',
        status=status, outcome="ok" if status < 400 else "refused",
    )  # fmt: skip


def test_audit_is_appended_newest_first_and_filterable(store) -> None:
    ids = [
        store.append_audit(audit(T0, "alice", "pause")),
        store.append_audit(audit(T0 + 10, "bob", "pin")),
        store.append_audit(audit(T0 + 20, None, "pause", 401)),
        store.append_audit(audit(T0 + 20, "alice", "resume")),
    ]
    assert len(set(ids)) == 4
    got = store.audit(AuditQuery())
    assert [r.action for r in got] == ["resume", "pause", "pin", "pause"]
    assert got[-1] == replace(audit(T0, "alice", "pause"), id=ids[0])
    assert [r.time for r in store.audit(AuditQuery(user="alice"))] == [T0 + 20, T0]
    assert [r.status for r in store.audit(AuditQuery(action="pause"))] == [401, 200]
    assert [r.action for r in store.audit(AuditQuery(since=T0 + 5, until=T0 + 20))] == ["pin"]
    assert len(store.audit(AuditQuery(limit=2))) == 2
    assert store.audit(AuditQuery(user="carol")) == []


def test_incidents_are_kept_updated_and_closed(store) -> None:
    """diagnose/'s incidents: an upsert by id, open ones always listed, newest first."""
    as_incident = {
        "id": 1,
        "cause": {"kind": "as", "asn": 64501, "provider": None, "prefix": None},
        "opened": T0,
        "closed": None,
        "updated": T0 + 10,
        "prefixes": ["198.18.0.0/24", "198.18.2.0/24"],
        "evidence": [{"prefix": "198.18.0.0/24", "provider": "isp1", "loss": 0.1,
                      "rtt_ms": 12.5, "as_path": [65001, 64501, 64600],
                      "hops": [{"ttl": 2, "address": "100.92.101.1", "asn": 64501,
                                "rtt_ms": 3.0, "loss": 0.0}]}],
    }  # fmt: skip
    assert store.incidents() == []
    store.save_incident(as_incident)
    prefix_incident = {**as_incident, "id": 2, "opened": T0 - 900, "closed": T0 - 600,
                       "cause": {"kind": "prefix", "asn": None, "provider": None,
                                 "prefix": "198.18.9.0/24"}}  # fmt: skip
    store.save_incident(prefix_incident)
    assert store.incidents() == [prefix_incident, as_incident]
    # Closed before `since`: left out; open: always listed.
    assert [r["id"] for r in store.incidents(since=T0 - 60)] == [1]
    closed = {**as_incident, "closed": T0 + 120, "prefixes": [*as_incident["prefixes"], "x"]}
    store.save_incident(closed)
    assert store.incidents(limit=1) == [prefix_incident]
    assert store.incidents(since=T0)[0] == closed


def trace(t: float, prefix: str, provider: str, reached: bool = True) -> dict:
    """A traceroute as diagnose/ stores it (``PathTrace.as_dict()``)."""
    hops = [{"ttl": 1, "address": "100.66.1.1", "asn": None, "rtt_ms": 0.125, "loss": 0.0},
            {"ttl": 2, "address": None, "asn": None, "rtt_ms": None, "loss": 1.0},
            {"ttl": 3, "address": "198.18.0.5", "asn": 4_200_000_001, "rtt_ms": 3.0,
             "loss": 0.5}]  # fmt: skip
    return {"prefix": prefix, "provider": provider, "target": "198.18.0.5", "time": t,
            "reached": reached, "asns": [4_200_000_001], "hops": hops}  # fmt: skip


def test_traces_keep_the_newest_few_per_path_newest_first(store) -> None:
    """diagnose/'s traceroutes: each (prefix, provider) keeps the newest ``keep``, whatever
    the order they arrive in; read back whole, newest first, filtered."""
    assert store.traces() == []
    for t in (T0 + 30, T0 + 10, T0 + 40, T0 + 20):  # a late one among them
        store.save_trace(trace(t, "198.18.0.0/24", "isp1"), 3)
    store.save_trace(trace(T0 + 5, "198.18.0.0/24", "isp2", reached=False), 3)
    store.save_trace(trace(T0 + 50, "2001:db8:1::/48", "isp1"), 3)
    got = store.traces("198.18.0.0/24", "isp1")
    assert [t["time"] for t in got] == [T0 + 40, T0 + 30, T0 + 20]  # T0 + 10 is gone
    assert got[0] == trace(T0 + 40, "198.18.0.0/24", "isp1")
    assert [(t["provider"], t["time"]) for t in store.traces("198.18.0.0/24")] == [
        ("isp1", T0 + 40), ("isp1", T0 + 30), ("isp1", T0 + 20), ("isp2", T0 + 5),
    ]  # fmt: skip
    assert store.traces(provider="isp2")[0]["reached"] is False
    assert [t["prefix"] for t in store.traces()][0] == "2001:db8:1::/48"
    assert store.traces("198.18.9.0/24") == []
    # Two traces of one path at the same time: the one stored last counts as newer.
    store.save_trace({**trace(T0 + 40, "198.18.0.0/24", "isp1"), "target": "198.18.0.9"}, 3)
    assert [t["target"] for t in store.traces("198.18.0.0/24", "isp1")][:2] == [
        "198.18.0.9", "198.18.0.5",
    ]  # fmt: skip
    # Traces are history: pruned with the time series.
    counts = store.prune(T0 + 35 + 30 * DAY)
    assert counts["traces"] == 2  # T0 + 30 (isp1) and T0 + 5 (isp2)
    assert [t["time"] for t in store.traces()] == [T0 + 50, T0 + 40, T0 + 40]
