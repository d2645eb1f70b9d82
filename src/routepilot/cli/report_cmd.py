"""`routepilot report`: what routepilot did over a period, against BGP's default."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import typer

from routepilot.cli.common import fail
from routepilot.cli.remote import TokenOpt
from routepilot.config import Config, ConfigError, load_file

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
FORMATS = ("html", "pdf", "json")
MAX_POINTS = 5000
"""Points per series the report asks for; the step grows with the period to stay under it."""


def parse_period(text: str) -> float:
    m = _DURATION.match(text.strip())
    if not m or float(m.group(1)) <= 0:
        raise ValueError(f"bad period {text!r}: a number and a unit, e.g. 90m, 24h, 7d, 2w")
    return float(m.group(1)) * _UNITS[m.group(2)]


def step_for(period_s: float) -> float:
    """One point a minute, or coarser whole minutes for long periods."""
    return max(60.0, -(-period_s // (MAX_POINTS * 60)) * 60)


def report(
    period: str = typer.Option("24h", "--period", "-p", help="How far back: 90m, 24h, 7d, 2w."),
    fmt: str = typer.Option("html", "--format", "-f", help="html, pdf or json."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="File to write (default: stdout; routepilot-report.pdf)."
    ),
    config: Path | None = typer.Option(
        None, "--config", "-c", help="Configuration: SLA targets, API address and token."
    ),
    api: str | None = typer.Option(
        None, "--api", help="The controller's API (default: from the config, else :8080)."
    ),
    token: str | None = TokenOpt,
    demo: bool = typer.Option(
        False, "--demo", help="Report on a made-up day (slowdown, loss, outage); no controller."
    ),
) -> None:
    """Latency, loss, availability, SLA, benefit against BGP's default, outages, cost."""
    from routepilot.report import (
        ApiSource,
        ReportError,
        ReportSource,
        build_report,
        collect,
        render_html,
    )
    from routepilot.report.pdf import html_to_pdf

    if fmt not in FORMATS:
        fail(f"bad --format {fmt!r}: one of {', '.join(FORMATS)}")
    try:
        period_s = parse_period(period)
    except ValueError as e:
        fail(str(e))
    try:
        cfg = load_file(config, Config) if config else Config()
    except ConfigError as e:
        fail(str(e))
    if demo:
        from routepilot.report.demo import DEMO_SLA, DemoView

        source: ReportSource = DemoView()
        sla = cfg.sla if config else DEMO_SLA
    else:
        url = api or f"http://{_host(cfg.api.listen)}:{cfg.api.port}"
        source = ApiSource(url, token or cfg.api.read_token or cfg.api.write_token)
        sla = cfg.sla
    try:
        result = build_report(collect(source, period_s, step_for(period_s)), sla)
        if fmt == "json":
            _write(json.dumps(result, indent=1) + "\n", output)
        elif fmt == "html":
            _write(render_html(result), output)
        else:
            out = html_to_pdf(render_html(result), output or Path("routepilot-report.pdf"))
            typer.echo(f"wrote {out}", err=True)
    except ReportError as e:
        fail(str(e))


def _host(listen: str) -> str:
    """Where to reach a server listening on ``listen``."""
    if listen in ("0.0.0.0", ""):
        return "127.0.0.1"
    if listen == "::":
        return "[::1]"
    return f"[{listen}]" if ":" in listen else listen


def _write(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    tmp = output.with_name(f".{output.name}.{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(output)
    typer.echo(f"wrote {output}", err=True)


def register(app: typer.Typer) -> None:
    app.command("report")(report)
