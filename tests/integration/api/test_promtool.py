"""The whole /metrics page passes Prometheus's own linter (`promtool check metrics`).

promtool comes with Debian's `prometheus` package, which setup installs: the test fails
rather than skips without it, so a machine that lacks it is noticed. The live daemon's
page is checked by tests/lab/test_metrics.py.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from fastapi.testclient import TestClient
from tests.unit.test_metrics import every_collector

from routepilot.api.app import create_app
from routepilot.api.config import ApiConfig
from routepilot.api.fake import FakeView
from routepilot.metrics import Registry


def test_metrics_page_passes_promtool(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: apt-get install prometheus (make setup does)"
    registry = Registry()
    for collector in every_collector(tmp_path):
        if type(collector).__name__ not in (
            "ApiMetrics",
            "ViewMetrics",
            "LimitMetrics",
        ):  # the app adds its own
            registry.register(collector)
    app = create_app(FakeView(), ApiConfig(), registry, static_dir=Path("/nonexistent"))
    client = TestClient(app)
    client.get("/api/v1/status")
    client.get("/api/v1/prefixes/bogus")
    text = client.get("/metrics").text
    assert "routepilot_store_rows_written_total" in text
    r = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    assert r.returncode == 0, r.stdout + r.stderr
