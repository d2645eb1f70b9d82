"""The operator's actions over the REST API: pin, exclude, pause, dry-run (write token)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer

from routepilot.cli.common import fail, print_json
from routepilot.cli.remote import ApiClient, ApiOpt, JsonOpt, TokenOpt, prefix_path
from routepilot.cli.text import prefix_line


def pin(
    prefix: str = typer.Argument(..., help="A prefix, e.g. 198.18.3.0/24."),
    provider: str = typer.Argument(..., help="The provider to route it through."),
    api: str = ApiOpt,
    token: str | None = TokenOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Route a prefix through a provider until unpinned (needs the write token)."""
    p = ApiClient(api, token).call(
        "POST", f"/prefixes/{prefix_path(prefix)}/pin", body={"provider": provider}
    )
    print_json(p) if as_json else typer.echo(prefix_line(p))


def unpin(
    prefix: str = typer.Argument(..., help="A pinned prefix."),
    api: str = ApiOpt,
    token: str | None = TokenOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Give a pinned prefix back to the policy (needs the write token)."""
    p = ApiClient(api, token).call("DELETE", f"/prefixes/{prefix_path(prefix)}/pin")
    print_json(p) if as_json else typer.echo(prefix_line(p))


def exclude(
    prefix: str = typer.Argument(..., help="A prefix to leave to BGP."),
    api: str = ApiOpt,
    token: str | None = TokenOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Leave a prefix to BGP until included again (needs the write token)."""
    p = ApiClient(api, token).call("POST", f"/prefixes/{prefix_path(prefix)}/exclude")
    print_json(p) if as_json else typer.echo(prefix_line(p))


def include(
    prefix: str = typer.Argument(..., help="An excluded prefix."),
    api: str = ApiOpt,
    token: str | None = TokenOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Let the policy control an excluded prefix again (needs the write token)."""
    p = ApiClient(api, token).call("DELETE", f"/prefixes/{prefix_path(prefix)}/exclude")
    print_json(p) if as_json else typer.echo(prefix_line(p))


def _control(path: str, method: str, body: Any, api: str, token: str | None, as_json: bool) -> None:
    s = ApiClient(api, token).call(method, path, body=body)
    if as_json:
        return print_json(s)
    mode = "paused" if s["paused"] else "active"
    typer.echo(f"control {mode}, dry-run {'on' if s['dry_run'] else 'off'}")


def pause(api: str = ApiOpt, token: str | None = TokenOpt, as_json: bool = JsonOpt) -> None:
    """Stop making changes; announced routes stay (needs the write token)."""
    _control("/control/pause", "POST", None, api, token, as_json)


def resume(api: str = ApiOpt, token: str | None = TokenOpt, as_json: bool = JsonOpt) -> None:
    """Make changes again (needs the write token)."""
    _control("/control/resume", "POST", None, api, token, as_json)


def dry_run(
    mode: str = typer.Argument(..., help="on: recommend only (withdraws injected routes); off."),
    api: str = ApiOpt,
    token: str | None = TokenOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Switch recommendation (dry-run) mode on or off (needs the write token)."""
    if mode.lower() not in ("on", "off"):
        fail(f"dry-run takes on or off, not {mode!r}")
    _control("/control/dry-run", "PUT", {"enabled": mode.lower() == "on"}, api, token, as_json)


COMMANDS: dict[str, Callable[..., Any]] = {
    "pin": pin,
    "unpin": unpin,
    "exclude": exclude,
    "include": include,
    "pause": pause,
    "resume": resume,
    "dry-run": dry_run,
}
