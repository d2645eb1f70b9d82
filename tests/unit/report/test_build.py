"""Whole reports: the demo day's numbers by hand, and rendering from FakeView."""

from __future__ import annotations

import json
import re

import pytest

from routepilot.api.fake import FakeView
from routepilot.report import SlaConfig, build_report, collect, render_html
from routepilot.report.demo import DEMO_SLA, DemoView


@pytest.fixture(scope="module")
def demo() -> dict:
    return build_report(collect(DemoView(), 86400), DEMO_SLA)


def test_demo_latency_benefit_matches_the_story(demo: dict) -> None:
    latency = next(r for r in demo["by_reason"] if r["reason"] == "latency")
    # Moved a minute after isp1 got +40 ms (60 ms against isp2's 25), back five minutes after
    # it ended: 364 minutes counted, 359 of them slow, 5 at isp1's normal 20 ms.
    assert latency["bgp_default"]["rtt_ms"] == pytest.approx((359 * 60 + 5 * 20) / 364)
    assert latency["routepilot"]["rtt_ms"] == pytest.approx(25.0)
    assert latency["moves"] == 4 and latency["prefixes"] == 4
    # 40 + 30 + 20 + 10 Mb/s for 364 minutes.
    assert latency["moved_bytes"] == pytest.approx(100e6 * 364 * 60 / 8)


def test_demo_loss_and_outage_match_the_story(demo: dict) -> None:
    loss = next(r for r in demo["by_reason"] if r["reason"] == "loss")
    assert loss["loss_avoided"] == pytest.approx(0.05 * 239 / 244)
    # The outage: moved 10 s in, so 50 s of its first minute and the 29 minutes after it
    # count as down for each of two prefixes (then 5 minutes after it ended, up again).
    assert demo["outages"]["prefix_minutes"] == pytest.approx(2 * (29 + 50 / 60))
    assert demo["outages"]["bytes_rescued"] == pytest.approx(15e6 * (29 * 60 + 50) / 8)
    outage = next(r for r in demo["by_reason"] if r["reason"] == "outage")
    assert outage["loss_avoided"] == pytest.approx((29 * 60 + 50) / (34 * 60 + 50))
    b = demo["benefit"]
    assert b["rtt_saved_ms"] > 0 and b["loss_avoided"] > 0
    assert b["moves"] == 16 and b["intervals"] == 8


def test_demo_sla_and_cost(demo: dict) -> None:
    sla = {p["name"]: p["sla"] for p in demo["providers"]}
    assert sla["isp1"]["checks"]["rtt_ms"]["met"] is False  # six slow hours of 24: p95 = 60 ms
    assert sla["isp2"]["met"] is True
    assert sla["isp3"]["checks"]["rtt_ms"]["target"] == 35.0
    cost = {p["name"]: p for p in demo["cost"]["providers"]}
    # isp2 carried isp1's 100 Mb/s for six hours: its p95 rose from 40 to 140 Mb/s.
    assert (cost["isp2"]["p95_default_bps"], cost["isp2"]["p95_bps"]) == (40e6, 140e6)


def test_json_is_plain_and_complete() -> None:
    report = build_report(collect(FakeView(), 3600), SlaConfig(rtt_ms=30))
    text = json.dumps(report)
    back = json.loads(text)
    for key in ("period", "providers", "benefit", "by_reason", "outages", "cost", "moves"):
        assert key in back
    assert [p["name"] for p in back["providers"]] == ["isp1", "isp2", "isp3"]
    assert back["period"]["seconds"] == 3600
    assert back["benefit"]["moves"] == 30  # FakeView's whole journal is within the hour


def test_html_is_self_contained_and_shows_every_section() -> None:
    html = render_html(build_report(collect(FakeView(), 86400), SlaConfig(rtt_ms=30)))
    for heading in (
        "With routepilot against BGP",
        "Improvements by reason",
        "Outages avoided",
        "Providers: latency, loss, availability",
        "SLA compliance",
        "Cost and commit",
        "Moves with the most traffic",
    ):
        assert heading in html
    for name in ("isp1", "isp2", "isp3"):
        assert name in html
    assert html.count("<svg") >= 5
    assert html.count("<figure>") == html.count("<svg")  # every plot has its caption
    # Nothing fetched from anywhere: no scripts, no external stylesheets, images or fonts.
    assert "<script" not in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "url(" not in html


def test_milliseconds_keep_the_digits_a_lab_needs() -> None:
    from routepilot.report.html import ms, ms_axis, span

    assert [ms(0.0153), ms(40.26), ms(123.4), ms(None)] == ["0.015 ms", "40.3 ms", "123 ms", "–"]
    assert ms(-0.00002) == "0.000 ms" and ms(-0.02) == "-0.020 ms"
    assert [span(343), span(86400), span(7 * 86400)] == ["6 min", "24 h", "7 d"]
    assert [ms_axis(0), ms_axis(25), ms_axis(12.5), ms_axis(0.005)] == [
        "0 ms",
        "25 ms",
        "12.5 ms",
        "0.005 ms",
    ]
