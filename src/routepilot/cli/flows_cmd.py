"""`routepilot flows decode|listen`: check a router's export, or watch live traffic."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from routepilot.cli.common import fail, print_json
from routepilot.config import Config, ConfigError, load_file

if TYPE_CHECKING:
    from routepilot.flows.config import FlowsConfig
    from routepilot.flows.pipeline import FlowPipeline

app = typer.Typer(
    help="Flow collection: decode captures, listen for exports.", no_args_is_help=True
)


def _config(path: Path | None) -> Config:
    try:
        return load_file(path, Config) if path else Config()
    except ConfigError as exc:
        fail(str(exc))


@app.command("decode")
def decode(
    pcap: Path = typer.Option(..., "--pcap", help="Capture of NetFlow/IPFIX/sFlow datagrams."),
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    config: Path | None = typer.Option(
        None, "--config", help="Configuration (providers, prefixes)."
    ),
    records: int = typer.Option(0, "--records", min=0, help="Also list up to N records."),
    top: int = typer.Option(20, "--top", min=1, help="Aggregate rows shown in text output."),
) -> None:
    """Decode a capture offline: templates per exporter, record counts, traffic per prefix."""
    from routepilot.flows.offline import decode_capture
    from routepilot.flows.pcap import PcapError

    cfg = _config(config)
    if not pcap.is_file():
        fail(f"{pcap}: no such file")
    try:
        report = decode_capture(pcap, cfg.flows, cfg.providers, cfg.prefixes, records)
    except PcapError as exc:
        fail(f"{pcap}: {exc}")
    if json_out:
        print_json(report)
        return
    typer.echo(f"{pcap}: {report['datagrams']} datagrams")
    for e in report["exporters"]:
        if e["version"] == "sflow5":
            typer.echo(
                f"  exporter {e['exporter']} sFlow v5 agent {e['agent']}/{e['sub_agent']}: "
                f"{e['datagrams']} datagrams, {e['records']} samples, sampling 1:{e['sampling']}"
            )
            continue
        typer.echo(
            f"  exporter {e['exporter']} v{e['version']} domain {e['domain']}: "
            f"{e['records']} records, sampling 1:{e['sampling']}"
            + (f" samplers {e['samplers']}" if e["samplers"] else "")
        )
        for t in e["templates"]:
            kind = "options" if t["options"] else "data"
            length = t["record_length"] or "variable"
            typer.echo(f"    template {t['id']} ({kind}): {t['fields']} fields, {length} bytes")
    typer.echo("records: " + ", ".join(f"{k} {v}" for k, v in report["records"].items()))
    if report["drops"]:
        typer.echo("drops: " + ", ".join(f"{k} {v}" for k, v in report["drops"].items()))
    typer.echo(
        f"total (scaled for sampling): {report['total_bytes']} bytes, "
        f"{report['total_packets']} packets; unattributed records: "
        f"{report['unattributed_records']}"
    )
    typer.echo(f"{'prefix':<24} {'provider':<12} {'bytes':>14} {'packets':>10}")
    for row in report["aggregate"][:top]:
        typer.echo(
            f"{row['prefix']:<24} {row['provider'] or '-':<12} {row['bytes']:>14} "
            f"{row['packets']:>10}"
        )


@app.command("listen")
def listen(
    config: Path | None = typer.Option(None, "--config", help="Configuration file."),
    port: list[int] = typer.Option([], "--port", help="Listen on these ports instead."),
    address: str | None = typer.Option(None, "--address", help="Address to bind."),
    interval: float = typer.Option(10.0, "--interval", min=0.5, help="Seconds between reports."),
    top: int = typer.Option(10, "--top", min=1, help="Prefixes shown."),
    duration: float = typer.Option(0.0, "--duration", min=0, help="Stop after N s (0: never)."),
    json_out: bool = typer.Option(False, "--json", help="Print each report as JSON."),
) -> None:
    """Run the collector alone and print the live top-N prefixes."""
    cfg = _config(config)
    flows = cfg.flows
    update: dict[str, object] = {"window_s": min(flows.window_s, interval)}
    if address:
        update["listen_address"] = address
    if port:
        ports = (port * 3)[:3]
        update.update(netflow_port=ports[0], ipfix_port=ports[1], sflow_port=ports[2])
    flows = flows.model_copy(update=update)
    try:
        asyncio.run(_listen(cfg, flows, interval, top, duration, json_out))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        fail(f"cannot listen: {exc}")


async def _listen(
    cfg: Config, flows: FlowsConfig, interval: float, top: int, duration: float, json_out: bool
) -> None:
    from routepilot.flows.collector import FlowCollector
    from routepilot.flows.pipeline import FlowPipeline

    pipeline = FlowPipeline(flows, cfg.providers, cfg.prefixes, start=time.time())
    collector = FlowCollector(flows, pipeline)
    await collector.start()
    typer.echo(f"listening on {flows.listen_address} ports {collector.ports}", err=True)
    started = time.monotonic()
    try:
        while not duration or time.monotonic() - started < duration:
            await asyncio.sleep(interval if not duration else min(interval, duration))
            _report(pipeline, top, json_out)
    finally:
        await collector.stop()


def _report(pipeline: FlowPipeline, top: int, json_out: bool) -> None:
    snap = pipeline.snapshot(time.time())
    m = pipeline.metrics
    if json_out:
        print_json(
            {
                "time": snap.time,
                "prefixes": [
                    {
                        "prefix": p,
                        "bps": float(snap.bps[i].sum() + snap.prefix_unattributed_bps[i]),
                        "unattributed_bps": float(snap.prefix_unattributed_bps[i]),
                        "providers": dict(zip(snap.providers, snap.bps[i].tolist(), strict=True)),
                    }
                    for i, p in enumerate(snap.prefixes[:top])
                ],
                "provider_bps": snap.provider_bps,
                "unattributed_bps": snap.unattributed_bps,
                "metrics": m.as_dict(),
            }
        )
        return
    typer.echo(
        f"-- {time.strftime('%H:%M:%S')} records {sum(m.records.values())} "
        f"drops {sum(m.drops.values())} kernel drops {m.kernel_drops}"
    )
    for name, bps in snap.provider_bps.items():
        typer.echo(f"   provider {name:<12} {bps / 1e6:10.3f} Mbit/s")
    typer.echo(f"   unattributed          {snap.unattributed_bps / 1e6:10.3f} Mbit/s")
    totals = snap.total_bps() + snap.prefix_unattributed_bps
    for i, p in enumerate(snap.prefixes[:top]):
        typer.echo(f"   {p:<24} {totals[i] / 1e6:10.3f} Mbit/s")
