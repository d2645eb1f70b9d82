"""`routepilot report` from the command line: formats, files, errors in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from routepilot.cli.main import app
from routepilot.cli.report_cmd import parse_period, step_for

runner = CliRunner()


def test_json_to_stdout_and_html_to_a_file(tmp_path: Path) -> None:
    res = runner.invoke(app, ["report", "--demo", "--period", "24h", "--format", "json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["benefit"]["rtt_saved_ms"] > 0
    out = tmp_path / "r.html"
    res = runner.invoke(app, ["report", "--demo", "-f", "html", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert out.read_text().startswith("<!doctype html>")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--period", "yesterday"], "bad period 'yesterday'"),
        (["--period", "0h"], "bad period"),
        (["--format", "docx"], "bad --format 'docx'"),
        (["--api", "http://127.0.0.1:9"], "cannot reach the controller at http://127.0.0.1:9"),
    ],
)
def test_bad_input_is_one_clear_line(args: list[str], message: str) -> None:
    res = runner.invoke(app, ["report", *args])
    assert res.exit_code == 2
    assert message in res.output
    assert "Traceback" not in res.output


def test_config_supplies_sla_targets(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("sla:\n  rtt_ms: 1\n")
    res = runner.invoke(app, ["report", "--demo", "-c", str(cfg), "-f", "json"])
    assert res.exit_code == 0, res.output
    assert {p["sla"]["met"] for p in json.loads(res.stdout)["providers"]} == {False}


def test_periods_and_steps() -> None:
    assert parse_period("90m") == 5400
    assert parse_period("2w") == 14 * 86400
    assert step_for(86400) == 60
    assert step_for(30 * 86400) == 540  # 4800 points of 9 minutes
