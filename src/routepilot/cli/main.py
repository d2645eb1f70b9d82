"""The `routepilot` command: every sub-command is registered here and nowhere else."""

from __future__ import annotations

import typer

from routepilot import __version__
from routepilot.cli import (
    api_cmd,
    backup_cmd,
    config_cmd,
    flows_cmd,
    lab_cmd,
    maintenance_cmd,
    probe_cmd,
    report_cmd,
    run_cmd,
    users_cmd,
)
from routepilot.cli.store_cmd import app as store_app
from routepilot.log import setup_logging

app = typer.Typer(
    name="routepilot",
    help="Intelligent route control for multihomed networks.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(config_cmd.app, name="config")
app.add_typer(lab_cmd.app, name="lab")
app.add_typer(flows_cmd.app, name="flows")
app.add_typer(store_app, name="store")
probe_cmd.register(app)
api_cmd.register(app)
report_cmd.register(app)
maintenance_cmd.register(app)
backup_cmd.register(app)
users_cmd.register(app)
app.command("run")(run_cmd.run)


@app.callback()
def _root(
    log_level: str = typer.Option("warning", "--log-level", help="debug, info, warning, error."),
) -> None:
    setup_logging(log_level)


@app.command("version")
def version() -> None:
    """Print routepilot's version."""
    typer.echo(__version__)


@app.command("demo")
def demo(
    providers: int = typer.Option(3, min=2, max=8, help="Number of providers in the lab."),
    speed: float = typer.Option(1.0, min=0.1, max=20, help="Play the scenario faster."),
    port: int = typer.Option(8080, help="Port of the dashboard and API on 127.0.0.1."),
    exit_at_end: bool = typer.Option(
        False, "--exit-at-end", help="Stop after the scenario, leaving the lab up."
    ),
    name: str = typer.Option("rplab", "--name", help="Lab name (namespaces NAME-NODE)."),
) -> None:
    """The whole product on the lab: routepilot steering around trouble, live (`make demo`)."""
    from routepilot.cli.demo import run_demo

    run_demo(providers=providers, speed=speed, port=port, exit_at_end=exit_at_end, name=name)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
