"""`routepilot config check|dump|reference`."""

from __future__ import annotations

from pathlib import Path

import typer

from routepilot.cli.common import fail
from routepilot.config import Config, ConfigError, dump_yaml, load_file
from routepilot.config.reference import reference_markdown

app = typer.Typer(help="Check and show configuration.", no_args_is_help=True)


@app.command("check")
def check(path: Path = typer.Argument(..., help="Configuration file (YAML).")) -> None:
    """Validate a configuration file; exit 0 and say so when it is valid."""
    try:
        cfg = load_file(path, Config)
    except ConfigError as exc:
        fail(str(exc))
    in_use = [str(fi.exporter) for p in cfg.providers for fi in p.flow_interfaces]
    for warning in cfg.flows.warnings(in_use):
        typer.echo(f"{path}: warning: {warning}", err=True)
    typer.echo(
        f"{path}: ok ({len(cfg.routers)} routers, {len(cfg.providers)} providers, "
        f"dry_run={'on' if cfg.inject.dry_run else 'off'})"
    )
    for warning in warnings(cfg):
        typer.echo(f"{path}: warning: {warning}", err=True)


def warnings(cfg: Config) -> list[str]:
    """What is valid but risky in a configuration."""
    out = []
    if not cfg.inject.dry_run and not cfg.inject.allowlist:
        out.append(
            "inject.allowlist is empty in live mode (inject.dry_run: false): routepilot may "
            "announce a route for any prefix it learns; list the prefixes it may touch"
        )
    return out


@app.command("dump")
def dump(
    path: Path | None = typer.Argument(None, help="File to load; none shows the defaults."),
) -> None:
    """Print the effective configuration, defaults filled in."""
    try:
        cfg = load_file(path, Config) if path else Config()
    except ConfigError as exc:
        fail(str(exc))
    typer.echo(dump_yaml(cfg), nl=False)


@app.command("reference")
def reference() -> None:
    """Print the configuration reference (Markdown), generated from the models."""
    typer.echo(reference_markdown(Config), nl=False)
