"""`routepilot demo` (what `make demo` runs): the whole product on the lab, live.

It brings the lab up (3 providers, traffic), starts routepilot in it, plays a
scenario where a provider slows down, another loses packets and a third goes
dark and comes back, prints routepilot's moves as they happen, serves the
dashboard on http://127.0.0.1:8080, and takes everything down on Ctrl-C.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from importlib import resources
from typing import ParamSpec, TypeVar

import typer

from routepilot.api.client import ApiClient, ApiError
from routepilot.cli.common import fail
from routepilot.lab.core import Lab
from routepilot.lab.netns import LabError
from routepilot.lab.scenario import load_scenario, play
from routepilot.lab.spec import default_spec


def _say(text: str) -> None:
    typer.secho(f"==> {text}", bold=True)


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _progress(text: str, action: Callable[_P, _R], *args: _P.args, **kwargs: _P.kwargs) -> _R:
    """Runs a slow step with a line that says what is happening and how long it took."""
    typer.echo(f"    {text} ...", nl=False)
    start = time.monotonic()
    result = action(*args, **kwargs)
    typer.echo(f" done ({time.monotonic() - start:.1f} s)")
    return result


class Feed:
    """Prints routepilot's new moves from its API, as an engineer would tail the journal."""

    def __init__(self, port: int, start: float) -> None:
        self.api = ApiClient(f"http://127.0.0.1:{port}", timeout=5)
        self.start = start
        self.seen: set[tuple] = set()
        self.since = time.time()

    def __call__(self) -> None:
        try:
            moves = self.api.get("/decisions", since=self.since, limit=200)
        except ApiError:
            return
        for m in reversed(moves):
            key = (m["time"], m["prefix"], m["to_provider"])
            if key in self.seen:
                continue
            self.seen.add(key)
            t = time.monotonic() - self.start
            numbers = ""
            if (
                m["reason"] in ("latency", "revert")
                and m["old_rtt_ms"] is not None
                and m["new_rtt_ms"] is not None
            ):
                numbers = f"  rtt {m['old_rtt_ms']:.1f} → {m['new_rtt_ms']:.1f} ms"
            elif (
                m["reason"] in ("loss", "outage")
                and m["old_loss"] is not None
                and m["new_loss"] is not None
            ):
                numbers = f"  loss {m['old_loss'] * 100:.1f} → {m['new_loss'] * 100:.1f} %"
            typer.secho(
                f"[{t:6.1f}s]   routepilot: {m['prefix']:<16} {m['from_provider'] or '-':>5} → "
                f"{m['to_provider'] or '-':<5} {m['reason']:<8}{numbers}",
                fg=typer.colors.GREEN,
            )


def run_demo(
    providers: int = 3,
    speed: float = 1.0,
    port: int = 8080,
    exit_at_end: bool = False,
    name: str = "rplab",
) -> None:
    if os.geteuid() != 0:
        fail("the demo builds network namespaces and needs root")
    spec = default_spec(providers, 64, name)
    lab = Lab(spec)
    start = time.monotonic()
    leave_up = False
    try:
        if lab.is_up():
            _progress("removing the previous demo lab", lab.down)
            lab = Lab(spec)
        _say(
            f"building the lab: an edge router (BIRD), {providers} providers, the internet, "
            "a traffic source, routepilot's node"
        )
        _progress("namespaces, routers, BGP sessions", lab.up, wait_s=30)
        _progress(
            "starting routepilot in the lab (ExaBGP, flows, probes)",
            lab.controller_start,
            None,
            port,
        )
        typer.echo(
            f"    dashboard: http://127.0.0.1:{port}/   API: http://127.0.0.1:{port}/api/v1/status"
        )
        packaged = resources.files("routepilot.lab") / "scenarios" / "demo.scenario"
        with resources.as_file(packaged) as path:
            scenario = load_scenario(path)
        _say(
            f"playing the scenario ({scenario.length_s / speed:.0f} s): a provider slows "
            "down, another loses packets, a third goes dark and comes back"
        )
        feed = Feed(port, start)
        play(
            lab,
            scenario,
            speed=speed,
            tick=feed,
            echo=lambda line: typer.secho(
                f"[{time.monotonic() - start:6.1f}s] lab: {line}", fg=typer.colors.YELLOW
            ),
        )
        feed()
        _summary(feed)
        if exit_at_end:
            leave_up = True
            typer.echo("    the lab and routepilot stay up: `routepilot lab down` removes them")
            return
        _say("the scenario is over; routepilot keeps running. Ctrl-C takes everything down.")
        while True:
            time.sleep(1)
            feed()
    except KeyboardInterrupt:
        typer.echo("")
    except LabError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from None
    finally:
        if not leave_up:
            _say("taking everything down (routepilot withdraws its routes first)")
            lab.controller_stop()
            lab.down()
            typer.echo("    done: no namespace, process or file of the demo is left")


def _summary(feed: Feed) -> None:
    try:
        moves = feed.api.get("/decisions", since=feed.since, limit=1000)
        providers = feed.api.get("/providers")
    except ApiError:
        return
    counts: dict[str, int] = {}
    for m in moves:
        counts[m["reason"]] = counts.get(m["reason"], 0) + 1
    _say(
        "what routepilot did: "
        + (", ".join(f"{n} {r}" for r, n in sorted(counts.items())) or "nothing")
    )
    for p in providers:
        rtt = f"{p['rtt_ms']:.2f} ms" if p["rtt_ms"] is not None else "-"
        typer.echo(
            f"    {p['name']:<5} rate {p['rate_bps'] / 1e6:6.2f} Mbps of "
            f"{p['capacity_bps'] / 1e6:g}, median rtt {rtt}, routes "
            f"{p['prefixes_routed']} busy prefixes"
        )
