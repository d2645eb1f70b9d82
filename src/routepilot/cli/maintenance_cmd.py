"""`routepilot maintenance start|list|end` and `routepilot reload`, over the REST API."""

from __future__ import annotations

import re

import typer

from routepilot.cli.common import fail, print_json
from routepilot.cli.remote import ApiClient, ApiOpt, JsonOpt, TokenOpt
from routepilot.cli.text import table, when

app = typer.Typer(
    help="Maintenance windows: a provider off limits, its traffic drained if asked.",
    no_args_is_help=True,
)

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_for(text: str) -> float:
    """``90``, ``90s``, ``30m``, ``2h``, ``1h30m``, ``1d`` -> seconds."""
    parts = re.fullmatch(r"(?:\d+(?:\.\d+)?[smhdw]?)+", text.strip())
    if not parts:
        raise ValueError(f"bad duration {text!r}: expected e.g. 90s, 30m, 2h, 1h30m")
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)([smhdw]?)", text):
        total += float(number) * _UNITS[unit or "s"]
    if total <= 0:
        raise ValueError(f"bad duration {text!r}: it must be longer than zero")
    return total


def window_line(w: dict) -> str:
    ident = f"#{w['id']}" if w["id"] is not None else f"config:{w['name']}"
    drain = " drain" if w["drain"] else ""
    reason = f" ({w['reason']})" if w["reason"] else ""
    return (
        f"{ident} {w['provider']} {w['state']}{drain} {when(w['start'])} -> {when(w['end'])}"
        f"{reason}"
    )


@app.command("start")
def start(
    provider: str = typer.Argument(..., help="The provider under maintenance."),
    for_: str = typer.Option(..., "--for", help="How long: 90s, 30m, 2h, 1h30m, 1d."),
    drain: bool = typer.Option(
        False, "--drain", help="Move the traffic whose BGP default is PROVIDER to the others."
    ),
    reason: str = typer.Option("", "--reason", help="Kept with the window (ticket …)."),
    api: str = ApiOpt,
    token: str | None = TokenOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Start a maintenance window now (needs the write token)."""
    try:
        seconds = parse_for(for_)
    except ValueError as exc:
        fail(str(exc))
    body = {"provider": provider, "duration_s": seconds, "drain": drain, "reason": reason}
    w = ApiClient(api, token).call("POST", "/maintenance", body=body)
    print_json(w) if as_json else typer.echo(window_line(w))


@app.command("list")
def list_(api: str = ApiOpt, token: str | None = TokenOpt, as_json: bool = JsonOpt) -> None:
    """Windows in force, to come, and ended within a day."""
    rows = ApiClient(api, token).call("GET", "/maintenance")
    if as_json:
        return print_json(rows)
    if not rows:
        return typer.echo("no maintenance windows")
    body = [
        [
            str(w["id"]) if w["id"] is not None else f"config:{w['name']}",
            w["provider"],
            w["state"],
            "yes" if w["drain"] else "no",
            when(w["start"]),
            when(w["end"]),
            w["cron"] or "",
            w["reason"],
        ]
        for w in rows
    ]
    typer.echo(table(["ID", "PROVIDER", "STATE", "DRAIN", "START", "END", "CRON", "REASON"], body))


@app.command("end")
def end(
    window_id: int = typer.Argument(..., help="The window's id (from `maintenance list`)."),
    api: str = ApiOpt,
    token: str | None = TokenOpt,
    as_json: bool = JsonOpt,
) -> None:
    """End a window started through the API or the CLI now (needs the write token)."""
    w = ApiClient(api, token).call("DELETE", f"/maintenance/{window_id}")
    print_json(w) if as_json else typer.echo(window_line(w))


def reload(api: str = ApiOpt, token: str | None = TokenOpt, as_json: bool = JsonOpt) -> None:
    """Re-read the daemon's configuration file and apply it, or refuse it whole (needs the
    write token); the same as sending the daemon SIGHUP, with the answer."""
    r = ApiClient(api, token).call("POST", "/control/reload")
    if as_json:
        return print_json(r)
    changed = ", ".join(r["changed"]) or "nothing changed"
    typer.echo(f"configuration applied: {changed}")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="maintenance")
    root.command("reload")(reload)
