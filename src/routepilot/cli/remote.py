"""The CLI's side of the REST API: the --api, --token and --json options and a client
whose failures are one clear line.

The environment variables ROUTEPILOT_API and ROUTEPILOT_TOKEN are read here, at
the edge, and nowhere else: every command that talks to a controller takes
these options.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import typer

from routepilot.api import client
from routepilot.cli.common import fail

DEFAULT_API = "http://127.0.0.1:8080"

ApiOpt = typer.Option(
    DEFAULT_API, "--api", envvar="ROUTEPILOT_API", help="Base URL of the controller's API."
)
TokenOpt = typer.Option(
    None,
    "--token",
    envvar="ROUTEPILOT_TOKEN",
    help="Bearer token (the write token for actions).",
    show_default=False,
)
JsonOpt = typer.Option(False, "--json", help="Print the API's JSON instead of a table.")


class ApiClient(client.ApiClient):
    """The API client whose failures are one clear line and exit 1."""

    def call(self, method: str, path: str, params: dict | None = None, body: Any = None) -> Any:
        try:
            return super().call(method, path, params, body)
        except client.ApiUnreachable as exc:
            hint = (
                ""
                if exc.detail == ""
                else (": is the controller running? (set --api or ROUTEPILOT_API)")
            )
            fail(f"{exc}{hint}", 1)
        except client.ApiError as exc:
            fail(str(exc), 1)


def prefix_path(prefix: str) -> str:
    return quote(prefix.strip(), safe="/:._")
