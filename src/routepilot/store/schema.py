"""The SQLite schema, as an ordered list of migrations.

``PRAGMA user_version`` holds the number of migrations applied. Opening a
database applies the missing ones in one transaction; a database from a newer
routepilot (a higher version than known here) is refused rather than guessed
at. Never edit a migration that has shipped: add the next one.
"""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: time series, journal, restart state.
    """
    CREATE TABLE traffic (
        time REAL NOT NULL, window_s REAL NOT NULL, prefix TEXT NOT NULL,
        provider TEXT, bytes REAL NOT NULL, packets REAL NOT NULL
    );
    CREATE INDEX traffic_time ON traffic (time);
    CREATE INDEX traffic_prefix_time ON traffic (prefix, time);
    CREATE TABLE provider_traffic (
        time REAL NOT NULL, window_s REAL NOT NULL, provider TEXT,
        bytes REAL NOT NULL, packets REAL NOT NULL, bps REAL NOT NULL
    );
    CREATE INDEX provider_traffic_provider_time ON provider_traffic (provider, window_s, time);
    CREATE INDEX provider_traffic_time ON provider_traffic (time);
    CREATE TABLE probes (
        minute INTEGER NOT NULL, prefix TEXT NOT NULL, provider TEXT NOT NULL,
        kind TEXT NOT NULL, sent INTEGER NOT NULL, answered INTEGER NOT NULL,
        rtt_min_ms REAL, rtt_median_ms REAL, rtt_p90_ms REAL, rtt_max_ms REAL,
        jitter_ms REAL, loss REAL
    );
    CREATE INDEX probes_time ON probes (minute);
    CREATE INDEX probes_prefix_time ON probes (prefix, minute);
    CREATE INDEX probes_provider_time ON probes (provider, minute);
    CREATE TABLE utilization (
        time REAL NOT NULL, provider TEXT NOT NULL, rate_bps REAL NOT NULL,
        capacity_bps REAL NOT NULL, commit_bps REAL NOT NULL
    );
    CREATE INDEX utilization_provider_time ON utilization (provider, time);
    CREATE INDEX utilization_time ON utilization (time);
    CREATE TABLE decisions (
        id INTEGER PRIMARY KEY, time REAL NOT NULL, prefix TEXT NOT NULL,
        from_provider TEXT, to_provider TEXT, default_provider TEXT,
        reason TEXT NOT NULL, traffic_bps REAL NOT NULL,
        old_rtt_ms REAL, new_rtt_ms REAL, old_loss REAL, new_loss REAL,
        threshold_ms REAL, dry_run INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX decisions_time ON decisions (time);
    CREATE INDEX decisions_prefix_time ON decisions (prefix, time);
    CREATE INDEX decisions_reason_time ON decisions (reason, time);
    CREATE TABLE pins (prefix TEXT PRIMARY KEY, provider TEXT NOT NULL);
    CREATE TABLE exclusions (prefix TEXT PRIMARY KEY);
    CREATE TABLE injections (prefix TEXT PRIMARY KEY, provider TEXT NOT NULL);
    CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # 2: the journal records how the new exit measured once re-probed after a move,
    # and can be searched by provider.
    """
    ALTER TABLE decisions ADD COLUMN after_time REAL;
    ALTER TABLE decisions ADD COLUMN after_rtt_ms REAL;
    ALTER TABLE decisions ADD COLUMN after_loss REAL;
    CREATE INDEX decisions_to_time ON decisions (to_provider, time);
    CREATE INDEX decisions_from_time ON decisions (from_provider, time);
    """,
    # 3: the last sampling rate each exporter announced per (domain, sampler), so that
    # a restarted collector scales records before the exporter resends its options.
    """
    CREATE TABLE sampler_rates (
        exporter TEXT NOT NULL, version INTEGER NOT NULL, domain INTEGER NOT NULL,
        sampler INTEGER NOT NULL, rate INTEGER NOT NULL, time REAL NOT NULL,
        PRIMARY KEY (exporter, version, domain, sampler)
    );
    """,
)

VERSION = len(MIGRATIONS)
