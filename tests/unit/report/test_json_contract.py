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
    "incidents",
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
    assert set(r["cost"]) == {"providers", "total", "total_default", "saved", "billing_period"}
    assert r["cost"]["billing_period"] is None  # the demo source has no billing view
    assert all(set(p) == COST for p in r["cost"]["providers"])
    assert r["moves"] and all(set(m) == MOVE for m in r["moves"])
    assert set(r["series"]) == {"rtt_ms", "loss", "rate_bps", "benefit_rtt_ms"}


INCIDENTS = {"total", "open", "by_cause", "list"}
INCIDENT = {"id", "cause", "opened", "closed", "prefixes"}


def test_incidents_are_counted_by_cause() -> None:
    from routepilot.api.fake import FakeView

    view = FakeView()
    now = view.now

    def row(i: int, kind: str, opened: float, closed: float | None) -> dict:
        cause = {"kind": kind, "asn": 64501 if kind == "as" else None,
                 "provider": "isp1" if kind == "provider" else None,
                 "prefix": "198.18.9.0/24" if kind == "prefix" else None}  # fmt: skip
        return {"id": i, "cause": cause, "opened": opened, "closed": closed, "updated": opened,
                "prefixes": ["198.18.0.0/24", "198.18.1.0/24"], "evidence": []}  # fmt: skip

    view.incident_rows += [
        row(1, "as", now - 3000, now - 2000),
        row(2, "prefix", now - 1000, now - 900),
        row(3, "provider", now - 60, None),
        row(4, "as", now - 90000, now - 89000),  # before the hour: not counted
    ]
    r = build_report(collect(view, 3600))
    inc = r["incidents"]
    assert set(inc) == INCIDENTS and all(set(i) == INCIDENT for i in inc["list"])
    assert (inc["total"], inc["open"]) == (3, 1)
    assert inc["by_cause"] == {"as": 1, "provider": 1, "prefix": 1}
    assert [i["id"] for i in inc["list"]] == [1, 2, 3]
    assert inc["list"][0]["prefixes"] == 2
    # The HTML says it too; a source without incidents has no section at all.
    from routepilot.report.html import render_html

    assert "3 incidents in the period (1 still open)" in render_html(r)
    demo = build_report(collect(DemoView(), 86400))
    assert demo["incidents"] is None and "<h2>Incidents</h2>" not in render_html(demo)
