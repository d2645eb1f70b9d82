"""Edge's flow exporters (softflowd or pmacctd), one per provider-facing interface.

They export to the controller's address in `ctl`, with the kernel's ifIndex of
the provider link, which the generated controller config maps to the provider.
"""

from __future__ import annotations

import json

from routepilot.lab import ix
from routepilot.lab.netns import run
from routepilot.lab.processes import ProcessTable
from routepilot.lab.spec import LabSpec, controller_link


def ifindexes(spec: LabSpec, node: str = "edge") -> dict[str, int]:
    """Kernel ifIndex of each of an edge router's provider-facing interfaces (one `ip` call)."""
    links = json.loads(run(["ip", "-j", "-n", spec.ns(node), "link", "show"]))
    index = {link["ifname"]: link["ifindex"] for link in links}
    # The exchange's bridge ports are on edge.
    ports = (
        {ix.port(peer): index[ix.port(peer)] for peer in ix.peers(spec)} if node == "edge" else {}
    )
    return {**{p.name: index[p.name] for p in spec.edge_providers(node)}, **ports}


def start_exporters(procs: ProcessTable) -> None:
    spec = procs.spec
    ex = spec.export
    if ex.exporter == "none":
        return
    indexes = ifindexes(spec)
    # Routers can export to several collectors: one exporter per provider link and
    # controller node (each node collects its own flows, the standby included).
    for node in spec.controller_nodes():
        _start_to(procs, node, indexes)
    if spec.edges > 1:
        _start_to(procs, "ctl", ifindexes(spec, "edge2"), "edge2")


def _start_to(procs: ProcessTable, node: str, indexes: dict[str, int], edge: str = "edge") -> None:
    spec, ex = procs.spec, procs.spec.export
    target = f"{controller_link(node)[1]}:{ex.port}"
    tag = ("" if node == "ctl" else f"-{node}") + ("" if edge == "edge" else f"-{edge}")
    # The exchange peers' bridge ports too: flows per peer, as an exchange switch exports.
    names = [p.name for p in spec.edge_providers(edge)]
    names += [ix.port(peer) for peer in ix.peers(spec)] if edge == "edge" else []
    for name in names:
        idx = indexes[name]
        if ex.exporter == "softflowd":
            ctl = procs.dir / f"{edge}-softflowd-{name}{tag}.ctl"
            cmd = [
                "softflowd",
                "-d",
                "-i",
                f"{idx}:{name}",
                "-n",
                target,
                "-v",
                str(ex.version),
                "-t",
                f"maxlife={ex.active_timeout_s}",
                "-t",
                "expint=1",
                "-p",
                str(procs.dir / f"{edge}-softflowd-{name}{tag}.pid"),
                "-c",
                str(ctl),
            ]
            if ex.version != 5:
                cmd.append("-6")
            # Egress only, as a router exports a provider link's traffic toward the
            # provider (and pmacctd below, ``pcap_direction: out``): the replies to the
            # controller's probes and the acknowledgements coming back would otherwise
            # read as traffic sent out there, which the link's ifHCOutOctets never
            # counts. libpcap's ``outbound`` qualifier works on veth links (1.10.3).
            cmd.append("outbound")
            procs.spawn(edge, f"softflowd-{name}{tag}", cmd, str(ctl))
        else:
            conf = procs.dir / f"{edge}-pmacctd-{name}{tag}.conf"
            conf.write_text(
                "daemonize: false\n"
                f"pcap_interface: {name}\n"
                "pcap_ifindex: sys\n"
                "pcap_direction: out\n"
                "plugins: nfprobe\n"
                f"nfprobe_receiver: {target}\n"
                f"nfprobe_version: {ex.version}\n"
                f"nfprobe_timeouts: maxlife={ex.active_timeout_s}:expint=1\n"
                "nfprobe_direction: out\n"
                f"nfprobe_ifindex: {idx}\n"
                "aggregate: src_host, dst_host, src_port, dst_port, proto, tos\n"
            )
            # pmacctd rewrites its process title, so its name is the marker.
            procs.spawn(edge, f"pmacctd-{name}{tag}", ["pmacctd", "-f", str(conf)], "pmacctd")
