"""BIRD as the edge router that already holds a whole table when routepilot starts.

In a network routepilot starts (or restarts) against a router that has held its
table for days: the time to learn it is routepilot's and that router's, not the
time a collector's feed took to reach the router. gobgpd loads an MRT dump, but
hands it on at its own pace (about 15k paths/s here); BIRD, fed by that gobgpd
over iBGP add-path before routepilot starts, is the edge that hands it on.

:class:`EdgeBird` is one BIRD in a namespace: an iBGP session from the feed
(add-path receive) and one to routepilot's speaker, a route-reflector client with
add-path send and next hop kept, so that each path reaches routepilot with the
attributes the dump gave it (BIRD adds only ORIGINATOR_ID and CLUSTER_LIST).
The dump's next hops resolve through an interface of the namespace
(:data:`NEXT_HOPS`); BIRD exports nothing to any kernel table.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from routepilot.lab.netns import stop_child, wait_answering

NEXT_HOPS = ("100.64.20.254/24", "2001:db8:ffff::fe/64")
"""Addresses of the namespace's next-hop interface (one end of a veth pair): the MRT
table's next hops (``lab.mrt``'s peers, 100.64.20.x and 2001:db8:ffff::x) are on its
networks."""
NEXT_HOP_LINK = "rpnh0"

# strict bind: BIRD listens on its own address only, beside gobgpd on 179 in the namespace.
_TIMERS = (
    "    strict bind yes;\n    connect delay time 1;\n    connect retry time 2;\n"
    "    error wait time 1, 5;\n"
)


@dataclass
class EdgeBird:
    """One BIRD in ``netns`` at ``address`` (AS ``asn``): a table from ``feed``,
    handed on to each of ``clients`` (routepilot's speaker; a peer that times it)."""

    netns: str
    workdir: Path
    address: str
    asn: int
    feed: str
    clients: Sequence[str]
    proc: subprocess.Popen | None = field(default=None, init=False)

    @property
    def socket(self) -> Path:
        return self.workdir / f"bird-{self.address}.ctl"

    def config(self) -> str:
        lines = [
            f'log "{self.workdir / f"bird-{self.address}.log"}" {{ warning, error, fatal }};',
            f"router id {self.address};",
            "protocol device { scan time 10; }",
            f'protocol direct {{ ipv4; ipv6; interface "{NEXT_HOP_LINK}"; }}',
            "protocol bgp feed {",
            f"    local {self.address} as {self.asn};",
            f"    neighbor {self.feed} as {self.asn};",
            _TIMERS + "    hold time 240;",
            "    ipv4 { add paths rx; import all; export none; };",
            "    ipv6 { add paths rx; import all; export none; };",
            "}",
        ]
        for i, client in enumerate(self.clients):
            to_client = "add paths tx; import none; export where source = RTS_BGP; next hop keep;"
            lines += [
                f"protocol bgp client{i} {{",
                f"    local {self.address} as {self.asn};",
                f"    neighbor {client} as {self.asn};",
                "    rr client;",
                _TIMERS + "    hold time 90;",
                f"    ipv4 {{ {to_client} }};",
                f"    ipv6 {{ {to_client} }};",
                "}",
            ]
        return "\n".join(lines) + "\n"

    def start(self, timeout: float = 20.0) -> None:
        """Adds the interface of next hops and starts BIRD (its sessions to the
        clients wait for them: BIRD connects and retries every 2 s)."""
        net = ["ip", "-n", self.netns]
        if subprocess.run([*net, "link", "show", NEXT_HOP_LINK], capture_output=True).returncode:
            # A veth pair: this kernel has no dummy interfaces.
            subprocess.run(
                [
                    *net,
                    "link",
                    "add",
                    NEXT_HOP_LINK,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    f"{NEXT_HOP_LINK}p",
                ],
                check=True,
            )
            for address in NEXT_HOPS:
                # nodad: the IPv6 next hops resolve at once, not after duplicate detection.
                extra = ["nodad"] if ":" in address else []
                subprocess.run(
                    [*net, "addr", "add", address, "dev", NEXT_HOP_LINK, *extra], check=True
                )
            for name in (NEXT_HOP_LINK, f"{NEXT_HOP_LINK}p"):
                subprocess.run([*net, "link", "set", name, "up"], check=True)
        conf = self.workdir / f"bird-{self.address}.conf"
        conf.write_text(self.config())
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.netns, "bird", "-f", "-c", str(conf),
             "-s", str(self.socket), "-P", str(self.workdir / f"bird-{self.address}.pid")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        wait_answering(
            self.proc,
            lambda: self.cli("show", "status", check=False).returncode == 0,
            f"bird did not start (see {self.workdir})",
            timeout,
        )

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        stop_child(proc)

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["birdc", "-s", str(self.socket), *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=check,
        )

    def fed(self) -> int:
        """Paths the feed's session holds in BIRD's tables, every family (the sum of its
        channels' ``Routes: N imported`` lines)."""
        out = self.cli("show", "protocols", "all", "feed", check=False).stdout
        return sum(int(n) for n in re.findall(r"(\d+) imported", out))

    def wait_fed(self, paths: int, timeout: float = 600) -> float:
        """Waits until the feed's ``paths`` paths are in BIRD's tables; returns the seconds."""
        t0 = time.perf_counter()
        while (held := self.fed()) < paths:
            if time.perf_counter() - t0 > timeout:
                raise RuntimeError(f"bird holds {held} of the feed's {paths} paths")
            time.sleep(0.25)
        return time.perf_counter() - t0
