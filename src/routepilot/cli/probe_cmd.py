"""`routepilot probe ADDRESS...` and `routepilot traceroute ADDRESS`: one-off measurements.

Providers come from a configuration file (``-c FILE``, their ``probe:`` steering)
or, without one, from ``--source`` addresses given on the command line (each
its own ad-hoc provider), or else one unsteered path through the host's routes.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
from pathlib import Path

import typer

from routepilot.cli.common import fail, print_json
from routepilot.config import Config, ConfigError, load_file
from routepilot.probe.component import steering_of
from routepilot.probe.config import ProbeConfig
from routepilot.probe.oneshot import measure, traceroute
from routepilot.probe.sockets import KINDS, ProbeSetupError, SocketOptions, Steering, family_of

_CONFIG = typer.Option(None, "-c", "--config", help="Configuration file with the providers.")
_SOURCE = typer.Option(
    None, "--source", help="Ad-hoc probe source address (one provider each), without -c."
)
_KIND = typer.Option("icmp", "--kind", help="icmp, tcp or udp.")


def _providers(
    config: Path | None, names: list[str] | None, sources: list[str] | None
) -> tuple[list[tuple[str, Steering]], ProbeConfig]:
    if config is not None and sources:
        fail("give either -c FILE or --source, not both")
    if config is not None:
        try:
            cfg = load_file(config, Config)
        except ConfigError as exc:
            fail(str(exc))
        if not cfg.providers:
            fail(f"{config}: no providers configured")
        chosen = cfg.providers
        if names:
            try:
                chosen = [cfg.provider(n) for n in names]
            except KeyError as exc:
                fail(str(exc.args[0]))
        return [(p.name, steering_of(p)) for p in chosen], cfg.probe
    if names:
        fail("--provider needs -c FILE (providers are defined in the configuration)")
    out = []
    for s in sources or []:
        try:
            addr = ipaddress.ip_address(s)
        except ValueError:
            fail(f"--source {s!r} is not an IP address")
        st = Steering(source=str(addr)) if addr.version == 4 else Steering(source6=str(addr))
        out.append((f"src:{addr}", st))
    return out or [("default", Steering())], ProbeConfig()


def _addresses(values: list[str]) -> list[str]:
    out = []
    for v in values:
        try:
            out.append(str(ipaddress.ip_address(v)))
        except ValueError:
            fail(f"{v!r} is not an IP address (give addresses, not names)")
    return out


def _check_steering(addresses: list[str], providers: list[tuple[str, Steering]]) -> None:
    for a in addresses:
        fam = family_of(a)
        for name, st in providers:
            has_any = st.source or st.source6 or st.mark or st.interface
            if has_any and not (st.source_for(fam) or st.mark or st.interface):
                version = "IPv6 (probe.source6)" if ":" in a else "IPv4 (probe.source)"
                fail(f"provider {name} has no {version} source address to probe {a} through")


def _kind(kind: str) -> str:
    if kind not in KINDS:
        fail(f"unknown probe kind {kind!r} (use icmp, tcp or udp)")
    return kind


def _fmt(v: float) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"


def probe(
    addresses: list[str] = typer.Argument(..., help="Addresses to measure."),
    provider: list[str] = typer.Option(None, "--provider", "-p", help="Provider (repeatable)."),
    kind: str = _KIND,
    count: int = typer.Option(5, "--count", "-n", min=1, max=10000, help="Probes per path."),
    interval: float = typer.Option(
        0.0, "--interval", min=0.0, help="Seconds between rounds; 0 picks the fastest polite one."
    ),
    timeout: float = typer.Option(1.0, "--timeout", min=0.01, help="Seconds to wait for answers."),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable output."),
    config: Path | None = _CONFIG,
    source: list[str] = _SOURCE,
) -> None:
    """Measure addresses through each provider, side by side."""
    targets = _addresses(addresses)
    kind = _kind(kind)
    providers, pcfg = _providers(config, provider, source)
    _check_steering(targets, providers)
    per_target = len(providers) / pcfg.per_target_rate
    overall = len(providers) * len(targets) / pcfg.max_rate
    if interval == 0.0:
        interval = max(0.2, per_target, overall)
    elif interval < per_target:
        fail(
            f"--interval {interval} would send {len(providers) / interval:.1f} probes/s to one "
            f"address, above probe.per_target_rate {pcfg.per_target_rate}"
        )
    elif interval < overall:
        fail(
            f"--interval {interval} would send {len(providers) * len(targets) / interval:.0f} "
            f"probes/s, above probe.max_rate {pcfg.max_rate}"
        )
    opts = SocketOptions(pcfg.tcp_port, pcfg.udp_port, pcfg.payload_bytes)
    try:
        results = asyncio.run(measure(targets, providers, kind, count, interval, timeout, opts))
    except ProbeSetupError as exc:
        fail(str(exc))
    rows = []
    for r in results:
        s = r.summary()
        rows.append(
            {
                "address": r.target,
                "provider": r.provider,
                "kind": r.kind,
                "sent": r.sent,
                "answered": s.answered,
                "unreachable": r.unreachable,
                "loss": s.as_dict()["loss"],
                "loss_low": s.as_dict()["loss_low"],
                "loss_high": s.as_dict()["loss_high"],
                "rtt_min_ms": s.as_dict()["rtt_min_ms"],
                "rtt_median_ms": s.as_dict()["rtt_median_ms"],
                "rtt_p90_ms": s.as_dict()["rtt_p90_ms"],
                "rtt_max_ms": s.as_dict()["rtt_max_ms"],
                "jitter_ms": s.as_dict()["jitter_ms"],
                "responders": sorted(r.responders),
            }
        )
    if json_out:
        print_json(rows)
        return
    head = f"{'ADDRESS':<28} {'PROVIDER':<16} {'KIND':<5} {'SENT':>5} {'RECV':>5} {'LOSS':>6}"
    typer.echo(head + f" {'MIN':>8} {'MEDIAN':>8} {'P90':>8} {'JITTER':>8}  (ms)")
    for row in rows:
        loss = "-" if row["loss"] is None else f"{100 * row['loss']:.1f}%"
        typer.echo(
            f"{row['address']:<28} {row['provider']:<16} {row['kind']:<5} {row['sent']:>5} "
            f"{row['answered']:>5} {loss:>6} {_fmt(row['rtt_min_ms']):>8} "
            f"{_fmt(row['rtt_median_ms']):>8} {_fmt(row['rtt_p90_ms']):>8} "
            f"{_fmt(row['jitter_ms']):>8}"
            + (f"  unreachable={row['unreachable']}" if row["unreachable"] else "")
        )


def trace(
    address: str = typer.Argument(..., help="Address to trace."),
    provider: str = typer.Option(None, "--provider", "-p", help="Provider to trace through."),
    kind: str = _KIND,
    max_hops: int = typer.Option(30, "--max-hops", min=1, max=64),
    queries: int = typer.Option(3, "--queries", "-q", min=1, max=10, help="Probes per hop."),
    timeout: float = typer.Option(1.0, "--timeout", min=0.01),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable output."),
    config: Path | None = _CONFIG,
    source: list[str] = _SOURCE,
) -> None:
    """Trace the path to an address through one provider (TTL-limited probes)."""
    target = _addresses([address])[0]
    kind = _kind(kind)
    providers, pcfg = _providers(config, [provider] if provider else None, source)
    if len(providers) != 1:
        fail("traceroute goes through one provider: give --provider NAME (or one --source)")
    _check_steering([target], providers)
    opts = SocketOptions(pcfg.tcp_port, pcfg.udp_port, pcfg.payload_bytes)
    try:
        hops = asyncio.run(
            traceroute(target, providers[0], kind, max_hops, queries, timeout, options=opts)
        )
    except ProbeSetupError as exc:
        fail(str(exc))
    if json_out:
        print_json(
            [
                {"ttl": h.ttl, "responder": h.responder, "rtts_ms": h.rtts_ms, "reached": h.reached}
                for h in hops
            ]
        )
        return
    typer.echo(f"traceroute to {target} through {providers[0][0]} ({kind}), {max_hops} hops max")
    for h in hops:
        if h.responder is None:
            typer.echo(f"{h.ttl:>3}  *")
        else:
            times = "  ".join(f"{r:.3f} ms" for r in h.rtts_ms)
            typer.echo(f"{h.ttl:>3}  {h.responder}  {times}")
    if not hops or not hops[-1].reached:
        typer.echo(f"{target} not reached within {max_hops} hops")


def register(app: typer.Typer) -> None:
    app.command("probe")(probe)
    app.command("traceroute")(trace)
