"""`routepilot store migrate --from sqlite:PATH --to postgresql:DSN`, as an operator runs it:
a populated SQLite file in, everything read back from PostgreSQL."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from routepilot.decide import Active, DecisionState, Reason
from routepilot.flows.sink import ProviderRow, SamplerRate, TrafficRow
from routepilot.probe.rollup import ProbeRollup
from routepilot.store import (
    AuditQuery,
    AuditRecord,
    ControllerState,
    JournalEntry,
    Query,
    SqliteStore,
    StoreConfig,
    TokenRecord,
    UserRecord,
    UtilizationSample,
)
from routepilot.store.base import Window
from routepilot.store.postgresql import PostgresStore
from routepilot.store.schema import MIGRATIONS

T0 = 1_700_000_000.0
STATE = ControllerState(
    pins={"198.18.0.0/24": "b"},
    exclusions=frozenset({"198.18.1.0/24"}),
    paused=True,
    dry_run=False,
    injections={"198.18.2.0/24": "c", "2001:db8:1::/48": "a"},
    decision=DecisionState(
        active={"198.18.2.0/24": Active("c", Reason.OUTAGE, T0, 2)},
        last_move={"198.18.2.0/24": T0},
        pending={"198.18.3.0/24": 2},
        recent_changes=((T0, 3),),
        avoid={"198.18.2.0/24": {"a": T0}},
    ),
    saved_at=T0 + 1,
)


RATES = [SamplerRate("192.0.2.7", 9, 9, 2, 2182, T0)]
BILLING = [
    {"kind": "period", "start": T0, "end": T0 + 30 * 86400, "late_octets": 0},
    {"kind": "sample", "provider": "isp1", "start": T0, "in_bps": 1e6, "out_bps": 2.5e6,
     "coverage": 1.0},
]  # fmt: skip


WINDOW = Window("b", T0 + 60, T0 + 3660, True, "planned", None, None, T0)
INCIDENT = {
    "id": 4, "cause": {"kind": "as", "asn": 64501, "provider": None, "prefix": None},
    "opened": T0, "closed": T0 + 120, "updated": T0 + 100, "prefixes": ["198.18.0.0/24"],
    "evidence": [],
}  # fmt: skip
TRACES = [
    {"prefix": "198.18.0.0/24", "provider": p, "target": "198.18.0.5", "time": T0 + k,
     "reached": k != 2, "asns": [65001, 64501],
     "hops": [{"ttl": 1, "address": "100.66.1.1", "asn": None, "rtt_ms": 0.1, "loss": 0.0},
              {"ttl": 2, "address": None, "asn": None, "rtt_ms": None, "loss": 1.0}]}
    for k, p in enumerate(("a", "b", "a"))
]  # fmt: skip
"""diagnose/'s kept traceroutes, oldest first."""


def populate(path: Path) -> dict[str, list]:
    """A file as the daemon leaves it, including a pruned journal (ids with gaps)."""
    traffic = [
        TrafficRow(
            T0 + 60 * (i // 500),
            60.0,
            f"198.18.{i % 250}.0/24",
            None if i % 97 == 0 else "abc"[i % 3],
            1e6 + i,
            1e3 + i,
        )  # fmt: skip
        for i in range(45_000)  # more than one batch
    ]
    providers = [ProviderRow(T0 + 60 * i, 60.0, "abc"[i % 3], 1.0 * i, 2.0, 3.0) for i in range(30)]
    providers.append(ProviderRow(T0, 300.0, None, 5.0, 6.0, 7.0))
    probes = [
        ProbeRollup(
            int(T0) + 60 * i,
            f"198.18.{i % 7}.0/24",
            "ab"[i % 2],
            "icmp",
            10,
            9,
            9.5,
            10.0 + i,
            12.0,
            15.0,
            0.5,
            0.1,
        )  # fmt: skip
        for i in range(200)
    ]
    probes.append(ProbeRollup(int(T0), "2001:db8::/48", "a", "tcp", 5, 0, *(math.nan,) * 5, 1.0))
    utilization = [UtilizationSample(T0 + i, "abc"[i % 3], 1e6 * i, 1e9, 5e8) for i in range(20)]
    journal = [
        JournalEntry(
            T0 + i,
            f"198.18.{i}.0/24",
            "a",
            "b",
            "a",
            "latency",
            1e6,
            80.0,
            20.0,
            0.0,
            0.0,
            10.0,
            dry_run=i % 2 == 1,
            # The AS of an as_incident move and the jitter of both paths go across too.
            incident_asn=4_200_000_000 + i if i % 3 == 0 else None,
            old_jitter_ms=1.5 * i if i % 2 else None,
            new_jitter_ms=0.25 if i % 2 else None,
        )  # fmt: skip
        for i in range(6)
    ]
    store = SqliteStore.open(StoreConfig(path=str(path)))
    store.write_traffic(traffic)
    store.write_provider_traffic(providers)
    store.write_probe_rollups(probes)
    store.write_utilization(utilization)
    ids = store.append_decisions(journal)
    store.record_outcome(ids[3], T0 + 90, 21.0, 0.0)
    store.save_state(STATE)
    store.write_sampler_rates(RATES)
    store.write_billing_rows(BILLING)
    store.add_window(WINDOW)
    store.save_incident(INCIDENT)
    for trace in TRACES:
        store.save_trace(trace, 10)

    store.save_user(USER)
    store.add_token(TOKEN)
    store.append_audit(AUDIT)
    store.close()
    # An old journal entry pruned by hand, so the source's ids have a gap.
    import sqlite3

    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM decisions WHERE id = ?", (ids[1],))
    conn.close()
    kept = [replace(e, id=None) for k, e in enumerate(journal) if k != 1]
    kept[2] = replace(kept[2], after_time=T0 + 90, after_rtt_ms=21.0, after_loss=0.0)
    return {
        "traffic": traffic, "provider_traffic": providers, "probes": probes,
        "utilization": utilization, "decisions": kept,
    }  # fmt: skip


USER = UserRecord("alice", "admin", T0, password_hash="$argon2id$v=19$stub")
TOKEN = TokenRecord("abc123", "alice", "$argon2id$v=19$token", T0)
AUDIT = AuditRecord(
    time=T0, user="alice", address="127.0.0.1", action="pause", method="POST",
    path="/api/v1/control/pause", request="null", change='{"paused": true}', status=200,
    outcome="ok",
)  # fmt: skip


def routepilot(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "routepilot.cli.main", *args],
        capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})},
    )  # fmt: skip


def key(r: object) -> str:
    # NaN never equals itself: compare the rows' text.
    return repr(r)


def test_migrate_copies_everything_and_refuses_a_second_time(
    tmp_path: Path, pg_config: StoreConfig
) -> None:
    db = tmp_path / "rp.db"
    want = populate(db)
    args = ["store", "migrate", "--from", f"sqlite:{db}", "--to", f"postgresql:{pg_config.dsn}"]
    args += ["--password-file", str(pg_config.password_file), "--json"]
    done = routepilot(*args)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["rows"] == {
        "traffic": 45_000, "provider_traffic": 31, "probes": 201, "utilization": 20,
        "decisions": 5, "state": 1, "sampler_rates": 1, "billing_rows": 2,
        "maintenance_windows": 1, "incidents": 1, "traces": 3,

        "users": 1, "api_tokens": 1, "audit": 1,
    }  # fmt: skip

    pg = PostgresStore.open(pg_config)
    try:
        assert sorted(map(key, pg.traffic(Query()))) == sorted(map(key, want["traffic"]))
        assert sorted(map(key, pg.provider_traffic(Query()))) == sorted(
            map(key, want["provider_traffic"])
        )
        assert sorted(map(key, pg.probe_rollups(Query()))) == sorted(map(key, want["probes"]))
        assert pg.utilization(Query()) == want["utilization"]
        journal = pg.decisions(Query())
        assert [replace(e, id=None) for e in reversed(journal)] == want["decisions"]
        ids = [e.id for e in journal]
        assert ids == sorted(ids, reverse=True)  # the order is kept
        assert pg.load_state() == STATE
        assert pg.sampler_rates() == RATES
        assert pg.billing_rows() == BILLING
        assert [replace(w, id=None) for w in pg.windows()] == [WINDOW]
        assert pg.incidents() == [INCIDENT]
        assert pg.traces() == TRACES[::-1]  # newest first, every field whole

        assert pg.users() == [USER] and pg.token(TOKEN.id) == TOKEN
        assert [replace(r, id=None) for r in pg.audit(AuditQuery())] == [AUDIT]
        (lost,) = pg.probe_rollups(Query(prefix="2001:db8::/48"))
        assert lost.answered == 0 and math.isnan(lost.rtt_median_ms) and lost.loss == 1.0
    finally:
        pg.close()

    again = routepilot(*args)
    assert again.returncode == 2
    assert "already holds data" in again.stderr and "Traceback" not in again.stderr


def test_migrate_refuses_a_running_daemon_a_missing_file_and_bad_targets(
    tmp_path: Path, pg_config: StoreConfig
) -> None:
    db = tmp_path / "rp.db"
    daemon = SqliteStore.open(StoreConfig(path=str(db)))  # holds the writer lock
    to = ["--to", f"postgresql:{pg_config.dsn}", "--password-file", str(pg_config.password_file)]
    try:
        busy = routepilot("store", "migrate", "--from", f"sqlite:{db}", *to)
    finally:
        daemon.close()
    assert busy.returncode == 2 and "another routepilot process is using" in busy.stderr
    missing = routepilot("store", "migrate", "--from", f"sqlite:{tmp_path / 'no.db'}", *to)
    assert missing.returncode == 2 and "no such database file" in missing.stderr
    assert not (tmp_path / "no.db").exists()
    bad = routepilot("store", "migrate", "--from", f"sqlite:{db}", "--to", "mysql:x")
    assert bad.returncode == 2 and "expected postgresql:DSN" in bad.stderr
    leaky = routepilot(
        "store", "migrate", "--from", f"sqlite:{db}", "--to", "postgresql:host=x password=s3cret"
    )
    assert leaky.returncode == 2 and "password_file or password_env" in leaky.stderr


def test_migrate_brings_an_older_sqlite_file_up_first(
    tmp_path: Path, pg_config: StoreConfig
) -> None:
    import sqlite3

    db = tmp_path / "old.db"
    version = 1  # before the journal recorded outcomes
    conn = sqlite3.connect(db)
    for script in MIGRATIONS[:version]:
        conn.executescript(script)
    conn.execute(
        "INSERT INTO decisions (time, prefix, from_provider, to_provider, default_provider, "
        "reason, traffic_bps) VALUES (?, 'p', 'a', 'b', 'a', 'loss', 1.0)",
        (T0,),
    )
    conn.execute(f"PRAGMA user_version = {version}")
    conn.commit()
    conn.close()
    env = {"RP_TEST_PW": Path(str(pg_config.password_file)).read_text().strip()}
    done = routepilot(
        "store", "migrate", "--from", f"sqlite:{db}", "--to", f"postgresql:{pg_config.dsn}",
        "--password-env", "RP_TEST_PW", env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "decisions: 1 rows copied" in done.stdout
    pg = PostgresStore.open(pg_config)
    (e,) = pg.decisions(Query())
    assert (e.reason, e.after_time, e.dry_run) == ("loss", None, False)
    pg.close()
