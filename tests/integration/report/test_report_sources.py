"""Reports read over HTTP from a running API, and printed to PDF by Debian's chromium."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from tests.integration.web.serve import serve
from typer.testing import CliRunner

from routepilot.api.config import ApiConfig
from routepilot.api.fake import FakeView
from routepilot.cli.main import app
from routepilot.report import ApiSource, ReportError, build_report, collect, render_html
from routepilot.report.demo import DEMO_SLA, DemoView
from routepilot.report.pdf import html_to_pdf

ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"


def _without_clock(report: dict) -> dict:
    return {k: v for k, v in report.items() if k != "generated"}


def test_report_over_the_api_equals_the_report_of_the_view() -> None:
    view = FakeView()
    direct = build_report(collect(view, 3 * 3600))
    with serve(view) as url:
        remote = build_report(collect(ApiSource(url), 3 * 3600))
    assert _without_clock(remote) == _without_clock(direct)


def test_read_token_is_sent_and_a_missing_one_is_a_clear_error() -> None:
    with serve(FakeView(), ApiConfig(read_token="r-token")) as url:
        with pytest.raises(ReportError, match="HTTP 401"):
            collect(ApiSource(url), 3600)
        assert collect(ApiSource(url, token="r-token"), 3600).providers
        res = CliRunner().invoke(
            app, ["report", "--api", url, "--token", "r-token", "-p", "1h", "-f", "json"]
        )
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["benefit"]["moves"] == 30


def test_pdf_from_the_html(tmp_path: Path) -> None:
    if not shutil.which("chromium"):
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    html = render_html(build_report(collect(DemoView(), 86400), DEMO_SLA))
    out = html_to_pdf(html, tmp_path / "report.pdf")
    data = out.read_bytes()
    assert data.startswith(b"%PDF-")
    assert data.count(b"/Type /Page") - data.count(b"/Type /Pages") >= 2
    if shutil.which("pdftoppm"):
        ARTIFACTS.mkdir(exist_ok=True)
        subprocess.run(
            [
                "pdftoppm",
                "-r",
                "80",
                "-png",
                "-f",
                "1",
                "-l",
                "1",
                str(out),
                str(ARTIFACTS / "report-page"),
            ],
            check=True,
        )
