"""`make demo`'s program, end to end, with the dashboard loaded in a real browser."""

from __future__ import annotations

import re
import subprocess
import sys
import time

from routepilot.lab.core import Lab
from routepilot.lab.spec import default_spec
from tests.integration.web.browser import chromium_page, screenshot
from tests.lab.looplab import free_port

NAME = "rplabz"


def test_demo_moves_traffic_and_the_dashboard_shows_it() -> None:
    port = free_port()
    demo = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "routepilot.cli.main",
            "demo",
            "--speed",
            "6",
            "--exit-at-end",
            "--port",
            str(port),
            "--name",
            NAME,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        with chromium_page() as page:
            # Wait for routepilot's API, then for the scenario's first moves.
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    page.goto(f"http://127.0.0.1:{port}/")
                    page.wait_for_selector("#feed tbody tr", timeout=5_000)
                    break
                except Exception:  # not up yet, or no move yet
                    time.sleep(2)
            providers = page.inner_text("#providers")
            assert all(name in providers for name in ("isp1", "isp2", "isp3"))
            first = page.locator("#feed tbody tr").first.inner_text()
            assert re.search(r"\b(latency|loss|outage|revert)\b", first), first
            assert re.search(r"198\.18\.\d+\.0/24", first)
            screenshot(page, "demo-dashboard.png")
        out, _ = demo.communicate(timeout=180)
        assert demo.returncode == 0, out
        assert "routepilot: 198.18." in out  # moves printed as they happen
        reasons = re.search(r"what routepilot did: (.*)", out)
        assert reasons and "latency" in reasons.group(1) and "outage" in reasons.group(1), out
    finally:
        demo.kill()
        Lab(default_spec(3, 64, NAME)).down()
