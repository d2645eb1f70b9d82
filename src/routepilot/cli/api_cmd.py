"""The command line over the REST API: status, providers, prefixes, decisions, explain.

Every command talks to a running controller's API (``--api``, default
http://127.0.0.1:8080) and prints a readable table, or the API's JSON as is
with ``--json``. The operator's actions are in ``action_cmd.py``, the
``routepilot api …`` tools in ``api_tools_cmd.py``, on-demand measurements in
``ondemand_cmd.py``; options and the client in
``remote.py``, the printing in ``text.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer

from routepilot.cli import action_cmd, api_tools_cmd, ondemand_cmd
from routepilot.cli.common import print_json
from routepilot.cli.remote import ApiClient, ApiOpt, JsonOpt, TokenOpt, prefix_path
from routepilot.cli.text import (
    ago,
    explanation,
    flags,
    ms,
    pct,
    rate,
    status_text,
    table,
    when,
)


def status(api: str = ApiOpt, token: str | None = TokenOpt, as_json: bool = JsonOpt) -> None:
    """The controller: mode, cycles, BGP sessions, degradation."""
    s = ApiClient(api, token).call("GET", "/status")
    print_json(s) if as_json else typer.echo(status_text(s))


def providers(api: str = ApiOpt, token: str | None = TokenOpt, as_json: bool = JsonOpt) -> None:
    """Every provider: session, health, RTT/loss, utilization, commit."""
    rows = ApiClient(api, token).call("GET", "/providers")
    if as_json:
        return print_json(rows)
    body = [
        [
            p["name"],
            str(p["asn"]),
            "up" if p["session_up"] else "DOWN",
            "ok" if p["healthy"] else "FAILING",
            ms(p["rtt_ms"]),
            pct(p["loss"]),
            rate(p["rate_bps"]),
            pct(p["utilization"]),
            rate(p["capacity_bps"]),
            rate(p["commit_bps"]) if p["commit_bps"] else "-",
            rate(p["p95_bps"]),
            str(p["prefixes_routed"]),
        ]
        for p in rows
    ]
    heads = "PROVIDER ASN SESSION HEALTH RTT LOSS RATE UTIL CAPACITY COMMIT P95 PREFIXES"
    typer.echo(table(heads.split(), body))


def prefixes(
    top: int = typer.Option(20, "--top", min=1, max=10000, help="How many, busiest first."),
    api: str = ApiOpt,
    token: str | None = TokenOpt,
    as_json: bool = JsonOpt,
) -> None:
    """The busiest prefixes: traffic, exit, BGP's default and why."""
    client = ApiClient(api, token)
    rows = client.call("GET", "/prefixes", {"top": top})
    if as_json:
        return print_json(rows)
    now = client.call("GET", "/status")["now"] if rows else 0.0
    body = [
        [
            p["prefix"],
            rate(p["traffic_bps"]),
            p["exit"] or "-",
            p["default"] or "-",
            p["reason"],
            ago(p["since"], now),
            flags(p),
        ]
        for p in rows
    ]
    typer.echo(table(["PREFIX", "TRAFFIC", "EXIT", "DEFAULT", "REASON", "MOVED", "FLAGS"], body))


def decisions(
    since: str | None = typer.Option(
        None, "--since", help="1h, 30m, 2d, epoch seconds or ISO time (default: all)."
    ),
    until: str | None = typer.Option(None, "--until", help="Same forms as --since."),
    prefix: str | None = typer.Option(None, "--prefix", help="Only this prefix."),
    provider: str | None = typer.Option(None, "--provider", help="Moves from or to it."),
    reason: str | None = typer.Option(None, "--reason", help="latency, loss, outage …"),
    limit: int = typer.Option(50, "--limit", min=1, max=10000, help="At most this many."),
    api: str = ApiOpt,
    token: str | None = TokenOpt,
    as_json: bool = JsonOpt,
) -> None:
    """The decisions journal, newest first."""
    params = {
        "since": since,
        "until": until,
        "prefix": prefix,
        "provider": provider,
        "reason": reason,
        "limit": limit,
    }
    rows = ApiClient(api, token).call("GET", "/decisions", params)
    if as_json:
        return print_json(rows)
    body = [
        [
            when(d["time"]),
            d["prefix"],
            f"{d['from_provider'] or '-'} -> {d['to_provider'] or '-'}",
            d["reason"] + (" (dry-run)" if d["dry_run"] else ""),
            f"{ms(d['old_rtt_ms'])} -> {ms(d['new_rtt_ms'])}",
            f"{pct(d['old_loss'])} -> {pct(d['new_loss'])}",
            rate(d["traffic_bps"]),
        ]
        for d in rows
    ]
    typer.echo(table(["TIME", "PREFIX", "MOVE", "REASON", "RTT", "LOSS", "TRAFFIC"], body))
    if not rows:
        typer.echo("(no decisions match)")


def explain(
    prefix: str = typer.Argument(..., help="A prefix, e.g. 198.18.3.0/24."),
    api: str = ApiOpt,
    token: str | None = TokenOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Why a prefix leaves by the provider it does, with every provider's measurements."""
    p = ApiClient(api, token).call("GET", f"/prefixes/{prefix_path(prefix)}")
    if as_json:
        return print_json(p)
    typer.echo(
        f"{p['prefix']}: {rate(p['traffic_bps'])}, exit {p['exit'] or '-'} "
        f"(BGP default {p['default'] or '-'}), reason {p['reason']}, flags {flags(p)}"
    )
    typer.echo(explanation(p["explanation"]))
    policy = p.get("policy")
    if policy:
        parts = [policy.get("text"), policy.get("note")]
        if policy.get("allowlist"):
            parts.insert(1, f"allowlist entry {policy['allowlist']}")
        typer.echo("policy: " + "; ".join(x for x in parts if x))
    body = []
    for m in p["measurements"]:
        role = [
            r for r, who in (("exit", p["exit"]), ("default", p["default"])) if who == m["provider"]
        ]
        body.append(
            [
                m["provider"] + (f" ({','.join(role)})" if role else ""),
                "yes" if m["has_route"] else "NO",
                "-" if m["as_path_len"] is None else str(m["as_path_len"]),
                ms(m["rtt_ms"]),
                ms(m["rtt_p90_ms"]),
                pct(m["loss"]),
                "-" if m["loss_low"] is None else f"{pct(m['loss_low'])}..{pct(m['loss_high'])}",
                ms(m["jitter_ms"]),
                str(m["samples"]),
            ]
        )
    typer.echo("")
    typer.echo(
        table(
            ["PROVIDER", "ROUTE", "ASPATH", "RTT", "P90", "LOSS", "LOSS-CI", "JITTER", "SAMPLES"],
            body,
        )
    )


def routers(api: str = ApiOpt, token: str | None = TokenOpt, as_json: bool = JsonOpt) -> None:
    """Every router: BGP session, whether its table is in, paths per provider, routes
    announced to it."""
    rows = ApiClient(api, token).call("GET", "/routers")
    if as_json:
        return print_json(rows)
    body = [
        [
            r["name"],
            r["address"] or "-",
            "up" if r["session"] == "established" else "DOWN",
            r["route_source"],
            "yes" if r["synced"] else "no",
            str(r["paths"]),
            " ".join(f"{p}:{n}" for p, n in r["providers"].items()) or "-",
            str(r["routes_announced"]),
        ]
        for r in rows
    ]
    heads = ["ROUTER", "ADDRESS", "SESSION", "SOURCE", "SYNCED", "PATHS", "PROVIDERS", "ANNOUNCED"]
    typer.echo(table(heads, body))


def routes(
    prefix: str = typer.Argument(..., help="A prefix or an address, e.g. 198.18.3.7."),
    api: str = ApiOpt,
    token: str | None = TokenOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Looking glass: every path the routers sent for the prefix covering it, BGP's pick,
    and what routepilot announces."""
    r = ApiClient(api, token).call("GET", f"/routes/{prefix_path(prefix)}")
    if as_json:
        return print_json(r)
    injected = r["injected"]
    if injected is None:
        now = "routepilot announces nothing: BGP decides"
    else:
        mode = " (dry-run: would announce)" if r["dry_run"] else ""
        now = (
            f"routepilot announces via {injected['provider'] or '?'}{mode}: next hop "
            f"{injected['next_hop']}, local-pref {injected['local_pref']}, "
            f"communities {' '.join(injected['communities']) or '-'}"
        )
    typer.echo(f"{r['query']} is covered by {r['prefix']}; BGP picks {r['bgp_choice'] or '-'}")
    typer.echo(now)
    body = [
        [
            ("*" if p["best"] else " ") + (" own" if p["own"] else ""),
            p["router"],
            p["provider"] or "-",
            p["next_hop"],
            " ".join(str(a) for a in p["as_path"]) or "(empty)",
            "-" if p["local_pref"] is None else str(p["local_pref"]),
            "-" if p["med"] is None else str(p["med"]),
            " ".join(p["communities"]) or "-",
        ]
        for p in r["paths"]
    ]
    typer.echo("")
    heads = [
        "BEST",
        "ROUTER",
        "PROVIDER",
        "NEXT-HOP",
        "AS-PATH",
        "LOCAL-PREF",
        "MED",
        "COMMUNITIES",
    ]
    typer.echo(table(heads, body))


COMMANDS: dict[str, Callable[..., Any]] = {
    "status": status,
    "providers": providers,
    "prefixes": prefixes,
    "decisions": decisions,
    "explain": explain,
    "routes": routes,
    "routers": routers,
    **action_cmd.COMMANDS,
    **ondemand_cmd.COMMANDS,
}


def register(app: typer.Typer) -> None:
    """Adds the API commands to the `routepilot` command."""
    for name, func in COMMANDS.items():
        app.command(name)(func)
    app.add_typer(api_tools_cmd.api_app, name="api")
