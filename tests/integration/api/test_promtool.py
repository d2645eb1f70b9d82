"""The whole /metrics page passes Prometheus's own linter (`promtool check metrics`).

promtool comes with Debian's `prometheus` package; without it the test is skipped.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from routepilot.api.alerts import Alerting
from routepilot.api.app import create_app
from routepilot.api.config import AlertsConfig, ApiConfig, WebhookConfig
from routepilot.api.fake import FakeView

PROMTOOL = shutil.which("promtool")


@pytest.mark.skipif(PROMTOOL is None, reason="promtool (Debian prometheus) is not installed")
def test_metrics_page_passes_promtool() -> None:
    alerting = Alerting(AlertsConfig(webhooks=[WebhookConfig(url="http://127.0.0.1:9/x")]))
    app = create_app(
        FakeView(), ApiConfig(), metrics=alerting.render, static_dir=Path("/nonexistent")
    )
    client = TestClient(app)
    client.get("/api/v1/status")
    client.get("/api/v1/prefixes/bogus")
    text = client.get("/metrics").text
    r = subprocess.run(
        [PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    assert r.returncode == 0, r.stdout + r.stderr
