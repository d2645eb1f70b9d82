"""The dashboard in a real browser against the API serving FakeView.

What a user would check first: the providers are there, moves show with their
reasons, the feed updates by itself, and a prefix page opens with its charts.
Screenshots land in test-artifacts/.
"""

from __future__ import annotations

import re
import time

import pytest

from routepilot.api.config import ApiConfig
from routepilot.api.fake import FakeView

from .browser import chromium_page, screenshot
from .serve import serve

OVERVIEW_READY = "#heatmap table tbody tr"


def test_overview_shows_providers_moves_and_heat_map() -> None:
    view = FakeView()
    with serve(view) as url, chromium_page() as page:
        page.goto(url + "/")
        page.wait_for_selector(OVERVIEW_READY, timeout=20_000)
        page.wait_for_selector("#rtt-chart svg path.series", timeout=20_000)

        providers = page.inner_text("#providers")
        for name in ("isp1", "isp2", "isp3"):
            assert name in providers
        feed = page.locator("#feed tbody tr")
        assert feed.count() >= 1
        first = feed.first.inner_text()
        assert re.search(r"198\.18\.\d+\.0/24", first)
        assert re.search(r"\b(latency|loss|outage|capacity|revert)\b", first)
        assert "→" in first
        # Every provider has a line on the RTT chart and a row in the utilization charts.
        assert page.locator("#rtt-chart path.series").count() == 3
        assert page.locator("#util-chart svg").count() == 3
        # The heat map marks the current exit of each of the 20 busiest prefixes.
        assert page.locator("#heatmap tbody tr").count() == 20
        assert page.locator("#heatmap td.cell.exit").count() == 20
        # With routepilot vs BGP default: FakeView's moves go from 50 ms to 12 ms.
        benefit = page.inner_text("#benefit")
        assert "50.0 ms" in benefit and "12.0 ms" in benefit
        assert page.inner_text("#status").count("established") == 1
        screenshot(page, "dashboard-overview.png")
        # The heat map switches to loss, and to the 10 busiest prefixes.
        page.check("input[name=metric][value=loss]")
        page.wait_for_function(
            "document.querySelector('#heatmap td.cell').textContent.includes('%')"
        )
        assert "5.0%" in page.inner_text("#heatmap")  # FakeView: 5% loss on prefixes 4 and 5
        page.select_option("#top", "10")
        page.wait_for_function("document.querySelectorAll('#heatmap tbody tr').length === 10")
        # A longer period redraws every chart over it, one point per 8 minutes for a day.
        page.select_option("#period", "86400")
        page.wait_for_function(
            "document.querySelector('#benefit-period')?.textContent === 'last 24 h'"
            " && document.querySelectorAll('#rtt-chart path.series').length === 3"
        )
        page.wait_for_selector("#heatmap table tbody tr", timeout=20_000)
        assert page.errors == []  # type: ignore[attr-defined]


def test_feed_picks_up_a_new_move_by_polling() -> None:
    view = FakeView()
    with serve(view) as url, chromium_page() as page:
        page.goto(url + "/")
        page.wait_for_selector("#feed tbody tr", timeout=20_000)
        newest = dict(view.decisions(limit=1)[0])
        newest.update(time=view.now - 1, prefix="198.18.7.0/24", reason="outage")
        view._journal.insert(0, newest)
        page.wait_for_selector("#feed tbody tr.new", timeout=15_000)
        assert "198.18.7.0/24" in page.locator("#feed tbody tr").first.inner_text()
        assert page.errors == []  # type: ignore[attr-defined]


def test_prefix_page_shows_each_provider_and_the_moves_on_one_axis() -> None:
    view = FakeView()
    with serve(view) as url, chromium_page() as page:
        page.goto(url + "/")
        page.wait_for_selector("#feed tbody tr a", timeout=20_000)
        link = page.locator("#feed tbody tr a").first
        prefix = link.inner_text()
        view.confirming.add(prefix)  # its paths are being re-measured before a move
        link.click()
        page.wait_for_selector("#p-rtt svg path.series", timeout=20_000)
        assert prefix in page.inner_text("#prefix-head")
        assert "Confirming: a target's RTT spread was wide" in page.inner_text("#p-why")
        meas = page.inner_text("#p-meas")
        for name in ("isp1", "isp2", "isp3"):
            assert name in meas
        assert page.locator("#p-rtt path.series").count() == 3
        # Moves of the prefix: one marker each on the RTT chart, and the exit band below.
        moves = view.decisions(prefix=prefix, since=view.now - 3600)
        assert moves
        assert page.locator("#p-rtt line.marker").count() == len(moves)
        assert page.locator("#p-rtt rect[fill]").count() >= 1
        assert page.locator("#p-moves tbody tr").count() == len(moves)
        screenshot(page, "dashboard-prefix.png")
        assert page.errors == []  # type: ignore[attr-defined]


def test_prefix_page_shows_the_looking_glass_and_the_traceroutes() -> None:
    """#15's prefix page: every router's path with BGP's pick and routepilot's route, and
    the newest traceroute through each provider with its hops' ASes."""
    view = FakeView()
    prefix = next(p["prefix"] for p in view.prefixes() if p["exit"] != p["default"])
    lg = view.routes(prefix)
    hop = {"ttl": 2, "address": "100.92.101.1", "asn": 64501, "rtt_ms": 2.5, "loss": 0.5}
    view.trace_rows += [
        {"prefix": prefix, "provider": p, "target": "198.18.0.1", "time": view.now - age,
         "reached": True, "asns": [65001, 64501], "hops": [hop]}
        for p, age in (("isp1", 600.0), ("isp1", 60.0), ("isp2", 120.0))
    ]  # fmt: skip
    with serve(view) as url, chromium_page() as page:
        page.goto(url + f"/#/prefix/{prefix}")
        page.wait_for_selector("#p-routes tbody tr", timeout=20_000)
        rows = page.locator("#p-routes tbody tr")
        assert rows.count() == len(lg["paths"])
        best = page.inner_text("#p-routes tbody tr.is-exit")
        assert lg["bgp_choice"] in best and "★" in best
        assert f"BGP picks {lg['bgp_choice']}" in page.inner_text("#p-routes .lg-head")
        assert f"announces {prefix} via {lg['injected']['provider']}" in page.inner_text(
            "#p-injected"
        )
        page.wait_for_selector("#p-traces h3", timeout=20_000)
        heads = page.locator("#p-traces h3").all_inner_texts()
        assert [h.split()[0] for h in heads] == ["isp1", "isp2"]  # newest first, one each
        newest = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(view.now - 60.0))
        assert newest in heads[0] and "AS65001 → AS64501" in heads[0]
        assert "AS64501" in page.inner_text("#p-traces table")
        screenshot(page, "dashboard-prefix-looking-glass.png")
        assert page.errors == []  # type: ignore[attr-defined]


def test_read_token_is_asked_for_once_and_kept() -> None:
    with serve(FakeView(), ApiConfig(read_token="s3cret")) as url, chromium_page(1100, 800) as page:
        page.goto(url + "/")
        page.wait_for_selector("#alert #token", timeout=20_000)
        assert "read token" in page.inner_text("#alert")
        page.fill("#token", "s3cret")
        page.click("#token-save")
        page.wait_for_selector(OVERVIEW_READY, timeout=20_000)
        assert page.locator("#alert").is_hidden()
        assert "isp1" in page.inner_text("#providers")
        page.reload()
        page.wait_for_selector("#providers table", timeout=20_000)
        assert page.locator("#alert").is_hidden()
        screenshot(page, "dashboard-narrow.png")
        # The 401s before the token was given are the only errors the browser logged.
        assert all("401" in e for e in page.errors)  # type: ignore[attr-defined]


class SparseView(FakeView):
    """A controller just started: no cycle yet, unmeasured providers, a move with no numbers."""

    def status(self) -> dict:
        return {**super().status(), "cycle": {"count": 0, "last": None, "duration_ms": None}}

    def providers(self) -> list[dict]:
        return [{**p, "rtt_ms": None, "loss": None} for p in super().providers()]

    def prefix(self, prefix: str) -> dict:
        p = super().prefix(prefix)
        p["measurements"] = [{**m, "rtt_ms": None, "loss": None} for m in p["measurements"]]
        return p

    def decisions(self, *args, **kwargs) -> list[dict]:  # type: ignore[no-untyped-def]
        rows = super().decisions(*args, **kwargs)
        blank = {"to_provider": None, "old_rtt_ms": None, "traffic_bps": None, "old_loss": None}
        return [{**rows[0], **blank}, *rows[1:]] if rows else rows

    def measurements(self, q):  # type: ignore[no-untyped-def]
        return [
            {**r, "rtt_ms": None} if r["time"] % 300 == 0 else r for r in super().measurements(q)
        ]


def test_missing_numbers_show_as_dashes_not_errors() -> None:
    with serve(SparseView()) as url, chromium_page() as page:
        page.goto(url + "/")
        page.wait_for_selector(OVERVIEW_READY, timeout=20_000)
        page.wait_for_selector("#rtt-chart svg path.series", timeout=20_000)
        assert "cycle – ms" in page.inner_text("#status")
        assert "–" in page.inner_text("#providers")
        link = page.locator("#feed tbody tr a").first
        link.click()
        page.wait_for_selector("#p-rtt svg path.series", timeout=20_000)
        assert page.errors == []  # type: ignore[attr-defined]


JS_CHECKS = """async () => {
  const app = await import('./app.js');
  const api = await import('./api.js');
  const prefix = await import('./prefix.js');
  const rows = [
    {time: 0, provider: 'a', prefix: 'p1', rtt_ms: 10, loss: 0.0},
    {time: 0, provider: 'a', prefix: 'p2', rtt_ms: 30, loss: 0.2},
    {time: 0, provider: 'a', prefix: 'p3', rtt_ms: 20, loss: null},
    {time: 60, provider: 'a', prefix: 'p1', rtt_ms: null, loss: null},
  ];
  const moves = [
    {time: 100, prefix: 'p', from_provider: 'a', to_provider: 'b', default_provider: 'a',
     reason: 'latency', traffic_bps: 3e6, old_rtt_ms: 50, new_rtt_ms: 10, old_loss: 0,
     new_loss: 0, dry_run: false},
    {time: 200, prefix: 'q', from_provider: 'a', to_provider: 'c', default_provider: 'a',
     reason: 'loss', traffic_bps: 1e6, old_rtt_ms: 30, new_rtt_ms: 30, old_loss: 0.04,
     new_loss: 0, dry_run: false},
    {time: 300, prefix: 'p', from_provider: 'b', to_provider: 'a', default_provider: 'a',
     reason: 'revert', traffic_bps: 3e6, old_rtt_ms: 10, new_rtt_ms: 12, old_loss: 0,
     new_loss: 0, dry_run: false},
    {time: 350, prefix: 'r', from_provider: 'a', to_provider: 'b', default_provider: 'a',
     reason: 'latency', traffic_bps: 9e9, old_rtt_ms: 90, new_rtt_ms: 10, old_loss: 0,
     new_loss: 0, dry_run: true},
  ];
  const pMoves = moves.filter((d) => d.prefix === 'p');
  return {
    rtt: app.byProvider(rows, 'rtt_ms')[0].points,
    loss: app.byProvider(rows, 'loss')[0].points,
    benefit: app.benefit(moves),
    band: prefix.exitBand(pMoves, 0, 400, 'a').map((b) => [b.t0, b.t1, b.who]),
    ms: [api.ms(0.0153), api.ms(40.26), api.ms(123.4), api.msAxis(12.5), api.msAxis(0.005)],
  };
}"""


def test_dashboard_arithmetic_in_the_browser() -> None:
    """The JS that folds series, weighs the benefit and draws the exit band, by hand."""
    with serve(FakeView()) as url, chromium_page() as page:
        page.goto(url + "/")
        page.wait_for_selector("#providers table", timeout=20_000)
        got = page.evaluate(JS_CHECKS)
    assert got["rtt"] == [[0, 20], [60, None]]  # the median of 10, 20, 30
    assert got["loss"][0] == [0, pytest.approx(0.1)]
    b = got["benefit"]
    # Two applied moves away from the default (the dry-run one is not counted):
    # RTT (3·50 + 1·30) / 4 = 45 → (3·10 + 1·30) / 4 = 15; loss (1·0.04) / 4 = 0.01 → 0.
    assert (b["moves"], b["prefixes"], b["traffic"]) == (2, 2, 4e6)
    assert b["rtt"] == [pytest.approx(45), pytest.approx(15)]
    assert b["loss"] == [pytest.approx(0.01), 0]
    assert b["byReason"] == {"latency": 1, "loss": 1, "revert": 1}
    assert b["dryRun"] == 1
    assert got["band"] == [[0, 100, "a"], [100, 300, "b"], [300, 400, "a"]]
    assert got["ms"] == ["0.015 ms", "40.3 ms", "123 ms", "12.5 ms", "0.005 ms"]


def test_billing_page_draws_the_samples_with_the_95th_line() -> None:
    view = FakeView()
    expected = {e["name"]: e for e in view.billing()["providers"]}
    with serve(view) as url, chromium_page() as page:
        page.goto(url + "/#/billing")
        page.wait_for_selector(".billing-chart svg path.series", timeout=20_000)
        table = page.inner_text("#b-table")
        for name in ("isp1", "isp2", "isp3"):
            assert name in table
        assert "SNMP" in page.inner_text("#b-source")
        # One chart per provider, each with its 95th line; isp1's matches the API's value.
        assert page.locator(".billing-chart").count() == 3
        isp1 = page.locator(".billing-chart[data-name=isp1]").inner_text()
        p95 = expected["isp1"]["current_bps"] / 1e6
        assert f"95th {p95:.1f} Mb/s" in isp1
        assert f"commit {expected['isp1']['commit_bps'] / 1e6:.1f} Mb/s" in isp1
        screenshot(page, "dashboard-billing.png")
        # Back to the overview by the header's link, and to billing again.
        page.click("a.brand")
        page.wait_for_selector(OVERVIEW_READY, timeout=20_000)
        page.click("a.nav")
        page.wait_for_selector(".billing-chart svg path.series", timeout=20_000)
        assert page.errors == []  # type: ignore[attr-defined]


def test_incidents_page_names_the_cause_and_shows_the_evidence() -> None:
    view = FakeView()
    hops = [
        {"ttl": 1, "address": "100.66.1.1", "asn": None, "rtt_ms": 0.1, "loss": 0.0},
        {"ttl": 2, "address": "100.92.1.1", "asn": 65001, "rtt_ms": 5.2, "loss": 0.0},
        {"ttl": 3, "address": "100.92.101.1", "asn": 64501, "rtt_ms": 5.4, "loss": 0.5},
    ]
    now = view.now
    view.incident_rows += [
        {"id": 2, "cause": {"kind": "as", "asn": 64501, "provider": None, "prefix": None},
         "opened": now - 90, "closed": None, "updated": now - 2,
         "prefixes": ["198.18.0.0/24", "198.18.1.0/24", "198.18.2.0/24"],
         "evidence": [{"prefix": "198.18.0.0/24", "provider": "isp1", "loss": 0.1,
                       "rtt_ms": 12.0, "as_path": [65001, 64501, 64600], "hops": hops}]},
        {"id": 1, "cause": {"kind": "prefix", "asn": None, "provider": None,
                            "prefix": "198.18.9.0/24"},
         "opened": now - 900, "closed": now - 600, "updated": now - 610,
         "prefixes": ["198.18.9.0/24"], "evidence": []},
    ]  # fmt: skip
    with serve(view) as url, chromium_page() as page:
        page.goto(url + "/")
        page.wait_for_selector(OVERVIEW_READY, timeout=20_000)
        page.click("a[href='#/incidents']")
        page.wait_for_selector(".incident.open", timeout=20_000)
        assert page.inner_text("#i-count") == "1 open, 1 closed"
        first = page.locator(".incident").first
        assert first.get_attribute("data-kind") == "as"
        text = first.inner_text()
        assert "AS64501" in text and "open" in text and "3 prefixes" in text
        # The evidence: the path, its loss, and the traceroute's hops with their ASNs.
        row = first.locator("table.evidence tbody tr").first.inner_text()
        assert "isp1" in row and "10.0 %" in row and "AS65001 AS64501 AS64600" in row
        assert "100.92.101.1 AS64501" in row
        closed = page.locator(".incident.closed").inner_text()
        assert "198.18.9.0/24" in closed and "closed" in closed
        screenshot(page, "dashboard-incidents.png")
        assert page.errors == []  # type: ignore[attr-defined]
