"""The soak's edge router, one class a route source (`bench/soak/run.py --route-source`).

- ``addpath``: BIRD 2 on edge sends every provider's path to routepilot's ExaBGP
  speaker over iBGP add-path (RFC 7911); routepilot uses ``route_source: addpath``.
- ``bmp``: FRR 8.4 on edge (bgpd with its BMP module) sends BMP Route Monitoring
  (RFC 7854) of each provider session's post-policy Adj-RIB-In to routepilot's
  station; routepilot uses ``route_source: bmp``. The iBGP session to routepilot
  stays (it is where injections go; the soak runs in dry-run) but edge sends
  nothing on it, so the table is not sent twice. Post-policy, not pre-policy:
  the station uses what the router uses and counts pre-policy monitoring as
  ignored, and edge has no import policy toward the providers, so both carry the
  same paths here.

Either edge keeps the soak's space out of its kernel (BIRD: its kernel protocol's
export filter; FRR: a ``table-map`` that denies it toward zebra), counts its BGP
paths for the peer figure (``birdc``; ``vtysh`` JSON) and the routes routepilot
gave it (none in dry-run).
"""

from __future__ import annotations

import json
import re
from typing import Any, Protocol

from routepilot.lab.core import Lab
from routepilot.lab.netns import nsrun
from routepilot.lab.spec import CTL_LINK, EDGE_ASN
from routepilot.lab.tableload import SOAK_V4, SOAK_V6


class Edge(Protocol):
    route_source: str
    """routepilot's ``route_source`` for edge, and the soak's ``--route-source``."""
    label: str
    """How the paths reach routepilot, in the figures' table."""

    def spec(self) -> dict[str, Any]:
        """The lab spec's fields for this edge."""
        ...

    def keep_table_out_of_kernel(self, lab: Lab) -> None: ...

    def paths(self, lab: Lab) -> int:
        """BGP paths edge holds (add-path and BMP: each provider's path counts)."""
        ...

    def paths_from_controller(self, lab: Lab) -> int:
        """Routes edge learned from routepilot's iBGP session."""
        ...


class BirdEdge:
    """The lab's default edge: BIRD 2, add-path to routepilot."""

    route_source = "addpath"
    label = "add-path"

    def spec(self) -> dict[str, Any]:
        return {}

    def keep_table_out_of_kernel(self, lab: Lab) -> None:
        conf = lab.dir / "edge-bird.conf"
        text = conf.read_text()
        for family, net in (("ipv4", SOAK_V4), ("ipv6", SOAK_V6)):
            kept = f"source = RTS_BGP && !(net ~ [ {net}+ ])"
            text = text.replace(
                f"{family} {{ export where source = RTS_BGP; import none; }}",
                f"{family} {{ export where {kept}; import none; }}",
            )
        conf.write_text(text)
        out = lab.birdc("edge", "configure")
        if "Reconfigured" not in out and "Reconfiguration in progress" not in out:
            raise RuntimeError(f"edge: birdc configure: {out.strip()}")

    def paths(self, lab: Lab) -> int:
        return _bird_count(lab, "where source = RTS_BGP")

    def paths_from_controller(self, lab: Lab) -> int:
        return _bird_count(lab, "protocol ctl")


def _bird_count(lab: Lab, which: str) -> int:
    out = lab.birdc("edge", f"show route {which} count")
    counts = [int(m.group(1)) for m in re.finditer(r"(\d+) of \d+ routes.* in table", out)]
    if counts:
        return sum(counts)
    m = re.search(r"(\d+) of \d+ routes", out)
    return int(m.group(1)) if m else 0


class FrrEdge:
    """FRR 8.4 on edge, BMP to routepilot's station, nothing sent on the iBGP session."""

    route_source = "bmp"
    label = "BMP"
    TABLE_MAP = "SOAK-NOT-IN-FIB"

    def spec(self) -> dict[str, Any]:
        return {"edge_router": "frr", "bmp": True}

    def keep_table_out_of_kernel(self, lab: Lab) -> None:
        """A table-map that denies the soak's space between bgpd and zebra: the table
        stays in BGP (and goes out over BMP) and never reaches zebra's RIB or the
        kernel; the lab's own prefixes are installed as before. The controller's
        session gets nothing (``NONE`` denies all), as add-path's paths would be
        unused with ``route_source: bmp``."""
        ctl = CTL_LINK[1]
        lines = [
            f"ip prefix-list SOAK4 seq 5 permit {SOAK_V4} le 32",
            f"ipv6 prefix-list SOAK6 seq 5 permit {SOAK_V6} le 128",
            f"route-map {self.TABLE_MAP} deny 10",
            " match ip address prefix-list SOAK4",
            f"route-map {self.TABLE_MAP} deny 20",
            " match ipv6 address prefix-list SOAK6",
            f"route-map {self.TABLE_MAP} permit 30",
            f"router bgp {EDGE_ASN}",
        ]
        for family in ("ipv4", "ipv6"):
            lines += [
                f" address-family {family} unicast",
                f"  table-map {self.TABLE_MAP}",
                f"  no neighbor {ctl} addpath-tx-all-paths",
                f"  neighbor {ctl} route-map NONE out",
                " exit-address-family",
            ]
        _vtysh(lab, "configure terminal", *lines, "end")

    def paths(self, lab: Lab) -> int:
        return sum(_received(lab).values())

    def paths_from_controller(self, lab: Lab) -> int:
        return _received(lab).get(CTL_LINK[1], 0)


def _vtysh(lab: Lab, *commands: str) -> str:
    args = [a for c in commands for a in ("-c", c)]
    return nsrun(lab.ns("edge"), ["vtysh", "--vty_socket", str(lab.dir / "edge-frr"), *args])


def _received(lab: Lab) -> dict[str, int]:
    """Neighbor -> paths edge took from it (accepted, post-policy), both families summed,
    from ``show bgp summary json`` (per-neighbor counters: cheap on a full table)."""
    out: dict[str, int] = {}
    for family in ("ipv4", "ipv6"):
        raw = json.loads(_vtysh(lab, f"show bgp {family} unicast summary json") or "{}")
        for address, peer in (raw.get("peers") or {}).items():
            out[address] = out.get(address, 0) + int(peer.get("pfxRcd", 0))
    return out


EDGES: dict[str, Edge] = {"addpath": BirdEdge(), "bmp": FrrEdge()}
