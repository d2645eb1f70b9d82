"""The lab's route reflector (``reflector: true``): FRR in node `rr`.

Both edges and the controller are its clients (RFC 4456): it passes every edge's
eBGP paths to the other edge and, with add-path (RFC 7911), all of them to the
controller; it passes the controller's routes to both edges. The edges' paths keep
their next hops (a reflector never changes them), so each one names its provider,
and it resolves them over its default route toward edge.
"""

from __future__ import annotations

from routepilot.lab import frr
from routepilot.lab.edges import EDGES_LINK, RR_LINK
from routepilot.lab.processes import ProcessTable
from routepilot.lab.spec import CTL_LINK, EDGE_ASN

CLIENTS = {RR_LINK[0]: "edge", EDGES_LINK[1]: "edge2", CTL_LINK[1]: "ctl"}
"""Neighbor address -> the name the tests and the CLI use for that session."""


def config(log_path: str) -> str:
    rr = RR_LINK[1]
    neighbors: list[str] = []
    af: list[str] = []
    for addr, name in CLIENTS.items():
        neighbors += [
            f" neighbor {addr} remote-as {EDGE_ASN}",
            f" neighbor {addr} description {name}",
            f" neighbor {addr} update-source {rr}",
            f" neighbor {addr} timers 3 9",
            f" neighbor {addr} timers connect 2",
        ]
        af += [f"  neighbor {addr} activate", f"  neighbor {addr} route-reflector-client"]
        # Every path to every client: the controller needs each provider's path, and an
        # edge whose best path is the other edge's still learns the rest.
        af.append(f"  neighbor {addr} addpath-tx-all-paths")
    lines = [
        "frr defaults traditional",
        "hostname rr",
        f"log file {log_path} informational",
        # The edges' next hops (provider links) are reached by rr's default route.
        "ip nht resolve-via-default",
        "ipv6 nht resolve-via-default",
        "!",
        f"router bgp {EDGE_ASN}",
        f" bgp router-id {rr}",
        f" bgp cluster-id {rr}",
        " no bgp default ipv4-unicast",
        " no bgp network import-check",
        *neighbors,
        " address-family ipv4 unicast",
        *af,
        " exit-address-family",
        " address-family ipv6 unicast",
        *af,
        " exit-address-family",
        "!",
    ]
    return "\n".join(lines) + "\n"


def start(procs: ProcessTable) -> None:
    """zebra and bgpd in rr, their sockets and files in the lab's rr-frr folder."""
    frr.start(procs, "rr", config)
