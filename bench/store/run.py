"""Store benchmark: the daemon's bulk writes, PostgreSQL against SQLite in the same run.

Workloads, the same rows for each store:

- ``traffic``: 100k traffic rows in one ``write_traffic`` call (ten minutes of
  the flow rollup at its default top-N of 10k);
- ``probes``: one minute of probe rollups for 10k prefixes x 4 providers
  (40k rows), written once a minute for ``--minutes`` minutes into a growing
  table; the median and worst minute are shown;
- ``queries``: a prefix's traffic, and the dashboard's 5-minute probe series
  over everything written.

SQLite runs as the daemon runs it (WAL, ``synchronous=NORMAL``) in a temporary
directory; PostgreSQL is Debian's server started here for the run, with its
default durability (fsync and synchronous commit on), through the store's pool
and ``COPY``. A third line writes the same traffic with psycopg's pipelined
``executemany`` (INSERT per row), the other bulk path, to show what COPY buys.
Times are wall time on a shared 2-core machine (the server uses the other
core); the ratio is PostgreSQL / SQLite (above 1: PostgreSQL slower).

Usage: python bench/store/run.py [--minutes N] [--budget-s S]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

from routepilot.flows.sink import TrafficRow
from routepilot.probe.rollup import ProbeRollup
from routepilot.store import Query, SqliteStore, StoreConfig
from routepilot.store.postgresql import PostgresStore

# The throwaway server of the integration tests (Debian's postgresql, run as postgres).
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.integration.store.pgserver import PgServer  # noqa: E402

T0 = 1_700_000_040.0
PROVIDERS = ("isp1", "isp2", "isp3", "isp4")


def prefix(i: int) -> str:
    return f"{10 + (i >> 16)}.{(i >> 8) & 255}.{i & 255}.0/24"


def traffic_rows(n: int) -> list[TrafficRow]:
    return [
        TrafficRow(
            T0 + 60 * (i // 10_000), 60.0, prefix(i % 10_000), PROVIDERS[i % 4], 1e6 + i, 1e3 + i
        )  # fmt: skip
        for i in range(n)
    ]


def probe_minute(minute: int, prefixes: int) -> list[ProbeRollup]:
    rows = []
    for i in range(prefixes):
        for k, prov in enumerate(PROVIDERS):
            rtt = 10.0 + k * 5 + (i % 17)
            lost = (i + k + minute // 60) % 20 == 0
            rows.append(
                ProbeRollup(
                    minute,
                    prefix(i),
                    prov,
                    "icmp",
                    6,
                    0 if lost else 6,
                    *((math.nan,) * 4 if lost else (rtt, rtt + 1, rtt + 3, rtt + 4)),
                    math.nan if lost else 0.5,
                    1.0 if lost else 0.0,
                )  # fmt: skip
            )
    return rows


def timed(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run_store(store: Any, traffic: list[TrafficRow], minutes: int, prefixes: int,
              deadline: float) -> dict[str, Any]:  # fmt: skip
    out: dict[str, Any] = {"traffic": timed(lambda: store.write_traffic(traffic))}
    per_minute = []
    for m in range(minutes):
        rows = probe_minute(int(T0) + 60 * m, prefixes)
        per_minute.append(timed(lambda rows=rows: store.write_probe_rollups(rows)))
        if time.monotonic() > deadline:
            break
    out["probe_minutes"] = per_minute
    out["query_prefix"] = timed(lambda: store.traffic(Query(prefix=prefix(4242))))
    series: list[Any] = []
    out["query_series"] = timed(lambda: series.extend(store.probe_series(Query(), 300)))
    out["series_points"] = len(series)
    return out


def executemany_traffic(dsn: str, password: str, traffic: list[TrafficRow]) -> float:
    """The same rows through INSERT with pipelined executemany, in its own table."""
    with psycopg.connect(dsn, password=password) as conn:
        conn.execute("CREATE TABLE traffic_insert (LIKE traffic INCLUDING ALL)")
        conn.commit()
        t0 = time.perf_counter()
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO traffic_insert VALUES (%s, %s, %s, %s, %s, %s)",
                [(r.time, r.window_s, r.prefix, r.provider, r.bytes, r.packets) for r in traffic],
            )
        conn.commit()
        return time.perf_counter() - t0


def line(name: str, sqlite_s: float, pg_s: float, rows: int | None = None) -> None:
    rate = ""
    if rows:
        rate = f"   {rows / sqlite_s:>10,.0f} vs {rows / pg_s:>10,.0f} rows/s"
    print(f"  {name:<36} {sqlite_s * 1000:>9.1f} ms {pg_s * 1000:>9.1f} ms "
          f"{pg_s / sqlite_s:>7.2f}x{rate}", flush=True)  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--traffic", type=int, default=100_000, help="traffic rows in one write")
    ap.add_argument("--prefixes", type=int, default=10_000, help="probed prefixes")
    ap.add_argument("--minutes", type=int, default=10, help="minutes of probe rollups")
    ap.add_argument("--budget-s", type=float, default=120.0, help="stop adding minutes after")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/store needs root: it runs Debian's PostgreSQL as the postgres user")

    traffic = traffic_rows(args.traffic)
    per_minute_rows = args.prefixes * len(PROVIDERS)
    print(f"store benchmark: {len(traffic):,} traffic rows; {args.prefixes:,} prefixes x "
          f"{len(PROVIDERS)} providers = {per_minute_rows:,} probe rows a minute, "
          f"up to {args.minutes} minutes")  # fmt: skip
    half = args.budget_s / 2
    with tempfile.TemporaryDirectory(prefix="rp-bench-store-") as tmp:
        sqlite = SqliteStore.open(StoreConfig(path=str(Path(tmp) / "rp.db")))
        s = run_store(sqlite, traffic, args.minutes, args.prefixes, time.monotonic() + half)
        sqlite.close()
        db_bytes = sum(p.stat().st_size for p in Path(tmp).iterdir())

    with PgServer(durable=True) as server:
        cfg = StoreConfig(kind="postgresql", dsn=server.dsn(),
                          password_file=str(server.password_file()))  # fmt: skip
        pg = PostgresStore.open(cfg)
        p = run_store(pg, traffic, len(s["probe_minutes"]), args.prefixes,
                      time.monotonic() + half)  # fmt: skip
        pg.close()
        insert_s = executemany_traffic(server.dsn(), server.password, traffic)
        with psycopg.connect(server.dsn(), password=server.password) as conn:
            row = conn.execute("SELECT pg_total_relation_size('traffic') + "
                               "pg_total_relation_size('probes')").fetchone()  # fmt: skip
            pg_bytes = int(row[0]) if row else 0

    minutes = min(len(s["probe_minutes"]), len(p["probe_minutes"]))
    assert s["series_points"] == p["series_points"], (s["series_points"], p["series_points"])
    print(f"  {'':<36} {'SQLite':>12} {'PostgreSQL':>12} {'ratio':>8}")
    line(f"write_traffic, {len(traffic):,} rows", s["traffic"], p["traffic"], len(traffic))
    line(
        f"probe rollups, median of {minutes} minutes",
        statistics.median(s["probe_minutes"][:minutes]),
        statistics.median(p["probe_minutes"][:minutes]),
        per_minute_rows,
    )
    line("probe rollups, worst minute", max(s["probe_minutes"][:minutes]),
         max(p["probe_minutes"][:minutes]))  # fmt: skip
    line("traffic of one prefix", s["query_prefix"], p["query_prefix"])
    line(f"5-minute probe series ({s['series_points']} points)", s["query_series"],
         p["query_series"])  # fmt: skip
    print(f"  PostgreSQL INSERT executemany (pipelined), same {len(traffic):,} traffic rows: "
          f"{insert_s * 1000:.1f} ms, {insert_s / p['traffic']:.1f}x the COPY")  # fmt: skip
    print(f"  on disk: SQLite file and WAL {db_bytes / 2**20:.0f} MiB, PostgreSQL traffic and "
          f"probes with indexes {pg_bytes / 2**20:.0f} MiB")  # fmt: skip


if __name__ == "__main__":
    main()
