"""The prefix page's "Probe now" and "Traceroute" buttons in a real browser, over the real
API with FakeView (the checks real, the packets made up: api/fake_ondemand.py). The same
buttons against a lab controller sending real packets: tests/lab/test_incidents.py."""

from __future__ import annotations

from routepilot.api.fake import FakeView
from routepilot.api.fake_ondemand import fake_measurer

from .browser import chromium_page, screenshot
from .serve import serve
from .test_roles import CONFIG, log_in, people

PREFIX = "198.18.3.0/24"


def test_an_operator_probes_and_traces_from_the_prefix_page() -> None:
    view = FakeView()
    with (
        serve(view, CONFIG, people(), fake_measurer(view)) as url,
        chromium_page(1280, 900) as page,
    ):
        log_in(page, url, "otto")
        page.goto(f"{url}/#/prefix/{PREFIX}")
        page.wait_for_selector("#probe-now", timeout=20_000)
        assert page.input_value("#od-address") == "198.18.3.1"
        page.fill("#od-count", "5")
        page.click("#probe-now")
        page.wait_for_selector("#od-probe tbody tr", timeout=10_000)
        rows = page.locator("#od-probe tbody tr").all_inner_texts()
        assert [r.split("\t")[0].strip() for r in rows] == ["isp1", "isp2", "isp3"]
        shown = {m["provider"]: m["rtt_ms"] for m in view.prefix(PREFIX)["measurements"]}
        cells = rows[1].split("\t")
        assert cells[1:4] == ["5", "5", "0.0%"], cells
        assert cells[4] == f"{shown['isp2']:.1f} ms", cells  # min: FakeView's RTT
        assert "198.18.3.1" in cells[-1]
        # The page's next refresh (every 5 s) keeps the result on screen.
        with page.expect_response(lambda r: r.url.endswith(f"/api/v1/prefixes/{PREFIX}"),
                                  timeout=15_000):  # fmt: skip
            pass
        page.wait_for_function("document.querySelectorAll('#p-meas tbody tr').length === 3")
        assert page.locator("#od-probe tbody tr").count() == 3
        assert "198.18.3.1 (in 198.18.3.0/24)" in page.inner_text("#od-summary")
        screenshot(page, "prefix-probe-now.png")
        page.select_option("#trace-via", "isp2")
        page.click("#traceroute")
        page.wait_for_selector("#od-trace tbody tr", timeout=10_000)
        hops = page.locator("#od-trace tbody tr").all_inner_texts()
        assert [h.split("\t")[1:3] for h in hops] == [
            ["100.64.0.1", "–"], ["100.64.2.2", "AS65002"], ["198.18.3.1", "AS64500"],
        ]  # fmt: skip
        assert "through isp2: reached" in page.inner_text("#od-summary")
        # Outside the allowed ranges: refused, the reason shown, nothing measured.
        page.fill("#od-address", "8.8.8.8")
        page.click("#probe-now")
        page.wait_for_function("document.querySelector('#od-error').textContent !== ''")
        assert "outside what routepilot may probe" in page.inner_text("#od-error")
        assert page.locator("#od-probe, #od-trace").count() == 0
        page.fill("#od-address", "ns1.example.com")
        page.click("#traceroute")
        page.wait_for_function("document.querySelector('#od-error').textContent.includes('name')")
        # The two refusals are the only errors the browser logged.
        assert len(page.errors) == 2 and all("40" in e for e in page.errors), page.errors  # type: ignore[attr-defined]


def test_a_viewer_gets_no_buttons() -> None:
    view = FakeView()
    with (
        serve(view, CONFIG, people(), fake_measurer(view)) as url,
        chromium_page(1280, 900) as page,
    ):
        log_in(page, url, "vera")
        page.goto(f"{url}/#/prefix/{PREFIX}")
        page.wait_for_selector("#p-meas table", timeout=20_000)
        assert page.locator("#probe-now, #traceroute").count() == 0
        assert page.locator("#p-check").is_hidden()
        assert page.errors == []  # type: ignore[attr-defined]
