"""The JSON report's field names are a contract (scripts and dashboards read them)."""

from __future__ import annotations

from routepilot.report import SlaConfig, build_report, collect
from routepilot.report.demo import DemoView

TOP = {
    "report",
    "version",
    "generated",
    "period",
    "providers",
    "benefit",
    "by_reason",
    "outages",
    "cost",
    "moves",
    "series",
}
PERIOD = {"since", "until", "since_iso", "until_iso", "seconds", "step_s"}
SUMMARY = {
    "intervals",
    "prefixes",
    "moved_bytes",
    "moved_share",
    "bgp_default",
    "routepilot",
    "rtt_saved_ms",
    "rtt_saved_all_traffic_ms",
    "loss_avoided",
    "bytes_not_lost",
    "intervals_estimated",
}
BENEFIT = SUMMARY | {"moves", "dry_run_moves", "journal_truncated"}
PROVIDER = {"name", "asn", "rtt_ms", "loss", "minutes", "down_minutes", "availability", "sla"}
OUTAGES = {"down_loss", "outage_moves", "prefixes", "prefix_minutes", "bytes_rescued"}
COST = {
    "name",
    "commit_bps",
    "capacity_bps",
    "cost_per_mbps",
    "p95_bps",
    "p95_default_bps",
    "commit_used",
    "commit_used_default",
    "cost",
    "cost_default",
}
MOVE = {
    "prefix",
    "reason",
    "from",
    "to",
    "start",
    "end",
    "traffic_bps",
    "minutes_measured",
    "estimated",
    "rtt_default_ms",
    "rtt_chosen_ms",
    "loss_default",
    "loss_chosen",
    "outage_minutes",
}


def test_field_names() -> None:
    r = build_report(collect(DemoView(), 86400), SlaConfig(rtt_ms=50))
    assert set(r) == TOP
    assert set(r["period"]) == PERIOD
    assert set(r["benefit"]) == BENEFIT
    assert set(r["benefit"]["bgp_default"]) == set(r["benefit"]["routepilot"]) == {"rtt_ms", "loss"}
    assert all(set(x) == SUMMARY | {"reason", "moves"} for x in r["by_reason"])
    assert all(set(p) == PROVIDER for p in r["providers"])
    assert set(r["providers"][0]["rtt_ms"]) == {"mean", "p50", "p90", "p95", "p99"}
    assert set(r["providers"][0]["loss"]) == {"mean", "p95", "max"}
    assert set(r["providers"][0]["sla"]) == {"met", "checks"}
    assert set(r["providers"][0]["sla"]["checks"]["rtt_ms"]) == {
        "target",
        "measured",
        "met",
        "quantile",
    }
    assert set(r["outages"]) == OUTAGES
    assert set(r["cost"]) == {"providers", "total", "total_default", "saved"}
    assert all(set(p) == COST for p in r["cost"]["providers"])
    assert r["moves"] and all(set(m) == MOVE for m in r["moves"])
    assert set(r["series"]) == {"rtt_ms", "loss", "rate_bps", "benefit_rtt_ms"}
