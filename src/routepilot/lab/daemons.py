"""The lab's daemons at `lab up`: the routers (BIRD or FRR), the delayers and the sink.

Each runs in its node's namespace, in the foreground as a child of the lab's
process table, so its PID is known at once and recorded before anything else.
"""

from __future__ import annotations

import json
import sys

from routepilot.lab import bird, frr, impair, ix, reflector, snmp, transit
from routepilot.lab.exporters import start_exporters
from routepilot.lab.processes import ProcessTable


def start_daemons(procs: ProcessTable) -> None:
    """Starts every daemon of the lab: edge's router, the providers' routers and delayers,
    the internet's sink, edge's flow exporters and, when the spec asks, edge's snmpd."""
    spec, folder = procs.spec, procs.dir
    if spec.edge_router == "frr":
        _start_frr_edge(procs)
    else:
        _start_bird(procs, "edge", bird.edge_config(spec, str(folder / "edge-bird.log")))
    _start_edges(procs)
    for p in spec.providers:
        log_path = str(folder / f"{p.name}-bird.log")
        if spec.transits:
            config = transit.provider_config(spec, p.name, log_path, bird.FAST_TIMERS)
        else:
            config = bird.provider_config(spec, p.name, log_path)
        _start_bird(procs, p.name, config)
        _start_delayer(procs, p.name, p.base_delay_ms)
    for t in spec.transit_names():
        log_path = str(folder / f"{t}-bird.log")
        _start_bird(procs, t, transit.transit_config(spec, t, log_path, bird.FAST_TIMERS))
        _start_delayer(procs, t, 0.0)
    for peer in ix.peers(spec):
        _start_bird(procs, peer, ix.peer_config(spec, peer, str(folder / f"{peer}-bird.log")))
    procs.spawn(
        "inet", "sink", [sys.executable, "-m", "routepilot.lab.sink"], "routepilot.lab.sink"
    )
    start_exporters(procs)
    if spec.snmp:
        snmp.start_snmpd(procs)


def _start_edges(procs: ProcessTable) -> None:
    """edge2's BIRD (``edges: 2``) and the route reflector (``reflector``)."""
    spec, folder = procs.spec, procs.dir
    if spec.edges > 1:
        log_path = str(folder / "edge2-bird.log")
        _start_bird(procs, "edge2", bird.edge_config(spec, log_path, "edge2"))
    if spec.reflector:
        reflector.start(procs)


def _start_delayer(procs: ProcessTable, node: str, base_delay_ms: float) -> None:
    """The impairment hooks and the verdict delayer of a provider (or transit) node."""
    spec, folder = procs.spec, procs.dir
    ns = spec.ns(node)
    impair.install_hooks(ns)
    rules = folder / f"{node}-impair.json"
    # The delayer reads its rules at start (a SIGHUP before its handler is
    # installed would kill it), then the kernel rules steer packets to it.
    rules.write_text(json.dumps(impair.delayer_rules([], base_delay_ms)))
    procs.spawn(
        node,
        "delayer",
        [sys.executable, "-m", "routepilot.lab.delayer", str(rules)],
        str(rules),
    )
    if base_delay_ms:
        uplink = transit.uplink_pattern(spec, node)
        impair.apply(ns, [], rules, None, base_delay_ms, uplink=uplink)


def _start_bird(procs: ProcessTable, node: str, config: str) -> None:
    conf = procs.dir / f"{node}-bird.conf"
    conf.write_text(config)
    sock, pidfile = procs.dir / f"{node}-bird.ctl", procs.dir / f"{node}-bird.pid"
    # -f: stay in the foreground as our child, so its PID is known at once.
    procs.spawn(
        node,
        "bird",
        ["bird", "-f", "-c", str(conf), "-s", str(sock), "-P", str(pidfile)],
        str(conf),
    )


def _start_frr_edge(procs: ProcessTable) -> None:
    frr.start(procs, "edge", lambda log: frr.edge_config(procs.spec, log), _bgpd_modules(procs))


def _bgpd_modules(procs: ProcessTable) -> list[str]:
    """bgpd's loadable modules: BMP when the lab sends BMP to the controller."""
    return ["-M", "bmp"] if procs.spec.bmp else []
