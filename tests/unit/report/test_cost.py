"""95th-percentile billing and the cost counterfactual, checked by hand."""

from __future__ import annotations

import pytest

from routepilot.report.benefit import Interval
from routepilot.report.cost import cost_section, overage_cost, p95, windows


def test_p95_drops_the_top_five_percent_of_windows() -> None:
    assert p95(list(range(1, 101))) == 95  # rank ceil(95) = 95
    assert p95(list(range(1, 21))) == 19  # rank ceil(19) = 19: only the top window dropped
    assert p95([5.0]) == 5.0
    assert p95([]) is None


def test_windows_average_five_minutes() -> None:
    pts = [(0, 10.0), (60, 20.0), (240, 30.0), (300, 100.0), (600, 7.0)]
    assert windows(pts) == [20.0, 100.0, 7.0]


def test_overage_is_charged_above_the_commit_only() -> None:
    assert overage_cost(150e6, 100e6, 2.0) == pytest.approx(100.0)
    assert overage_cost(80e6, 100e6, 2.0) == 0.0
    assert overage_cost(None, 100e6, 2.0) is None


def test_cost_counterfactual_puts_moved_traffic_back_on_the_default() -> None:
    providers = [
        {"name": "a", "commit_bps": 100e6, "cost_per_mbps": 2.0, "capacity_bps": 1e9},
        {"name": "b", "commit_bps": 0.0, "cost_per_mbps": 1.0, "capacity_bps": 1e9},
    ]
    # Twenty 5-minute windows of one point each; a 30 Mb/s prefix moved a → b in the last 10.
    util = []
    for k in range(20):
        moved = k >= 10
        util.append(
            {"time": k * 300.0, "provider": "a", "rate_bps": 120e6 - (30e6 if moved else 0)}
        )
        util.append({"time": k * 300.0, "provider": "b", "rate_bps": 10e6 + (30e6 if moved else 0)})
    iv = Interval("p", "b", "a", "cost", 30e6, 3000.0, 6000.0, {})
    c = cost_section(providers, util, [iv])
    a, b = c["providers"]
    assert (a["p95_bps"], a["p95_default_bps"]) == (120e6, 120e6)  # the top window is pre-move
    assert (b["p95_bps"], b["p95_default_bps"]) == (40e6, 10e6)
    assert a["cost"] == pytest.approx(40.0)  # (120 - 100) Mb/s × 2
    assert b["cost"] == pytest.approx(40.0)
    assert b["cost_default"] == pytest.approx(10.0)
    assert c["saved"] == pytest.approx(50.0 - 80.0)
    assert a["commit_used"] == pytest.approx(1.2)


def test_billing_period_from_the_controllers_billing_view() -> None:
    from routepilot.api.fake import FakeView
    from routepilot.report.cost import billing_period

    view = FakeView()
    b = billing_period(view.billing())
    assert b is not None and b["source"] == "snmp"
    isp1 = next(r for r in b["rows"] if r["name"] == "isp1")
    entry = next(e for e in view.billing()["providers"] if e["name"] == "isp1")
    assert isp1["projected_bps"] == entry["projected_bps"]
    assert isp1["cost_projected_without"] == entry["cost_projected_without"]
    costs = [e["cost_projected"] for e in view.billing()["providers"]]
    assert b["projected_total"] == sum(costs)
    assert billing_period(None) is None


def test_report_shows_the_billing_period_when_the_controller_has_one() -> None:
    from routepilot.api.fake import FakeView
    from routepilot.report.build import build_report
    from routepilot.report.html import render_html
    from routepilot.report.source import collect

    report = build_report(collect(FakeView(), 3600))
    period = report["cost"]["billing_period"]
    assert period is not None and {r["name"] for r in period["rows"]} == {"isp1", "isp2", "isp3"}
    page = render_html(report)
    assert "This billing period, as billed" in page and "interface counters (SNMP)" in page
