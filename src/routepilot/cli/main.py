"""The `routepilot` command: every sub-command is registered here and nowhere else."""

from __future__ import annotations

import typer

from routepilot import __version__
from routepilot.cli import api_cmd, config_cmd, flows_cmd, lab_cmd, probe_cmd, report_cmd, run_cmd
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
probe_cmd.register(app)
api_cmd.register(app)
report_cmd.register(app)
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
    keep: bool = typer.Option(True, help="Leave the lab up when the demo ends."),
) -> None:
    """Bring the lab up and show it working (what `make demo` runs)."""
    from routepilot.cli.demo import run_demo

    run_demo(providers=providers, keep=keep)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
