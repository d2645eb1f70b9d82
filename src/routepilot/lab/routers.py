"""Asking the lab's routers: `birdc` and `vtysh` consoles, BGP session states.

Session names are BIRD's protocol names (isp1, isp1_v6, ctl) whichever daemon
runs edge, so tests and the CLI read one vocabulary.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from routepilot.lab import frr
from routepilot.lab.netns import LabError, nsrun
from routepilot.lab.spec import LabSpec

_PROTO_LINE = re.compile(r"^(\S+)\s+BGP\s+\S+\s+(\S+)\s+\S+\s+(\S+)(?:\s+(.*))?$")


class Routers:
    """The consoles of one lab's routers, whose sockets live in the lab's folder."""

    def __init__(self, spec: LabSpec, folder: Path) -> None:
        self.spec = spec
        self.dir = folder

    def birdc(self, node: str, command: str) -> str:
        sock = self.dir / f"{node}-bird.ctl"
        return nsrun(self.spec.ns(node), ["birdc", "-s", str(sock), *command.split()])

    def vtysh(self, command: str) -> str:
        """Runs a command on an FRR edge (`show bgp summary json` …)."""
        return nsrun(
            self.spec.ns("edge"),
            ["vtysh", "--vty_socket", str(self.dir / "edge-frr"), "-c", command],
        )

    def bgp_sessions(self, node: str = "edge") -> dict[str, str]:
        """Session name -> BGP state (Established, Active, Connect …) as the router reports it."""
        if node == "edge" and self.spec.edge_router == "frr":
            return self._frr_sessions()
        try:
            out = self.birdc(node, "show protocols")
        except LabError:
            return {}
        sessions = {}
        for line in out.splitlines():
            m = _PROTO_LINE.match(line.strip())
            if m:
                sessions[m.group(1)] = m.group(3)
        return sessions

    def _frr_sessions(self) -> dict[str, str]:
        try:
            raw = json.loads(self.vtysh("show bgp neighbors json") or "{}")
        except (LabError, ValueError):
            return {}
        names = frr.session_names(self.spec)
        return {
            names.get(addr, addr): info.get("bgpState", "?")
            for addr, info in raw.items()
            if isinstance(info, dict)
        }

    def wait_established(self, timeout_s: float) -> float:
        """Waits until every edge<->provider session is Established; returns seconds taken."""
        start = time.monotonic()
        wanted = {f"{p.name}{s}" for p in self.spec.providers for s in ("", "_v6")}
        while True:
            state = self.bgp_sessions("edge")
            down = sorted(n for n in wanted if state.get(n) != "Established")
            if not down:
                return time.monotonic() - start
            if time.monotonic() - start > timeout_s:
                raise LabError(
                    f"BGP sessions not Established after {timeout_s:.0f} s: "
                    + ", ".join(f"{n}={state.get(n, '?')}" for n in down)
                )
            time.sleep(0.25)
