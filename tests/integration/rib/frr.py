"""FRR as the edge router: zebra + bgpd in a namespace, eBGP to three providers.

The providers are one plain ExaBGP process in a second namespace with three
neighbor blocks (100.64.1.1, .2.1, .3.1, AS 64501..64503) announcing static
routes, so FRR learns real eBGP paths and sends every one of them to routepilot
with ``addpath-tx-all-paths``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.fixtures.netns import Namespaces, wait_for

from routepilot.lab.netns import ip_batch

from .conftest import ASN, LOCAL, ROUTER

FRR_DIR = Path("/usr/lib/frr")

# 198.18.1.0/24: isp1 (length 2), isp2 (1), isp3 (3) -> isp2
# 198.18.2.0/24: isp1 (1), isp3 (2) -> isp1
# 198.18.3.0/24: isp2 (3), isp3 (1) -> isp3
PROVIDER_ROUTES = {
    1: {"198.18.1.0/24": [64510], "198.18.2.0/24": []},
    2: {"198.18.1.0/24": [], "198.18.3.0/24": [7, 8]},
    3: {"198.18.1.0/24": [1, 2], "198.18.2.0/24": [5], "198.18.3.0/24": []},
}
FRR_EXPECTED_BEST = {"198.18.1.0/24": "isp2", "198.18.2.0/24": "isp1", "198.18.3.0/24": "isp3"}
FRR_EXPECTED_PROVIDERS = {
    "198.18.1.0/24": {"isp1", "isp2", "isp3"},
    "198.18.2.0/24": {"isp1", "isp3"},
    "198.18.3.0/24": {"isp2", "isp3"},
}

FRR_CONF = f"""
frr defaults traditional
hostname edge
!
router bgp {ASN}
 bgp router-id {ROUTER}
 no bgp ebgp-requires-policy
 neighbor 100.64.1.1 remote-as 64501
 neighbor 100.64.2.1 remote-as 64502
 neighbor 100.64.3.1 remote-as 64503
 neighbor {LOCAL} remote-as {ASN}
 neighbor {LOCAL} update-source {ROUTER}
 neighbor {LOCAL} timers connect 1
 neighbor {LOCAL} advertisement-interval 0
 address-family ipv4 unicast
  neighbor {LOCAL} addpath-tx-all-paths
 exit-address-family
!
"""


def provider_exabgp_conf() -> str:
    out = []
    for i, routes in PROVIDER_ROUTES.items():
        statics = ""
        for p, path in routes.items():
            asns = " ".join(str(a) for a in [64500 + i, *path])
            statics += f"    route {p} next-hop self as-path [ {asns} ];\n"
        out.append(
            f"neighbor 100.64.{i}.254 {{\n  router-id 100.64.{i}.1;\n"
            f"  local-address 100.64.{i}.1;\n  local-as {64500 + i};\n  peer-as {ASN};\n"
            f"  static {{\n{statics}  }}\n}}\n"
        )
    return "".join(out)


@dataclass
class FrrEdge:
    netns: str
    pathspace: str

    def vtysh(self, *commands: str) -> str:
        args = ["vtysh", "-N", self.pathspace]
        for c in commands:
            args += ["-c", c]
        return subprocess.run(
            ["ip", "netns", "exec", self.netns, *args], capture_output=True, text=True, timeout=20
        ).stdout

    def routes_from_ctl(self) -> dict[str, str]:
        """Prefix -> next-hop of the routes FRR holds from routepilot's session."""
        out = self.vtysh(f"show bgp ipv4 unicast neighbors {LOCAL} routes json")
        try:
            routes = json.loads(out).get("routes", {})
        except ValueError:
            return {}
        result = {}
        for prefix, paths in routes.items():
            for path in paths if isinstance(paths, list) else [paths]:
                for nh in path.get("nexthops", []):
                    result[prefix] = nh.get("ip")
        return result

    def kernel_route(self, prefix: str) -> str:
        return subprocess.run(
            ["ip", "-n", self.netns, "-4", "route", "show", prefix],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()

    def session_established(self) -> bool:
        out = self.vtysh(f"show bgp neighbors {LOCAL} json")
        try:
            return json.loads(out)[LOCAL]["bgpState"] == "Established"
        except (ValueError, KeyError):
            return False

    def providers_established(self) -> bool:
        out = self.vtysh("show bgp summary json")
        try:
            peers = json.loads(out)["ipv4Unicast"]["peers"]
        except (ValueError, KeyError):
            return False
        return all(peers.get(f"100.64.{i}.1", {}).get("state") == "Established" for i in (1, 2, 3))


class FrrLab:
    """Two namespaces (edge with FRR, isp with the providers' ExaBGP) and their daemons, in a
    set of the shared namespace fixtures (which removes them, whatever happens)."""

    def __init__(
        self, nss: Namespaces, conf: str = FRR_CONF, modules: tuple[str, ...] = ()
    ) -> None:
        """``conf``: bgpd's configuration; ``modules``: bgpd modules to load (``-M``)."""
        self.nss = nss
        self.conf = conf
        self.modules = modules
        self.dir = nss.workdir
        self.pathspace = nss.name("frr")

    def up(self) -> FrrEdge:
        edge_ns, isp_ns = self.nss.add("frr"), self.nss.add("isp")
        self.nss.veth(edge_ns, "rp0", isp_ns, "rp1")
        edge = [f"addr add {ROUTER}/32 dev lo", f"addr add {LOCAL}/32 dev lo", "link set rp0 up"]
        isp = ["link set rp1 up"]
        for i in (1, 2, 3):
            edge.append(f"addr add 100.64.{i}.254/24 dev rp0")
            isp.append(f"addr add 100.64.{i}.1/24 dev rp1")
        ip_batch(edge_ns, edge)
        ip_batch(isp_ns, isp)

        # FRR drops to its own user: its directory and configuration must be its own.
        run = Path("/var/run/frr") / self.pathspace
        run.mkdir(parents=True, exist_ok=True)
        conf = run / "frr.conf"
        conf.write_text(self.conf)
        for path in (run, conf):
            shutil.chown(path, "frr", "frr")
        for daemon in ("zebra", "bgpd"):
            modules = [a for m in self.modules for a in ("-M", m)] if daemon == "bgpd" else []
            self.nss.start(edge_ns, str(FRR_DIR / daemon), "-N", self.pathspace, "-f", str(conf),
                           "-i", str(run / f"{daemon}.pid"), *modules)  # fmt: skip
            if daemon == "zebra":
                wait_for(lambda: (run / "zserv.api").exists(), timeout=10)

        exa_conf = self.dir / "providers.conf"
        exa_conf.write_text(provider_exabgp_conf())
        exabgp = Path(sys.executable).with_name("exabgp")
        if not exabgp.exists():
            exabgp = Path(shutil.which("exabgp") or "exabgp")
        env = dict(
            os.environ,
            exabgp_daemon_user="root",
            exabgp_api_cli="false",
            exabgp_log_level="WARNING",
        )
        self.nss.procs.append(
            subprocess.Popen(
                ["ip", "netns", "exec", isp_ns, str(exabgp), str(exa_conf)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=env,
            )
        )
        return FrrEdge(edge_ns, self.pathspace)

    def down(self) -> None:
        self.nss.close()
        shutil.rmtree(Path("/var/run/frr") / self.pathspace, ignore_errors=True)
