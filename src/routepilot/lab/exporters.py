"""Edge's flow exporters (softflowd or pmacctd), one per provider-facing interface.

They export to the controller's address in `ctl`, with the kernel's ifIndex of
the provider link, which the generated controller config maps to the provider.
"""

from __future__ import annotations

import json

from routepilot.lab.netns import run
from routepilot.lab.processes import ProcessTable
from routepilot.lab.spec import CTL_LINK, LabSpec


def ifindexes(spec: LabSpec) -> dict[str, int]:
    """Kernel ifIndex of each of edge's provider-facing interfaces (one `ip` call)."""
    links = json.loads(run(["ip", "-j", "-n", spec.ns("edge"), "link", "show"]))
    index = {link["ifname"]: link["ifindex"] for link in links}
    return {p.name: index[p.name] for p in spec.providers}


def start_exporters(procs: ProcessTable) -> None:
    spec = procs.spec
    ex = spec.export
    if ex.exporter == "none":
        return
    target = f"{CTL_LINK[1]}:{ex.port}"
    indexes = ifindexes(spec)
    for p in spec.providers:
        idx = indexes[p.name]
        if ex.exporter == "softflowd":
            ctl = procs.dir / f"edge-softflowd-{p.name}.ctl"
            cmd = [
                "softflowd",
                "-d",
                "-i",
                f"{idx}:{p.name}",
                "-n",
                target,
                "-v",
                str(ex.version),
                "-t",
                f"maxlife={ex.active_timeout_s}",
                "-t",
                "expint=1",
                "-p",
                str(procs.dir / f"edge-softflowd-{p.name}.pid"),
                "-c",
                str(ctl),
            ]
            if ex.version != 5:
                cmd.append("-6")
            procs.spawn("edge", f"softflowd-{p.name}", cmd, str(ctl))
        else:
            conf = procs.dir / f"edge-pmacctd-{p.name}.conf"
            conf.write_text(
                "daemonize: false\n"
                f"pcap_interface: {p.name}\n"
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
            procs.spawn("edge", f"pmacctd-{p.name}", ["pmacctd", "-f", str(conf)], "pmacctd")
