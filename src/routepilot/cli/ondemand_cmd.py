"""`routepilot probe-now` and `routepilot traceroute-now`: the controller measures, now.

The API's on-demand measurements (``POST /api/v1/probe``, ``/api/v1/traceroute``): sent
from where routepilot probes, with each provider's steering, held to the prefixes it
learned from the routers (operator role, rate-limited). `routepilot probe` and
`routepilot traceroute` measure from the host the command runs on instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer

from routepilot.cli.common import print_json
from routepilot.cli.remote import ApiClient, ApiOpt, JsonOpt, TokenOpt
from routepilot.cli.text import pct, table

_KIND = typer.Option("icmp", "--kind", help="icmp, tcp or udp.")
TIMEOUT_S = 120.0
"""A probe train may take up to probe.on_demand.max_duration_s (at most 300 s)."""


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def probe_now(
    address: str = typer.Argument(..., help="An address inside a prefix routepilot learned."),
    provider: list[str] = typer.Option(
        None, "--provider", "-p", help="Provider (repeatable; default: every one with a route)."
    ),
    kind: str = _KIND,
    count: int = typer.Option(10, "--count", "-n", min=1, max=100, help="Probes per provider."),
    api: str = ApiOpt,
    token: str | None = TokenOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Ask the controller to probe an address now through each provider (operator role)."""
    body = {"address": address, "kind": kind, "count": count, "providers": provider or None}
    r = ApiClient(api, token, timeout=TIMEOUT_S).call("POST", "/probe", body=body)
    if as_json:
        return print_json(r)
    typer.echo(
        f"{r['kind']} probes to {r['address']} (in {r['prefix']}), {r['count']} through each "
        f"provider, {r['interval_s']:g} s apart"
    )
    rows = [
        [
            x["provider"], str(x["sent"]), str(x["answered"]), pct(x["loss"]),
            _ms(x["rtt_min_ms"]), _ms(x["rtt_median_ms"]), _ms(x["rtt_p90_ms"]),
            _ms(x["rtt_max_ms"]), _ms(x["jitter_ms"]), ",".join(x["responders"]) or "-",
        ]
        for x in r["results"]
    ]  # fmt: skip
    heads = "PROVIDER SENT RECV LOSS MIN MEDIAN P90 MAX JITTER(ms) ANSWERED-BY"
    typer.echo(table(heads.split(), rows))


def traceroute_now(
    address: str = typer.Argument(..., help="An address inside a prefix routepilot learned."),
    provider: str = typer.Option(..., "--provider", "-p", help="Provider to trace through."),
    kind: str = _KIND,
    api: str = ApiOpt,
    token: str | None = TokenOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Ask the controller to traceroute an address through one provider, hops with their AS
    (operator role)."""
    body = {"address": address, "provider": provider, "kind": kind}
    r = ApiClient(api, token, timeout=TIMEOUT_S).call("POST", "/traceroute", body=body)
    if as_json:
        return print_json(r)
    end = "reached" if r["reached"] else "NOT reached"
    typer.echo(f"{r['kind']} traceroute to {r['address']} through {r['provider']}: {end}")
    rows = [
        [
            str(h["ttl"]), h["responder"] or "*", f"AS{h['asn']}" if h["asn"] else "-",
            " ".join(f"{v:.3f}" for v in h["rtts_ms"]) or "-", pct(h["loss"]),
        ]
        for h in r["hops"]
    ]  # fmt: skip
    typer.echo(table(["TTL", "RESPONDER", "AS", "RTTS(ms)", "LOSS"], rows))


COMMANDS: dict[str, Callable[..., Any]] = {
    "probe-now": probe_now,
    "traceroute-now": traceroute_now,
}
