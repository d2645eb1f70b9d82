"""FRR as the edge router: the same role as BIRD's edge, for labs with `edge_router: frr`.

zebra and bgpd run in the foreground inside edge's namespace with their own
socket folder, so they never meet a host FRR.
"""

from __future__ import annotations

import os
import pwd
import time
from collections.abc import Callable, Sequence

from routepilot.lab.netns import LabError
from routepilot.lab.processes import ProcessTable
from routepilot.lab.spec import BMP_PORT, CTL_LINK, EDGE_ASN, LabSpec, edge_link


def edge_config(spec: LabSpec, log_path: str) -> str:
    e4, c4, _, _ = CTL_LINK
    neighbors: list[str] = []
    af4: list[str] = []
    af6: list[str] = []
    for i, p in enumerate(spec.providers, start=1):
        _, p4, _, p6 = edge_link(i)
        for peer, af in ((p4, af4), (p6, af6)):
            neighbors += [
                f" neighbor {peer} remote-as {p.asn}",
                f" neighbor {peer} description provider {p.name}",
                f" neighbor {peer} timers connect 2",
            ]
            # Providers' routes are never sent to other providers (no transit leak).
            af += [f"  neighbor {peer} activate", f"  neighbor {peer} route-map NONE out"]
    neighbors += [
        f" neighbor {c4} remote-as {EDGE_ASN}",
        f" neighbor {c4} description routepilot controller",
        f" neighbor {c4} update-source {e4}",
        f" neighbor {c4} timers 3 9",
        f" neighbor {c4} timers connect 2",
    ]
    for af in (af4, af6):
        # Every provider's path per prefix, next hop unchanged (iBGP default).
        af += [f"  neighbor {c4} activate", f"  neighbor {c4} addpath-tx-all-paths"]
    lines = [
        "frr defaults traditional",
        "hostname edge",
        f"log file {log_path} informational",
        "!",
        "route-map NONE deny 10",
        "!",
        f"router bgp {EDGE_ASN}",
        f" bgp router-id {e4}",
        " no bgp ebgp-requires-policy",
        " no bgp default ipv4-unicast",
        " no bgp network import-check",
        *neighbors,
        " address-family ipv4 unicast",
        *af4,
        " exit-address-family",
        " address-family ipv6 unicast",
        *af6,
        " exit-address-family",
        *bmp_targets(spec),
        "!",
    ]
    return "\n".join(lines) + "\n"


def session_names(spec: LabSpec) -> dict[str, str]:
    """Neighbor address -> the session name BIRD's edge would use (isp1, isp1_v6, ctl)."""
    names = {CTL_LINK[1]: "ctl"}
    for i, p in enumerate(spec.providers, start=1):
        _, p4, _, p6 = edge_link(i)
        names[p4] = p.name
        names[p6] = f"{p.name}_v6"
    return names


def bmp_targets(spec: LabSpec) -> list[str]:
    """With ``spec.bmp``: edge's BMP session to the controller's station, monitoring the
    post-policy Adj-RIB-In of every session (what BGP's best-path selection uses), both
    families. bgpd needs its BMP module (``-M bmp``) for these lines."""
    if not spec.bmp:
        return []
    return [
        " bmp targets routepilot",
        f"  bmp connect {CTL_LINK[1]} port {BMP_PORT} min-retry 100 max-retry 1000",
        "  bmp monitor ipv4 unicast post-policy",
        "  bmp monitor ipv6 unicast post-policy",
        " exit",
    ]


def start(
    procs: ProcessTable,
    node: str,
    config: Callable[[str], str],
    bgpd_args: Sequence[str] = (),
) -> None:
    """zebra and bgpd in ``node``, their sockets and files in the lab's ``<node>-frr``
    folder; ``config`` makes frr.conf from the log file's path."""
    # FRR drops privileges to its own user (root is not in its vty group), so
    # everything it writes lives in a folder that user owns.
    home = procs.dir / f"{node}-frr"
    home.mkdir(exist_ok=True)
    conf = home / "frr.conf"
    conf.write_text(config(str(home / "frr.log")))
    try:
        pw = pwd.getpwnam("frr")
    except KeyError:
        raise LabError("FRR is not installed (apt-get install frr)") from None
    for path in (home, conf):
        os.chown(path, pw.pw_uid, pw.pw_gid)
    zsock = home / "zserv.api"
    common = ["--vty_socket", str(home), "-z", str(zsock), "-f", str(conf)]
    procs.spawn(
        node, "zebra", ["/usr/lib/frr/zebra", *common, "-i", str(home / "zebra.pid")], str(zsock)
    )
    # bgpd connects to zebra's socket at start: wait for zebra to open it.
    deadline = time.monotonic() + 10
    while not zsock.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    bgpd = ["/usr/lib/frr/bgpd", *common, "-i", str(home / "bgpd.pid"), *bgpd_args]
    procs.spawn(node, "bgpd", bgpd, str(zsock))
