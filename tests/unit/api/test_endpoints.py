"""Every endpoint against FakeView, and the exact JSON keys each one answers with.

The key lists are the contract with the dashboard, the CLI, and anyone's
scripts: a change here is a breaking change of the API.
"""

from __future__ import annotations

import pytest
from tests.unit.api.conftest import make_client

from routepilot.api.config import ApiConfig
from routepilot.flows.metrics import FlowMetrics
from routepilot.metrics import Registry
from routepilot.view_rows import decision_row

STATUS_KEYS = [
    "version",
    "started",
    "now",
    "paused",
    "dry_run",
    "cycle",
    "sessions",
    "degraded",
    "counts",
    "telemetry",
    "routes",
    "ha",
]
CYCLE_KEYS = ["count", "last", "duration_ms"]
COUNTS_KEYS = ["prefixes", "active_improvements", "moves_last_hour"]
PROVIDER_KEYS = [
    "name", "asn", "session_up", "healthy", "rtt_ms", "loss", "rate_bps", "capacity_bps",
    "utilization", "commit_bps", "p95_bps", "cost_per_mbps", "prefixes_routed", "exchange",
]  # fmt: skip
PREFIX_KEYS = ["prefix", "traffic_bps", "exit", "default", "reason", "since", "pinned", "excluded"]
MEASUREMENT_KEYS = [
    "provider", "has_route", "as_path_len", "rtt_ms", "rtt_p90_ms", "loss", "loss_low",
    "loss_high", "jitter_ms", "samples", "consecutive_losses", "traffic_bps",
]  # fmt: skip
DECISION_KEYS = [
    "time", "prefix", "from_provider", "to_provider", "default_provider", "reason",
    "traffic_bps", "old_rtt_ms", "new_rtt_ms", "old_loss", "new_loss", "threshold_ms", "dry_run",
    "incident_asn", "old_jitter_ms", "new_jitter_ms", "after_time", "after_rtt_ms",
    "after_loss", "summary",
]  # fmt: skip
POINT_KEYS = ["time", "prefix", "provider", "rtt_ms", "rtt_p90_ms", "loss", "samples"]
UTIL_KEYS = ["time", "provider", "rate_bps", "capacity_bps", "commit_bps"]

V1 = "/api/v1"


def test_status_keys(client) -> None:
    body = client.get(f"{V1}/status").json()
    assert list(body) == STATUS_KEYS
    assert list(body["cycle"]) == CYCLE_KEYS
    assert list(body["counts"]) == COUNTS_KEYS
    assert body["sessions"] == {"edge": "established"}
    assert body["telemetry"]["link_source"] == "flows"  # SNMP off: link load from flows


def test_providers_keys(client) -> None:
    body = client.get(f"{V1}/providers").json()
    assert [p["name"] for p in body] == ["isp1", "isp2", "isp3"]
    for p in body:
        assert list(p) == PROVIDER_KEYS


def test_prefixes_top_and_order(client) -> None:
    body = client.get(f"{V1}/prefixes", params={"top": 5}).json()
    assert len(body) == 5
    assert all(list(p) == PREFIX_KEYS for p in body)
    rates = [p["traffic_bps"] for p in body]
    assert rates == sorted(rates, reverse=True)
    assert len(client.get(f"{V1}/prefixes").json()) == 20


@pytest.mark.parametrize("spelling", ["198.18.3.0/24", "198.18.3.0_24", "198.18.3.9/24"])
def test_one_prefix_in_every_spelling(client, spelling: str) -> None:
    r = client.get(f"{V1}/prefixes/{spelling}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert list(body) == PREFIX_KEYS + [
        "measurements",
        "explanation",
        "policy",
        "syn_hints",
        "confirming",
    ]
    assert body["prefix"] == "198.18.3.0/24"
    assert body["syn_hints"] == []
    assert body["confirming"] is False
    assert [m["provider"] for m in body["measurements"]] == ["isp1", "isp2", "isp3"]
    assert all(list(m) == MEASUREMENT_KEYS for m in body["measurements"])
    assert list(body["explanation"]) == DECISION_KEYS


def test_unknown_prefix_is_404(client) -> None:
    r = client.get(f"{V1}/prefixes/203.0.113.0/24")
    assert r.status_code == 404
    assert r.json() == {"error": "unknown prefix 203.0.113.0/24"}


def test_decisions_filters(client, view) -> None:
    everything = client.get(f"{V1}/decisions").json()
    assert len(everything) == 30
    assert all(list(d) == DECISION_KEYS for d in everything)
    times = [d["time"] for d in everything]
    assert times == sorted(times, reverse=True)
    assert len(client.get(f"{V1}/decisions", params={"limit": 3}).json()) == 3
    recent = client.get(f"{V1}/decisions", params={"since": "30m"}).json()
    assert recent and all(d["time"] >= view.now - 1800 for d in recent)
    absolute = client.get(f"{V1}/decisions", params={"since": str(view.now - 1800)}).json()
    assert absolute == recent
    iso = client.get(f"{V1}/decisions", params={"until": "2027-01-15T07:00:00Z"}).json()
    assert iso and len(iso) < len(everything)  # the filter keeps some, not all
    assert all(d["time"] <= 1800000000 - 3600 + 1200 for d in iso)
    by_reason = client.get(f"{V1}/decisions", params={"reason": "outage"}).json()
    assert by_reason and {d["reason"] for d in by_reason} == {"outage"}
    by_provider = client.get(f"{V1}/decisions", params={"provider": "isp3"}).json()
    assert by_provider
    assert all("isp3" in (d["from_provider"], d["to_provider"]) for d in by_provider)
    by_prefix = client.get(f"{V1}/decisions", params={"prefix": "198.18.1.0_24"}).json()
    assert by_prefix and {d["prefix"] for d in by_prefix} == {"198.18.1.0/24"}


def test_decision_keys_are_the_journal_record_fields() -> None:
    """The API's decision is the journal's record (decide/'s Move, plus dry_run, the
    incident's AS and the jitter of both paths, and the re-measurement of the new exit
    after the move): one definition of the fields, which the API contract must keep
    following."""
    from dataclasses import fields

    from routepilot.api.models import Decision
    from routepilot.store import JournalEntry

    record = {f.name for f in fields(JournalEntry)}
    record -= {"id"}
    assert set(DECISION_KEYS) == set(Decision.model_fields) == {*record, "summary"}


def test_decisions_say_the_incident_as_and_the_jitter_the_journal_keeps(client, view) -> None:
    """An as_incident move and a jitter move read back from the journal: the fields go out,
    and the sentences name the AS and the jitter of both paths."""
    t = view.now - 30
    view._journal[:0] = [
        decision_row(t, "198.18.4.0/24", ("isp1", "isp3"), "isp1", "jitter", 2e6,
                     (20.4, 0.0), (21.0, 0.0), jitter=(11.52, 0.84)),
        decision_row(t - 1, "198.18.5.0/24", ("isp1", "isp2"), "isp1", "as_incident", 1e6,
                     (20.0, 0.0), (22.0, 0.0), incident_asn=4_200_000_001),
    ]  # fmt: skip
    jitter, incident = client.get(f"{V1}/decisions", params={"limit": 2}).json()
    assert (jitter["old_jitter_ms"], jitter["new_jitter_ms"]) == (11.52, 0.84)
    assert jitter["incident_asn"] is None
    assert jitter["summary"] == (
        "moved off isp1: its jitter was 11.5 ms against 0.840 ms through isp3, at an RTT of "
        "21.0 ms against 20.4 ms; 2 Mb/s moved"
    )
    assert incident["incident_asn"] == 4_200_000_001
    assert incident["old_jitter_ms"] is None and incident["new_jitter_ms"] is None
    assert incident["summary"].startswith(
        "moved off isp1 to isp2: isp1's path crosses AS4200000001, where an incident is open, "
        "and isp2's avoids it"
    )
    # A move of another reason keeps none of them.
    older = client.get(f"{V1}/decisions", params={"reason": "latency", "limit": 1}).json()[0]
    assert older["incident_asn"] is None and older["old_jitter_ms"] is None


def test_measurements_default_window_is_the_last_hour(client, view) -> None:
    body = client.get(f"{V1}/measurements", params={"provider": "isp2"}).json()
    assert body and all(list(p) == POINT_KEYS for p in body)
    assert {p["provider"] for p in body} == {"isp2"}
    assert min(p["time"] for p in body) >= view.now - 3600 - 60
    assert max(p["time"] for p in body) <= view.now
    assert len(body) == 61


def test_measurements_for_a_prefix_and_step(client) -> None:
    body = client.get(
        f"{V1}/measurements", params={"prefix": "198.18.2.0/24", "since": "10m", "step": 300}
    ).json()
    assert {p["prefix"] for p in body} == {"198.18.2.0/24"}
    assert len({p["time"] for p in body}) == 3


def test_utilization(client) -> None:
    body = client.get(f"{V1}/utilization", params={"since": "5m"}).json()
    assert body and all(list(p) == UTIL_KEYS for p in body)
    assert {p["provider"] for p in body} == {"isp1", "isp2", "isp3"}


def test_config_never_shows_a_token(client) -> None:
    body = client.get(f"{V1}/config").json()
    assert body["api"]["write_token"] == "***"
    assert "write-token" not in str(body)


def test_config_redacts_what_the_view_forgot(view) -> None:
    view.config = lambda: {"alerts": {"webhooks": [{"url": "x", "secret": "s3cr3t"}]}}
    body = make_client(ApiConfig(), view).get(f"{V1}/config").json()
    assert body == {"alerts": {"webhooks": [{"url": "x", "secret": "***"}]}}


def test_pin_unpin(client, view) -> None:
    r = client.post(f"{V1}/prefixes/198.18.7.0/24/pin", json={"provider": "isp3"})
    assert r.status_code == 200, r.text
    assert list(r.json()) == PREFIX_KEYS
    assert r.json()["pinned"] == "isp3" and r.json()["exit"] == "isp3"
    assert view._prefixes["198.18.7.0/24"]["pinned"] == "isp3"
    r = client.delete(f"{V1}/prefixes/198.18.7.0_24/pin")
    assert r.status_code == 200 and r.json()["pinned"] is None


def test_pin_unknown_provider_is_404(client) -> None:
    r = client.post(f"{V1}/prefixes/198.18.7.0/24/pin", json={"provider": "nope"})
    assert r.status_code == 404
    assert r.json() == {"error": "unknown provider 'nope'"}


def test_exclude_include(client, view) -> None:
    r = client.post(f"{V1}/prefixes/198.18.0.0/24/exclude")
    assert r.status_code == 200 and r.json()["excluded"] is True
    assert r.json()["exit"] == r.json()["default"]
    r = client.delete(f"{V1}/prefixes/198.18.0.0/24/exclude")
    assert r.status_code == 200 and r.json()["excluded"] is False


def test_pause_resume_dry_run(client, view) -> None:
    r = client.post(f"{V1}/control/pause")
    assert r.status_code == 200 and list(r.json()) == STATUS_KEYS and r.json()["paused"] is True
    assert view.paused
    assert client.post(f"{V1}/control/resume").json()["paused"] is False
    r = client.put(f"{V1}/control/dry-run", json={"enabled": True})
    assert r.status_code == 200 and r.json()["dry_run"] is True
    assert client.put(f"{V1}/control/dry-run", json={"enabled": False}).json()["dry_run"] is False


def test_metrics_exposition(client) -> None:
    client.get(f"{V1}/status")
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = r.text
    assert 'routepilot_provider_healthy{provider="isp1"} 1' in text
    assert 'routepilot_bgp_session_up{router="edge"} 1' in text
    assert "# TYPE routepilot_prefixes gauge" in text
    # Decision rounds are the daemon's controller collector's (routepilot_decision_rounds_total),
    # not the view's as well: one family per quantity on the page.
    assert "routepilot_decision_cycle" not in text
    assert (
        'routepilot_api_requests_total{code="200",method="GET",route="/api/v1/status"} 1.0' in text
    )
    assert "routepilot_api_request_duration_seconds_bucket" in text


def test_metrics_include_the_daemons_counters(view) -> None:
    registry = Registry()
    flows = FlowMetrics()
    flows.records["ipfix"] += 42
    registry.register(flows)
    c = make_client(ApiConfig(), view, registry=registry)
    assert '\nroutepilot_flow_records_total{protocol="ipfix"} 42.0\n' in c.get("/metrics").text


def test_dashboard_files_are_served_when_installed(tmp_path, view) -> None:
    (tmp_path / "index.html").write_text("<h1>routepilot</h1>")
    (tmp_path / "app.js").write_text("console.log(1)")
    c = make_client(ApiConfig(), view, static_dir=tmp_path)
    assert c.get("/").text == "<h1>routepilot</h1>"
    assert c.get("/app.js").text == "console.log(1)"
    assert c.get("/app.js?v=3").text == "console.log(1)"
    assert c.get("/nope.js").status_code == 404
    assert c.get("/api/v1/nope").json() == {"error": "no such endpoint: GET /api/v1/nope"}
    assert c.post("/api/v1/status").status_code == 405
    assert c.get("/api/v1/status").status_code == 200


def test_without_dashboard_root_says_where_the_api_is(view) -> None:
    r = make_client(ApiConfig(), view).get("/")
    assert r.status_code == 404 and "/api/v1" in r.json()["error"]


def test_dashboard_files_never_leave_their_folder(tmp_path, view) -> None:
    static = tmp_path / "static"
    static.mkdir()
    (static / "index.html").write_text("ok")
    (tmp_path / "secret.txt").write_text("TOPSECRET")
    c = make_client(ApiConfig(), view, static_dir=static)
    for path in ("/../secret.txt", "/%2e%2e/secret.txt", "/..%2fsecret.txt", "/static/../../x"):
        r = c.get(path)
        assert r.status_code == 404 and "TOPSECRET" not in r.text, path


def test_looking_glass_for_an_address_is_the_covering_prefix(client, view) -> None:
    body = client.get("/api/v1/routes/198.18.1.7").json()
    assert body["query"] == "198.18.1.7/32" and body["prefix"] == "198.18.1.0/24"
    assert {p["provider"] for p in body["paths"]} == {"isp1", "isp2", "isp3"}
    assert [p["provider"] for p in body["paths"] if p["best"]] == [body["bgp_choice"]]
    detail = client.get("/api/v1/prefixes/198.18.1.0/24").json()
    assert body["bgp_choice"] == detail["default"]
    if detail["exit"] != detail["default"]:
        assert body["injected"]["provider"] == detail["exit"]
    else:
        assert body["injected"] is None


def test_looking_glass_without_a_covering_prefix_is_404(client) -> None:
    r = client.get("/api/v1/routes/203.0.113.0/24")
    assert r.status_code == 404 and "no learned prefix covers" in r.json()["error"]
    assert client.get("/api/v1/routes/not-an-address").status_code == 400


def test_routers_count_paths_per_provider(client, view) -> None:
    (edge,) = client.get("/api/v1/routers").json()
    assert edge["session"] == "established" and edge["route_source"] == "addpath"
    assert edge["paths"] == sum(edge["providers"].values()) > 0
    moved = [p for p in client.get("/api/v1/prefixes?top=1000").json() if p["exit"] != p["default"]]
    assert edge["routes_announced"] == len(moved)


def test_billing_per_provider_with_and_without_the_series(client) -> None:
    body = client.get(f"{V1}/billing").json()
    assert body["source"] == "snmp" and body["percentile"] == 95.0
    isp1 = next(e for e in body["providers"] if e["name"] == "isp1")
    for key in ("mode", "period_start", "samples", "current_bps", "projected_bps",
                "projected_without_bps", "commit_bps", "burst_left", "cost"):  # fmt: skip
        assert key in isp1
    assert "series" not in isp1 or isp1["series"] is None
    full = client.get(f"{V1}/billing", params={"series": "true"}).json()
    isp1 = next(e for e in full["providers"] if e["name"] == "isp1")
    assert len(isp1["series"]) == isp1["samples"]
    ordered = sorted(s["billable_bps"] for s in isp1["series"])
    assert isp1["current_bps"] == ordered[-(-95 * len(ordered) // 100) - 1]


def test_a_move_re_measured_after_it_shows_what_its_new_exit_gave(client, view) -> None:
    """The journal's re-measurement of a move's new exit goes out with the decision, and
    its sentence says it (the dashboard and the CLI show the same sentence)."""
    t = view.now - 60
    row = decision_row(t, "198.18.6.0/24", ("isp1", "isp2"), "isp1", "latency", 1e6,
                       (48.0, 0.0), (12.0, 0.0))  # fmt: skip
    view._journal[:0] = [{**row, "after_time": t + 30, "after_rtt_ms": 12.4, "after_loss": 0.0}]
    d = client.get(f"{V1}/decisions", params={"prefix": "198.18.6.0_24"}).json()[0]
    assert (d["after_time"], d["after_rtt_ms"], d["after_loss"]) == (t + 30, 12.4, 0.0)
    assert d["summary"].endswith(". Re-measured 30 s later through isp2: RTT 12.4 ms, loss 0.0%")
