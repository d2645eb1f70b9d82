"""`routepilot run -c FILE`: the daemon (built and run by ``run/wiring.py``)."""

from __future__ import annotations

from pathlib import Path

import typer

from routepilot.cli.common import fail
from routepilot.config import Config, ConfigError, load_file


def run(
    config_path: Path = typer.Option(..., "--config", "-c", help="Configuration file (YAML)."),
    netns: str | None = typer.Option(
        None, "--netns", help="Run inside this network namespace; the API stays on the host."
    ),
    api: bool = typer.Option(True, "--api/--no-api", help="Serve the REST API and dashboard."),
) -> None:
    """Run the controller: collect flows, learn routes, probe, decide, inject."""
    from routepilot.run.wiring import StartupError, main

    try:
        config = load_file(config_path, Config)
    except ConfigError as exc:
        fail(str(exc))
    try:
        main(config, netns=netns, serve_api=api, config_path=config_path)
    except StartupError as exc:
        fail(str(exc))
