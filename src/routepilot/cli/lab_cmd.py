"""`routepilot lab …`: a real multihomed network in Linux namespaces."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from routepilot.cli.common import fail, print_json
from routepilot.config import ConfigError, load_file
from routepilot.lab.ctl import API_PORTS
from routepilot.lab.netns import LabError
from routepilot.lab.spec import LabSpec, default_spec, with_transits
from routepilot.lab.state import LabState

if TYPE_CHECKING:
    from routepilot.lab.core import Lab

app = typer.Typer(help="A real multihomed network in Linux namespaces.", no_args_is_help=True)
traffic_app = typer.Typer(
    help="The customer's traffic toward the destinations.", no_args_is_help=True
)
scenario_app = typer.Typer(help="Timed impairment changes.", no_args_is_help=True)
app.add_typer(traffic_app, name="traffic")
app.add_typer(scenario_app, name="scenario")
controller_app = typer.Typer(
    help="routepilot itself, running in the lab's ctl node.", no_args_is_help=True
)
app.add_typer(controller_app, name="controller")

NameOpt = typer.Option("rplab", "--name", help="Lab name (namespaces are NAME-NODE).")


def _root() -> None:
    if os.geteuid() != 0:
        fail("the lab needs root (network namespaces, routing daemons); run it as root")


def _attach(name: str) -> Lab:
    from routepilot.lab.core import Lab

    _root()
    try:
        return Lab.attach(name)
    except LabError as exc:
        fail(str(exc))


@app.command("up")
def up(
    providers: int = typer.Option(3, "--providers", "-n", help="Number of providers (2-8)."),
    prefixes: int = typer.Option(64, "--prefixes", "-m", help="IPv4 destination /24s (1-512)."),
    spec_file: Path | None = typer.Option(None, "--spec", help="Lab spec (YAML)."),
    name: str = NameOpt,
    edge: str | None = typer.Option(
        None, "--edge", help="Edge router daemon: bird or frr (frr with --bmp, bird otherwise)."
    ),
    wait: float = typer.Option(30.0, help="Seconds to wait for BGP; 0 to not wait."),
    controller: bool = typer.Option(
        False, "--controller", help="Also start routepilot in ctl (API on 127.0.0.1:8080)."
    ),
    snmp: bool = typer.Option(
        False, "--snmp", help="Run snmpd on edge; the controller polls its interface counters."
    ),
    billing_sample: float = typer.Option(
        300.0, "--billing-sample", help="Billing sample length in seconds (1-3600)."
    ),
    controllers: int = typer.Option(
        1,
        "--controllers",
        help="2: an active/standby pair (ctl, ctl2) on PostgreSQL in node db (BIRD edge).",
    ),
    edges: int = typer.Option(
        1, "--edges", help="2: two edge routers (edge, edge2), a provider on both (BIRD edge)."
    ),
    reflector: bool = typer.Option(
        False,
        "--reflector",
        help="A route reflector (FRR, node rr) the edges and routepilot peer with.",
    ),
    transit: int = typer.Option(
        0,
        "--transit",
        help="Transit ASes t1..tN between the providers and the internet (0-8); "
        "paths become (provider, transit, origin).",
    ),
    bmp: bool = typer.Option(
        False, "--bmp", help="The edge (FRR) also sends BMP to the controller's station."
    ),
    ix_peers: int = typer.Option(
        0, "--ix-peers", help="An exchange LAN with this many BIRD peers (0-8), partial tables."
    ),
) -> None:
    """Build the lab: namespaces, links, BIRD routers, the internet, exporters."""
    from routepilot.lab.core import Lab

    _root()
    try:
        if spec_file:
            spec = load_file(spec_file, LabSpec)
        else:
            if not 2 <= providers <= 8:
                fail(f"--providers must be between 2 and 8, got {providers}")
            if not 1 <= prefixes <= 512:
                fail(f"--prefixes must be between 1 and 512, got {prefixes}")
            edge = edge or ("frr" if bmp else "bird")
            if edge not in ("bird", "frr"):
                fail(f"--edge must be bird or frr, got {edge!r}")
            if controllers not in (1, 2):
                fail(f"--controllers must be 1 or 2, got {controllers}")
            spec = default_spec(providers, prefixes, name, edge, controllers)
        if edges != 1 or reflector:
            spec = _with_edges(spec, edges, reflector)
        if transit:
            spec = with_transits(spec, transit)
        if snmp or billing_sample != 300.0:
            spec = LabSpec.model_validate(
                {**spec.model_dump(), "snmp": snmp or spec.snmp, "billing_sample_s": billing_sample}
            )
        if bmp and spec.edge_router != "frr":
            fail("--bmp needs the FRR edge (--edge frr): BIRD 2.0.12 has no BMP")
        if not 0 <= ix_peers <= 8:
            fail(f"--ix-peers must be between 0 and 8, got {ix_peers}")
        if ix_peers and spec.edge_router != "bird":
            fail("--ix-peers needs the BIRD edge (--edge bird)")
        if bmp:
            spec = LabSpec.model_validate({**spec.model_dump(), "bmp": True})
        if ix_peers:
            spec = LabSpec.model_validate({**spec.model_dump(), "ix_peers": ix_peers})
    except (ConfigError, ValueError) as exc:
        fail(str(exc))
    lab = Lab(spec)
    try:
        lab.up(wait_s=wait)
    except LabError as exc:
        fail(str(exc))
    typer.echo(
        f"lab {spec.name} up: {len(spec.providers)} providers, {spec.prefixes} IPv4 and "
        f"{spec.prefixes_v6} IPv6 destination prefixes"
    )
    typer.echo(f"controller config: {lab.controller_config_path}")
    if controller:
        try:
            pids = lab.controllers_start()
        except LabError as exc:
            fail(str(exc))
        for node, pid in pids.items():
            port = API_PORTS[node]
            typer.echo(
                f"controller in {node} running (pid {pid}); API and dashboard on "
                f"http://127.0.0.1:{port}"
            )
    typer.echo(
        "take it down with: routepilot lab down"
        + ("" if spec.name == "rplab" else f" --name {spec.name}")
    )


def _with_edges(spec: LabSpec, edges: int, reflector: bool) -> LabSpec:
    if edges not in (1, 2):
        fail(f"--edges must be 1 or 2, got {edges}")
    if reflector and edges < 2:
        edges = 2  # the reflector lab is a two-edge lab
    return LabSpec.model_validate({**spec.model_dump(), "edges": edges, "reflector": reflector})


@app.command("down")
def down(
    name: str = NameOpt,
    all_labs: bool = typer.Option(False, "--all", help="Every lab on this host."),
) -> None:
    """Remove every namespace, process and file the lab made (also after a crash)."""
    from routepilot.lab.core import Lab
    from routepilot.lab.netns import list_namespaces

    _root()
    names = {name}
    if all_labs:
        names |= set(LabState.names())
        names |= {n.split("-", 1)[0] for n in list_namespaces() if n.startswith("rplab")}
    for n in sorted(names):
        state = LabState.load(n)
        spec = LabSpec.model_validate(state.spec) if state else default_spec(2, 1, n)
        removed = Lab(spec).down()
        typer.echo(
            f"lab {n} down"
            + (f": removed {len(removed)} items" if removed else ": nothing to remove")
        )


@app.command("status")
def status(name: str = NameOpt, json: bool = typer.Option(False, "--json")) -> None:
    """Show nodes, BGP sessions, processes, impairments and traffic."""
    lab = _attach(name)
    st = lab.status()
    if json:
        print_json(st)
        return
    typer.echo(f"lab {st['name']} ({'ready' if st['ready'] else 'not ready'})")
    typer.echo("bgp sessions on edge:")
    for proto, state in sorted(st["bgp"].items()):
        typer.echo(f"  {proto:<10} {state}")
    typer.echo(f"edge FIB: {st['edge_bgp_routes_in_fib']} BGP routes")
    for p in st["providers"]:
        imp = ", ".join(_describe(e) for e in p["impairments"]) or "none"
        typer.echo(
            f"  {p['name']:<6} AS{p['asn']} {p['capacity_mbps']:g} Mbps, "
            f"announces {p['announces']} prefixes, impairments: {imp}"
        )
    for t in st.get("transits", []):
        imp = ", ".join(_describe(e) for e in t["impairments"]) or "none"
        typer.echo(f"  {t['name']:<6} AS{t['asn']} transit, impairments: {imp}")
    dead = [
        f"{p['node']}/{p['role']}"
        for p in st["processes"]
        if not p["alive"] and p["role"] != "traffic"
    ]
    typer.echo(
        f"processes: {len(st['processes'])}"
        + (f" (dead: {', '.join(dead)})" if dead else ", all alive")
    )
    t = st["traffic"]
    typer.echo(
        f"traffic: {t['rate_mbps']:g} Mbps, " + ("running" if t.get("running") else "finished")
        if t
        else "traffic: off"
    )


def _describe(e: dict) -> str:
    parts = [e["prefix"]]
    if e["blackhole"]:
        parts.append("blackhole")
    if e["delay_ms"]:
        parts.append(f"delay {e['delay_ms']:g}ms")
    if e["jitter_ms"]:
        parts.append(f"jitter {e['jitter_ms']:g}ms")
    if e["loss_pct"]:
        parts.append(f"loss {e['loss_pct']:g}%")
    return " ".join(parts)


@app.command("impair")
def impair_cmd(
    provider: str = typer.Argument(..., help="Provider node (isp1 …) or transit (t1 …)."),
    prefix: list[str] = typer.Option(
        None, "--prefix", "-p", help="Destination prefix (repeatable); all when omitted."
    ),
    delay: float = typer.Option(0.0, "--delay", help="Added one-way delay, ms."),
    jitter: float = typer.Option(0.0, "--jitter", help="Uniform jitter around the delay, ms."),
    loss: float = typer.Option(0.0, "--loss", help="Random loss, percent."),
    blackhole: bool = typer.Option(False, "--blackhole", help="Drop everything."),
    clear: bool = typer.Option(False, "--clear", help="Remove impairments."),
    name: str = NameOpt,
) -> None:
    """Impair a provider's path toward some (or all) destinations, at run time."""
    lab = _attach(name)
    try:
        if clear:
            lab.clear(provider, prefix or None)
        else:
            lab.impair(
                provider,
                prefix or None,
                delay_ms=delay,
                jitter_ms=jitter,
                loss_pct=loss,
                blackhole=blackhole,
            )
    except (LabError, KeyError) as exc:
        fail(str(exc).strip("'\""))
    current = lab.impairments(provider)
    typer.echo(f"{provider}: " + (", ".join(_describe(e.__dict__) for e in current) or "clear"))


@traffic_app.command("start")
def traffic_start(
    rate: float = typer.Option(None, "--rate", help="Total Mbps (spec default when omitted)."),
    duration: float = typer.Option(None, "--duration", help="Seconds before it stops by itself."),
    name: str = NameOpt,
) -> None:
    """Start heavy-tailed TCP and UDP traffic from cust to the destinations."""
    lab = _attach(name)
    try:
        pid = lab.traffic_start(rate, duration)
    except LabError as exc:
        fail(str(exc))
    t = lab.state.traffic
    typer.echo(f"traffic: {t['rate_mbps']:g} Mbps for {t['duration_s']:g} s (pid {pid})")


@traffic_app.command("stop")
def traffic_stop(name: str = NameOpt) -> None:
    """Stop the traffic."""
    lab = _attach(name)
    typer.echo("traffic stopped" if lab.traffic_stop() else "traffic was not running")


@app.command("exec", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def exec_cmd(
    node: str = typer.Argument(..., help="Node: edge, isp1 …, inet, cust, ctl."),
    cmd: list[str] = typer.Argument(..., help="Command and arguments (after --)."),
    name: str = NameOpt,
) -> None:
    """Run a command inside a node's namespace (`lab exec edge -- ip route`)."""
    lab = _attach(name)
    try:
        ns = lab.ns(node)
    except LabError as exc:
        fail(str(exc))
    os.execvp("ip", ["ip", "netns", "exec", ns, *cmd])


@scenario_app.command("run")
def scenario_run(
    path: Path = typer.Argument(..., help="Scenario file."),
    name: str = NameOpt,
    speed: float = typer.Option(1.0, help="Time compression (2 = twice as fast)."),
) -> None:
    """Play a scenario: timed impairment and traffic changes."""
    from routepilot.lab.scenario import ScenarioError, load_scenario, play

    try:
        scenario = load_scenario(path)
    except ScenarioError as exc:
        fail(str(exc))
    lab = _attach(name)
    try:
        play(lab, scenario, speed=speed, echo=typer.echo)
    except (LabError, KeyError) as exc:
        fail(str(exc))


@scenario_app.command("check")
def scenario_check(path: Path = typer.Argument(..., help="Scenario file.")) -> None:
    """Validate a scenario file without a lab."""
    from routepilot.lab.scenario import ScenarioError, load_scenario

    try:
        scenario = load_scenario(path)
    except ScenarioError as exc:
        fail(str(exc))
    typer.echo(f"{path}: ok ({len(scenario.steps)} steps over {scenario.length_s:g} s)")


@controller_app.command("start")
def controller_start(
    name: str = NameOpt,
    config: Path | None = typer.Option(
        None, "-c", "--config", help="Controller config; the lab's own by default."
    ),
    port: int | None = typer.Option(None, "--port", help="API port on the host (8080)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Decide and record, announce nothing."),
    node: str | None = typer.Option(
        None, "--node", help="Only this controller node (ctl, ctl2); default: every one."
    ),
) -> None:
    """Start routepilot in ctl (and ctl2): BGP with edge, flows, probes; APIs on the host's
    loopback (8080, 8081)."""
    lab = _attach(name)
    nodes = [node] if node else lab.spec.controller_nodes()
    try:
        for n in nodes:
            pid = lab.controller_start(config, port, dry_run=dry_run, node=n)
            typer.echo(
                f"controller in {n} running (pid {pid}), BGP session with edge Established; "
                f"API on http://127.0.0.1:{port or API_PORTS[n]}"
            )
    except LabError as exc:
        fail(str(exc))


NodeOpt = typer.Option("ctl", "--node", help="The controller node (ctl, ctl2).")


@controller_app.command("stop")
def controller_stop(name: str = NameOpt, node: str = NodeOpt) -> None:
    """Stop routepilot gracefully: it withdraws every route it announced."""
    lab = _attach(name)
    try:
        stopped = lab.controller_stop(node=node)
    except LabError as exc:
        fail(str(exc))
    typer.echo("controller stopped" if stopped else "controller was not running")


@controller_app.command("kill")
def controller_kill(name: str = NameOpt, node: str = NodeOpt) -> None:
    """SIGKILL routepilot, as a crash would (the routers must fall back to BGP at once)."""
    lab = _attach(name)
    try:
        killed = lab.controller_kill(node=node)
    except LabError as exc:
        fail(str(exc))
    typer.echo("controller killed" if killed else "controller was not running")


@app.command("link")
def link_cmd(
    node: str = typer.Argument(..., help="The node whose interface changes (ctl)."),
    peer: str = typer.Argument(..., help="The node at the other end (db)."),
    state: str = typer.Argument(..., help="up or down."),
    name: str = NameOpt,
) -> None:
    """Set a link up or down: `lab link ctl db down` cuts ctl off from the database."""
    if state not in ("up", "down"):
        fail(f"state must be up or down, got {state!r}")
    lab = _attach(name)
    try:
        lab.link(node, peer, state == "up")
    except LabError as exc:
        fail(str(exc))
    typer.echo(f"link {node} -> {peer} {state}")
