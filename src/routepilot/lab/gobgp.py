"""GoBGP (Debian ``gobgpd``) as an edge router that holds a whole table.

``gobgp mrt inject global`` loads an MRT RIB dump (a public collector's, or one
from :mod:`routepilot.lab.mrt`) into gobgpd's global RIB, every peer's path
kept apart; gobgpd then sends it over iBGP with add-path to routepilot, as a
router with a full table does. gobgpd sends no End-of-RIB without graceful
restart, which is what makes it a good test of when a table is whole.

:class:`GobgpRouter` runs one gobgpd inside a network namespace (its gRPC API on
that namespace's loopback) and stops it; it never touches the host's own
gobgpd service.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from routepilot.lab.netns import stop_child, wait_answering

API = "127.0.0.1"


@dataclass
class GobgpNeighbor:
    """An iBGP neighbor of gobgpd (routepilot's speaker, or another gobgpd)."""

    address: str
    asn: int
    add_path_send: int = 0
    """Paths per prefix sent (RFC 7911); 0: add-path off."""
    add_path_receive: bool = False
    passive: bool = True


@dataclass
class GobgpRouter:
    """One gobgpd in ``netns``; ``workdir`` holds its configuration and log."""

    netns: str
    workdir: Path
    address: str
    asn: int
    neighbors: Sequence[GobgpNeighbor]
    api_port: int = 50051
    families: Sequence[str] = ("ipv4-unicast", "ipv6-unicast")
    proc: subprocess.Popen | None = field(default=None, init=False)

    @staticmethod
    def available() -> bool:
        return shutil.which("gobgpd") is not None and shutil.which("gobgp") is not None

    def config(self) -> str:
        lines = [
            "[global.config]",
            f"  as = {self.asn}",
            f'  router-id = "{self.address}"',
            f'  local-address-list = ["{self.address}"]',
            "  port = 179",
        ]
        for n in self.neighbors:
            lines += [
                "[[neighbors]]",
                "  [neighbors.config]",
                f'    neighbor-address = "{n.address}"',
                f"    peer-as = {n.asn}",
                "  [neighbors.transport.config]",
                f'    local-address = "{self.address}"',
                f"    passive-mode = {str(n.passive).lower()}",
                "  [neighbors.timers.config]",
                "    connect-retry = 1",
                "    hold-time = 90",
                "    keepalive-interval = 30",
            ]
            for family in self.families:
                lines += [
                    "  [[neighbors.afi-safis]]",
                    "    [neighbors.afi-safis.config]",
                    f'      afi-safi-name = "{family}"',
                ]
                if n.add_path_send or n.add_path_receive:
                    lines += [
                        "    [neighbors.afi-safis.add-paths.config]",
                        f"      send-max = {n.add_path_send}",
                        f"      receive = {str(n.add_path_receive).lower()}",
                    ]
        return "\n".join(lines) + "\n"

    def start(self, timeout: float = 20.0) -> None:
        conf = self.workdir / f"gobgpd-{self.address}.toml"
        conf.write_text(self.config())
        log = (self.workdir / f"gobgpd-{self.address}.log").open("ab")
        self.proc = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                self.netns,
                "gobgpd",
                "-f",
                str(conf),
                "-t",
                "toml",
                "--api-hosts",
                f"{API}:{self.api_port}",
                "--log-level",
                "warn",
                "--disable-stdlog",
                "--pprof-disable",
            ],  # fmt: skip
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        wait_answering(
            self.proc,
            lambda: self.cli("global", check=False).returncode == 0,
            f"gobgpd did not start (see {self.workdir})",
            timeout,
        )

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        stop_child(proc)

    def cli(
        self, *args: str, check: bool = True, timeout: float = 600
    ) -> subprocess.CompletedProcess:
        """Runs ``gobgp`` against this gobgpd's API."""
        return subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                self.netns,
                "gobgp",
                "-u",
                API,
                "-p",
                str(self.api_port),
                *args,
            ],  # fmt: skip
            capture_output=True,
            text=True,
            timeout=timeout,
            check=check,
        )

    def inject_mrt(self, dump: Path, paths: int, timeout: float = 600) -> float:
        """Loads an MRT RIB dump (see ``mrt.write``'s ``gobgp3`` encoding) into the global
        RIB and waits until it holds ``paths`` paths; returns the seconds it took."""
        t0 = time.perf_counter()
        self.cli("mrt", "inject", "global", str(dump), timeout=timeout)
        deadline = time.monotonic() + 30
        while (held := self.global_paths()) != paths:
            if time.monotonic() > deadline:
                raise RuntimeError(f"gobgpd holds {held} paths of the {paths} in {dump}")
            time.sleep(0.2)
        return time.perf_counter() - t0

    def global_paths(self) -> int:
        """Paths in the global RIB, every family."""
        return sum(self._summary("global", "rib", "-a", f) for f in ("ipv4", "ipv6"))

    def received(self, neighbor: str) -> int:
        """Paths received from a neighbor (its Adj-RIB-In), every family."""
        total = 0
        for family in ("ipv4", "ipv6"):
            out = self.cli("neighbor", neighbor, "adj-in", "-a", family, "summary", check=False)
            total += _count(out.stdout)
        return total

    def _summary(self, *args: str) -> int:
        out = self.cli(*args, "summary", check=False)
        return _count(out.stdout)

    def established(self, neighbor: str) -> bool:
        out = self.cli("neighbor", neighbor, "-j", check=False)
        if out.returncode != 0:
            return False
        try:
            doc = json.loads(out.stdout)
        except ValueError:
            return False
        state = doc.get("state", {}) if isinstance(doc, dict) else {}
        return str(state.get("session_state", "")).lower() in ("established", "6")


def _count(text: str) -> int:
    """The path count in ``gobgp ... summary`` output (``Table ipv4-unicast`` then
    ``Destination: N, Path: M``)."""
    for line in text.splitlines():
        if "Path:" in line:
            return int(line.rsplit("Path:", 1)[1].strip().split()[0].rstrip(","))
    return 0
