"""The command line over the REST API: status, providers, prefixes, decisions, explain, actions.

Every command talks to a running controller's API (``--api``, default
http://127.0.0.1:8080) and prints a readable table, or the API's JSON as is
with ``--json``. The environment variables ROUTEPILOT_API and
ROUTEPILOT_TOKEN are read here, at the edge, and nowhere else.

``routepilot api fake`` serves the API over made-up data (api/fake.py), for
trying the dashboard and the CLI without a network; ``routepilot api openapi``
prints the spec.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import typer

from routepilot.api import client
from routepilot.cli.common import fail, print_json

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


def _path(prefix: str) -> str:
    return quote(prefix.strip(), safe="/:._")


# -- formatting ---------------------------------------------------------------


def _rate(bps: float | None) -> str:
    if bps is None:
        return "-"
    for unit, scale in (("Gb/s", 1e9), ("Mb/s", 1e6), ("kb/s", 1e3)):
        if abs(bps) >= scale:
            return f"{bps / scale:.1f} {unit}"
    return f"{bps:.0f} b/s"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _when(t: float | None) -> str:
    if t is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(t))


def _ago(t: float | None, now: float) -> str:
    if t is None:
        return "-"
    s = max(0, int(now - t))
    if s < 120:
        return f"{s}s ago"
    if s < 7200:
        return f"{s // 60}m ago"
    if s < 172800:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m ago"
    return f"{s // 86400}d ago"


def _duration(s: float) -> str:
    s = int(s)
    d, h, m = s // 86400, (s % 86400) // 3600, (s % 3600) // 60
    return f"{d}d {h}h {m}m" if d else f"{h}h {m}m"


def table(headers: list[str], rows: list[list[str]]) -> str:
    """Columns padded to their widest cell; numbers-as-text are left as given."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def _status_text(s: dict) -> str:
    mode = "paused" if s["paused"] else "active"
    dry = "on (recommendations only)" if s["dry_run"] else "off"
    cycle = s["cycle"]
    sessions = ", ".join(f"{k} {v}" for k, v in sorted(s["sessions"].items())) or "none"
    counts = s["counts"]
    lines = [
        f"routepilot {s['version']}, up {_duration(s['now'] - s['started'])}",
        f"control     {mode}, dry-run {dry}",
        f"cycles      {cycle['count']}, last {_ago(cycle['last'], s['now'])}"
        + ("" if cycle["duration_ms"] is None else f", took {cycle['duration_ms']:.1f} ms"),
        f"sessions    {sessions}",
        f"degraded    {'; '.join(s['degraded']) if s['degraded'] else 'no'}",
        f"prefixes    {counts['prefixes']} busy, {counts['active_improvements']} improved, "
        f"{counts['moves_last_hour']} moves in the last hour",
    ]
    return "\n".join(lines)


def _flags(p: dict) -> str:
    flags = []
    if p.get("pinned"):
        flags.append(f"pinned:{p['pinned']}")
    if p.get("excluded"):
        flags.append("excluded")
    return ",".join(flags) or "-"


def _explanation(d: dict | None) -> str:
    if not d:
        return "No decision recorded for this prefix: it follows BGP's default."
    what = "would have moved" if d.get("dry_run") else "moved"
    text = (
        f"{_when(d['time'])}: {what} from {d['from_provider'] or '-'} to "
        f"{d['to_provider'] or '-'} (BGP default {d['default_provider'] or '-'}), "
        f"reason {d['reason']}"
    )
    details = []
    if d.get("old_rtt_ms") is not None or d.get("new_rtt_ms") is not None:
        rtt = f"RTT {_ms(d.get('old_rtt_ms'))} -> {_ms(d.get('new_rtt_ms'))}"
        if d.get("threshold_ms") is not None:
            rtt += f" (threshold {d['threshold_ms']:g} ms)"
        details.append(rtt)
    if d.get("old_loss") is not None or d.get("new_loss") is not None:
        details.append(f"loss {_pct(d.get('old_loss'))} -> {_pct(d.get('new_loss'))}")
    if d.get("traffic_bps") is not None:
        details.append(f"traffic {_rate(d['traffic_bps'])}")
    return text + (": " + ", ".join(details) if details else "") + "."


# -- commands -----------------------------------------------------------------


def status(api: str = ApiOpt, token: str | None = TokenOpt, as_json: bool = JsonOpt) -> None:
    """The controller: mode, cycles, BGP sessions, degradation."""
    s = ApiClient(api, token).call("GET", "/status")
    print_json(s) if as_json else typer.echo(_status_text(s))


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
            _ms(p["rtt_ms"]),
            _pct(p["loss"]),
            _rate(p["rate_bps"]),
            _pct(p["utilization"]),
            _rate(p["capacity_bps"]),
            _rate(p["commit_bps"]) if p["commit_bps"] else "-",
            _rate(p["p95_bps"]),
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
            _rate(p["traffic_bps"]),
            p["exit"] or "-",
            p["default"] or "-",
            p["reason"],
            _ago(p["since"], now),
            _flags(p),
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
            _when(d["time"]),
            d["prefix"],
            f"{d['from_provider'] or '-'} -> {d['to_provider'] or '-'}",
            d["reason"] + (" (dry-run)" if d["dry_run"] else ""),
            f"{_ms(d['old_rtt_ms'])} -> {_ms(d['new_rtt_ms'])}",
            f"{_pct(d['old_loss'])} -> {_pct(d['new_loss'])}",
            _rate(d["traffic_bps"]),
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
    p = ApiClient(api, token).call("GET", f"/prefixes/{_path(prefix)}")
    if as_json:
        return print_json(p)
    typer.echo(
        f"{p['prefix']}: {_rate(p['traffic_bps'])}, exit {p['exit'] or '-'} "
        f"(BGP default {p['default'] or '-'}), reason {p['reason']}, flags {_flags(p)}"
    )
    typer.echo(_explanation(p["explanation"]))
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
                _ms(m["rtt_ms"]),
                _ms(m["rtt_p90_ms"]),
                _pct(m["loss"]),
                "-" if m["loss_low"] is None else f"{_pct(m['loss_low'])}..{_pct(m['loss_high'])}",
                _ms(m["jitter_ms"]),
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


def _prefix_line(p: dict) -> str:
    return (
        f"{p['prefix']}: exit {p['exit'] or '-'} (BGP default {p['default'] or '-'}), "
        f"reason {p['reason']}, flags {_flags(p)}"
    )


def pin(
    prefix: str = typer.Argument(..., help="A prefix, e.g. 198.18.3.0/24."),
    provider: str = typer.Argument(..., help="The provider to route it through."),
    api: str = ApiOpt,
    token: str | None = TokenOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Route a prefix through a provider until unpinned (needs the write token)."""
    p = ApiClient(api, token).call(
        "POST", f"/prefixes/{_path(prefix)}/pin", body={"provider": provider}
    )
    print_json(p) if as_json else typer.echo(_prefix_line(p))


def unpin(
    prefix: str = typer.Argument(..., help="A pinned prefix."),
    api: str = ApiOpt,
    token: str | None = TokenOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Give a pinned prefix back to the policy (needs the write token)."""
    p = ApiClient(api, token).call("DELETE", f"/prefixes/{_path(prefix)}/pin")
    print_json(p) if as_json else typer.echo(_prefix_line(p))


def exclude(
    prefix: str = typer.Argument(..., help="A prefix to leave to BGP."),
    api: str = ApiOpt,
    token: str | None = TokenOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Leave a prefix to BGP until included again (needs the write token)."""
    p = ApiClient(api, token).call("POST", f"/prefixes/{_path(prefix)}/exclude")
    print_json(p) if as_json else typer.echo(_prefix_line(p))


def include(
    prefix: str = typer.Argument(..., help="An excluded prefix."),
    api: str = ApiOpt,
    token: str | None = TokenOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Let the policy control an excluded prefix again (needs the write token)."""
    p = ApiClient(api, token).call("DELETE", f"/prefixes/{_path(prefix)}/exclude")
    print_json(p) if as_json else typer.echo(_prefix_line(p))


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


# -- routepilot api … ---------------------------------------------------------

api_app = typer.Typer(help="The REST API itself: a fake controller to try it, its spec.")


@api_app.command("fake")
def serve_fake(
    listen: str = typer.Option("127.0.0.1", "--listen", help="Address to listen on."),
    port: int = typer.Option(8080, "--port", min=0, max=65535, help="TCP port (0: any free)."),
    write_token: str | None = typer.Option(None, "--write-token", help="Enables actions."),
    read_token: str | None = typer.Option(None, "--read-token", help="Protects reads."),
) -> None:
    """Serve the API and dashboard over made-up, consistent data (no network needed)."""
    import asyncio

    from routepilot.api.app import create_app
    from routepilot.api.config import ApiConfig
    from routepilot.api.fake import FakeView
    from routepilot.api.server import ApiServer

    config = ApiConfig(
        listen=listen, port=port or 8080, write_token=write_token, read_token=read_token
    )
    server = ApiServer(create_app(FakeView(), config), listen, port)

    async def serve() -> None:
        await server.start()
        typer.echo(f"fake controller API on {server.url}/api/v1 (Ctrl-C stops)", err=True)
        try:
            await asyncio.Event().wait()
        finally:
            await server.stop()

    try:
        asyncio.run(serve())
    except OSError as exc:
        fail(str(exc.strerror or exc), 1)
    except KeyboardInterrupt:
        pass


@api_app.command("openapi")
def openapi(
    output: str | None = typer.Argument(None, help="File to write (default: standard output)."),
) -> None:
    """Print (or write) the OpenAPI spec, as committed in docs/openapi.json."""
    from routepilot.api.openapi import main

    main([output] if output else [])


@api_app.command("alert-test")
def alert_test(
    config_file: str = typer.Option(..., "-c", "--config", help="routepilot's YAML config."),
) -> None:
    """Send a test alert to every configured webhook and say which accepted it."""
    import asyncio

    from routepilot.api.alerts import Alert, Alerting
    from routepilot.config import Config, ConfigError, load_file

    try:
        config = load_file(config_file, Config)
    except ConfigError as exc:
        fail(str(exc))
    hooks = config.alerts.webhooks
    if not hooks:
        fail(f"{config_file}: no alerts.webhooks configured")
    now = time.time()
    alert = Alert(
        "test", "routepilot", "firing", "info", "routepilot test alert: webhooks work", {}, now, now
    )

    # One attempt each: the point is to see what a receiver answers, not to wait for it.
    once = config.alerts.model_copy(update={"max_attempts": 1})

    async def send() -> Alerting:
        alerting = Alerting(once)
        await alerting.start()
        alerting.sender.submit(alert)
        await alerting.sender.drain(max(h.timeout_s for h in hooks) + 1)
        await alerting.stop()
        return alerting

    metrics = asyncio.run(send()).sender.metrics
    for i, hook in enumerate(hooks):
        ok = metrics.sent.get(str(i), 0) > 0
        typer.echo(f"webhook {i} {hook.url}: {'accepted' if ok else 'FAILED (see log)'}")
    if len(metrics.sent) < len(hooks):
        raise typer.Exit(1)


COMMANDS = {
    "status": status,
    "providers": providers,
    "prefixes": prefixes,
    "decisions": decisions,
    "explain": explain,
    "pin": pin,
    "unpin": unpin,
    "exclude": exclude,
    "include": include,
    "pause": pause,
    "resume": resume,
    "dry-run": dry_run,
}


def register(app: typer.Typer) -> None:
    """Adds the API commands to the `routepilot` command."""
    for name, func in COMMANDS.items():
        app.command(name)(func)
    app.add_typer(api_app, name="api")
