"""`routepilot demo` (what `make demo` runs): the lab up, shown working, left for you to try."""

from __future__ import annotations

import os
import re
import subprocess
import time

import typer

from routepilot.cli.common import fail
from routepilot.lab.core import Lab
from routepilot.lab.netns import LabError
from routepilot.lab.spec import default_spec, probe_source


def _ping(lab: Lab, source: str, dest: str, count: int = 5) -> str:
    out = subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            lab.ns("ctl"),
            "ping",
            "-n",
            "-q",
            "-c",
            str(count),
            "-i",
            "0.2",
            "-W",
            "1",
            "-I",
            source,
            dest,
        ],
        capture_output=True,
        text=True,
    ).stdout
    loss = re.search(r"([\d.]+)% packet loss", out)
    rtt = re.search(r"= [\d.]+/([\d.]+)/", out)
    return (f"avg {float(rtt.group(1)):7.2f} ms" if rtt else "    no answer") + (
        f", loss {loss.group(1)}%" if loss else ""
    )


def _step(text: str) -> None:
    typer.secho(f"==> {text}", bold=True)


def run_demo(providers: int = 3, keep: bool = True) -> None:
    if os.geteuid() != 0:
        fail("the demo builds network namespaces and needs root")
    spec = default_spec(providers, 64)
    lab = Lab(spec)
    try:
        if lab.is_up():
            _step(f"lab {spec.name} is already up; using it")
            lab = Lab.attach(spec.name)
        else:
            _step(
                f"bringing the lab up: edge router, {providers} providers, the internet, "
                "a traffic source and a controller node (a few seconds)"
            )
            start = time.monotonic()
            lab.up(wait_s=30)
            typer.echo(f"    every BGP session Established after {time.monotonic() - start:.1f} s")
        _step("status (routepilot lab status)")
        st = lab.status()
        for proto, state in sorted(st["bgp"].items()):
            typer.echo(f"    edge BGP {proto:<9} {state}")
        typer.echo(f"    edge FIB holds {st['edge_bgp_routes_in_fib']} BGP routes")
        dest = "198.18.5.1"
        best = spec.bgp_best(5)
        _step(
            f"ping {dest} from the controller through each provider "
            f"(BGP's own choice for it: {best})"
        )
        for i, p in enumerate(spec.providers, start=1):
            typer.echo(f"    via {p.name:<5} {_ping(lab, probe_source(i)[0], dest)}")
        _step(f"impair {best} toward 198.18.5.0/24: +40 ms and 5% loss")
        lab.impair(best, ["198.18.5.0/24"], delay_ms=40, loss_pct=5)
        for i, p in enumerate(spec.providers, start=1):
            typer.echo(f"    via {p.name:<5} {_ping(lab, probe_source(i)[0], dest, 20)}")
        typer.echo(
            f"    BGP still sends 198.18.5.0/24 through {best}: this is what routepilot fixes."
        )
        lab.clear(best)
        _step("traffic: 5 Mbps of Zipf-distributed TCP/UDP for 60 s (routepilot lab traffic start)")
        lab.traffic_start(5, 60)
    except LabError as exc:
        fail(str(exc))
    typer.echo("")
    typer.echo("The lab is up. Try:")
    typer.echo("    .venv/bin/routepilot lab status")
    typer.echo("    .venv/bin/routepilot lab impair isp2 --prefix 198.18.7.0/24 --delay 30")
    typer.echo("    .venv/bin/routepilot lab exec ctl -- ping -I 100.67.0.2 198.18.7.1")
    typer.echo("Take it down with:")
    typer.echo("    .venv/bin/routepilot lab down")
    if not keep:
        lab.down()
        typer.echo("(taken down: --no-keep)")
