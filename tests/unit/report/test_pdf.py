"""PDF output when chromium is not there: a clear error, not a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from routepilot.cli.main import app
from routepilot.report import ReportError
from routepilot.report.pdf import html_to_pdf


def test_missing_chromium_names_the_package(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ReportError, match="apt-get install chromium"):
        html_to_pdf("<p>x</p>", tmp_path / "r.pdf")
    res = CliRunner().invoke(app, ["report", "--demo", "-f", "pdf", "-o", str(tmp_path / "r.pdf")])
    assert res.exit_code == 2
    assert "needs Chromium" in res.output and "--format html" in res.output
    assert not (tmp_path / "r.pdf").exists()


def test_a_chromium_that_cannot_run_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="cannot run /nonexistent/chromium"):
        html_to_pdf("<p>x</p>", tmp_path / "r.pdf", chromium="/nonexistent/chromium")
