"""`routepilot users …` and `routepilot audit`: people and the trail of what they did.

Two ways in. With ``--config FILE`` the command works on the controller's
database itself, on its host, with no API and no token: that is how the first
admin is made (beside a running daemon too: SQLite's own locking keeps the two
apart). Otherwise it goes through the API (``--api``, ``--token``: an admin's
token for users, an operator's for the audit log), and the change is audited.
A new token is printed once; only its hash is kept.
"""

from __future__ import annotations

import getpass
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import typer

from routepilot.cli.common import fail, print_json
from routepilot.cli.remote import ApiClient, ApiOpt, JsonOpt, TokenOpt

users_app = typer.Typer(
    help="Users of the API and dashboard: viewer, operator or admin.", no_args_is_help=True
)

ConfigOpt = typer.Option(
    None,
    "--config",
    "-c",
    help="Work on this controller's database directly, on its host (no API, no token).",
    exists=True,
    dir_okay=False,
)


@contextmanager
def _accounts(config_path: Path) -> Iterator[Any]:
    """The users of the database the config names, opened beside a running daemon."""
    from routepilot.api.accounts import Accounts
    from routepilot.config import Config, ConfigError, load_file
    from routepilot.store import StoreError, open_store
    from routepilot.store.sqlite import SqliteStore

    try:
        config = load_file(config_path, Config)
    except ConfigError as exc:
        fail(str(exc))
    try:
        try:
            store = open_store(config.store)
        except StoreError:
            if config.store.kind != "sqlite":
                raise
            store = SqliteStore.open_beside(config.store)  # the daemon holds the lock
    except StoreError as exc:
        fail(str(exc), 1)
    try:
        yield Accounts(store, session_ttl_s=config.api.session_ttl_s)
    finally:
        store.close()


def _row(u: Any) -> dict[str, Any]:
    if isinstance(u, dict):
        return u
    return {
        "name": u.name,
        "role": u.role,
        "created": u.created,
        "has_password": u.password_hash is not None,
    }


def _when(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("dashboard password: ")
    if getpass.getpass("again: ") != first:
        fail("the two passwords differ")
    return first


T = TypeVar("T")


def _on_store(config_path: Path, action: Callable[[Any], T]) -> T:
    """``action(accounts)`` on the config's store; a refused action exits with its message."""
    from routepilot.api.view import ActionError

    with _accounts(config_path) as accounts:
        try:
            return action(accounts)
        except ActionError as exc:
            fail(str(exc), 1)


@users_app.command("add")
def add(
    name: str = typer.Argument(..., help="The user's name."),
    role: str = typer.Option(..., "--role", help="viewer, operator or admin."),
    password: bool = typer.Option(
        False, "--password", help="Also set a dashboard password (asked for, twice)."
    ),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the dashboard password from standard input."
    ),
    config: Path | None = ConfigOpt,
    api: str = ApiOpt,
    token: str | None = TokenOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Add a user; prints their API token, once (only its hash is kept)."""
    from routepilot.api.accounts import Role

    secret = _read_password(password_stdin) if (password or password_stdin) else None
    if config is not None:
        user, new = _on_store(config, lambda a: a.add_user(name, Role.parse(role), secret))
        body = {**_row(user), "token": new}
    else:
        payload: dict[str, Any] = {"name": name, "role": role}
        if secret is not None:
            payload["password"] = secret
        body = ApiClient(api, token).call("POST", "/users", body=payload)
    if as_json:
        return print_json(body)
    typer.echo(f"added {body['name']} ({body['role']}); API token, shown this once:")
    typer.echo(body["token"])


@users_app.command("list")
def list_users(
    config: Path | None = ConfigOpt,
    api: str = ApiOpt,
    token: str | None = TokenOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Every user, their role, and whether they can log in to the dashboard."""
    if config is not None:
        with _accounts(config) as accounts:
            rows = [_row(u) for u in accounts.users()]
    else:
        rows = ApiClient(api, token).call("GET", "/users")
    if as_json:
        return print_json(rows)
    if not rows:
        typer.echo("no users (the configured api tokens still work)")
    for r in rows:
        login = "dashboard login" if r["has_password"] else "token only"
        typer.echo(f"{r['name']:<24} {r['role']:<9} {login:<16} since {_when(r['created'])}")


@users_app.command("remove")
def remove(
    name: str = typer.Argument(..., help="The user to remove."),
    config: Path | None = ConfigOpt,
    api: str = ApiOpt,
    token: str | None = TokenOpt,
) -> None:
    """Remove a user: their tokens and dashboard sessions stop working at once."""
    if config is not None:
        _on_store(config, lambda a: a.remove_user(name))
    else:
        ApiClient(api, token).call("DELETE", f"/users/{name}")
    typer.echo(f"removed {name}")


@users_app.command("token")
def rotate(
    name: str = typer.Argument(..., help="The user whose token to replace."),
    config: Path | None = ConfigOpt,
    api: str = ApiOpt,
    token: str | None = TokenOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Revoke the user's tokens and print a new one, once."""
    if config is not None:
        new = _on_store(config, lambda a: a.rotate_token(name))
        body: dict[str, Any] = {"name": name, "token": new}
    else:
        body = ApiClient(api, token).call("POST", f"/users/{name}/token")
    if as_json:
        return print_json(body)
    typer.echo(f"new API token for {name} (the old ones no longer work), shown this once:")
    typer.echo(body["token"])


@users_app.command("password")
def password(
    name: str = typer.Argument(..., help="The user whose dashboard password to set."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from standard input."
    ),
    config: Path | None = ConfigOpt,
    api: str = ApiOpt,
    token: str | None = TokenOpt,
) -> None:
    """Set a user's dashboard password (their open sessions end)."""
    secret = _read_password(password_stdin)
    if config is not None:
        _on_store(config, lambda a: a.set_password(name, secret))
    else:
        ApiClient(api, token).call("PUT", f"/users/{name}/password", body={"password": secret})
    typer.echo(f"password set for {name}")


def audit(
    user: str | None = typer.Option(None, "--user", help="Only this user's writes."),
    action: str | None = typer.Option(None, "--action", help="Only this action (e.g. pause)."),
    since: str | None = typer.Option(None, "--since", help="Start: 1h, 2d, epoch or ISO time."),
    until: str | None = typer.Option(None, "--until", help="End: as --since."),
    limit: int = typer.Option(50, "--limit", min=1, max=10000, help="At most this many."),
    config: Path | None = ConfigOpt,
    api: str = ApiOpt,
    token: str | None = TokenOpt,
    as_json: bool = JsonOpt,
) -> None:
    """The audit log: every write made through the API, newest first."""
    if config is not None:
        rows = _audit_from_store(config, user, action, since, until, limit)
    else:
        params = {"user": user, "action": action, "since": since, "until": until}
        params = {k: v for k, v in params.items() if v is not None}
        rows = ApiClient(api, token).call("GET", "/audit", params={**params, "limit": limit})
    if as_json:
        return print_json(rows)
    if not rows:
        typer.echo("no writes recorded in this window")
    for r in rows:
        who = r["user"] or "(nobody identified)"
        typer.echo(
            f"{_when(r['time'])}  {who:<20} {r['address'] or '-':<15} {r['action']:<12} "
            f"{r['status']} {r['outcome']:<8} {r['method']} {r['path']}"
        )


def _audit_from_store(
    config: Path, user: str | None, action: str | None, since: str | None, until: str | None,
    limit: int,
) -> list[dict[str, Any]]:  # fmt: skip
    from routepilot.api.params import BadInput, parse_time
    from routepilot.store.base import AuditQuery

    now = time.time()
    try:
        start, end = parse_time(since, now, "since"), parse_time(until, now, "until")
    except BadInput as exc:
        fail(str(exc))
    with _accounts(config) as accounts:
        q = AuditQuery(since=start, until=end, user=user, action=action, limit=limit)
        return [json.loads(json.dumps(r.__dict__)) for r in accounts.store.audit(q)]


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
    app.command("audit")(audit)
