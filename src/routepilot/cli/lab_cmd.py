"""`routepilot lab …` (filled in by the lab module)."""

import typer

app = typer.Typer(help="A real multihomed network in Linux namespaces.", no_args_is_help=True)
