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
    # 4: the open billing period of telemetry/ (its ledger's rows, one JSON object each,
    # in order), so that a restart in mid-period keeps the samples and the 95th.
    """
    CREATE TABLE billing_ledger (seq INTEGER PRIMARY KEY, row TEXT NOT NULL);
    """,
    # 5: maintenance windows started on demand (they survive a restart), and the
    # control journal: windows started and ended, configuration reloads and refusals.
    """
    CREATE TABLE maintenance_windows (
        id INTEGER PRIMARY KEY AUTOINCREMENT, provider TEXT NOT NULL, start REAL NOT NULL,
        "end" REAL NOT NULL, drain INTEGER NOT NULL, reason TEXT NOT NULL, created REAL
    );
    CREATE INDEX maintenance_windows_end ON maintenance_windows ("end");
    CREATE TABLE control_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT, time REAL NOT NULL, kind TEXT NOT NULL,
        detail TEXT NOT NULL
    );
    CREATE INDEX control_events_time ON control_events (time);
    """,
    # 6: users with a role, their API tokens (argon2 hashes only), and the audit log of
    # every write made through the API (appended, never updated).
    """
    CREATE TABLE users (
        name TEXT PRIMARY KEY, role TEXT NOT NULL, created REAL NOT NULL, password_hash TEXT
    );
    CREATE TABLE api_tokens (
        id TEXT PRIMARY KEY, username TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
        hash TEXT NOT NULL, created REAL NOT NULL
    );
    CREATE INDEX api_tokens_user ON api_tokens (username);
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY, time REAL NOT NULL, username TEXT, address TEXT,
        action TEXT NOT NULL, method TEXT NOT NULL, path TEXT NOT NULL,
        request TEXT NOT NULL, change TEXT NOT NULL, status INTEGER NOT NULL,
        outcome TEXT NOT NULL
    );
    CREATE INDEX audit_time ON audit (time);
    CREATE INDEX audit_user_time ON audit (username, time);
    CREATE INDEX audit_action_time ON audit (action, time);
    """,
    # 7: incidents of diagnose/ (the cause, when, the prefixes and evidence as one JSON
    # document), kept after they close for the API and the reports.
    """
    CREATE TABLE incidents (
        id INTEGER PRIMARY KEY, kind TEXT NOT NULL, opened REAL NOT NULL, closed REAL,
        updated REAL NOT NULL, body TEXT NOT NULL
    );
    CREATE INDEX incidents_opened ON incidents (opened);
    """,
    # 8: the journal keeps the AS of the incident an as_incident move avoids and the jitter
    # of both paths, so that its sentences read back whole (rows from before: NULL).
    """
    ALTER TABLE decisions ADD COLUMN incident_asn INTEGER;
    ALTER TABLE decisions ADD COLUMN old_jitter_ms REAL;
    ALTER TABLE decisions ADD COLUMN new_jitter_ms REAL;
    """,
    # 9: diagnose/'s traceroutes (each as one JSON document), the newest few per (prefix,
    # provider), so that a restart still shows what each path crossed and when.
    """
    CREATE TABLE traces (
        id INTEGER PRIMARY KEY, time REAL NOT NULL, prefix TEXT NOT NULL,
        provider TEXT NOT NULL, body TEXT NOT NULL
    );
    CREATE INDEX traces_path_time ON traces (prefix, provider, time);
    CREATE INDEX traces_time ON traces (time);
    """,
)

VERSION = len(MIGRATIONS)
