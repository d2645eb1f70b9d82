"""Asking the lab's routers: `birdc` and `vtysh` consoles, BGP session states.

Session names are BIRD's protocol names (isp1, isp1_v6, ctl) whichever daemon
runs edge, so tests and the CLI read one vocabulary.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from routepilot.lab import frr, ix, reflector
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

    def vtysh(self, command: str, node: str = "edge") -> str:
        """Runs a command on an FRR edge or the route reflector (`show bgp summary json` …)."""
        return nsrun(
            self.spec.ns(node),
            ["vtysh", "--vty_socket", str(self.dir / f"{node}-frr"), "-c", command],
        )

    def bgp_sessions(self, node: str = "edge") -> dict[str, str]:
        """Session name -> BGP state (Established, Active, Connect …) as the router reports it."""
        if node == "edge" and self.spec.edge_router == "frr":
            return self._frr_sessions()
        if node == "rr":
            return self._reflector_sessions()
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

    def _reflector_sessions(self) -> dict[str, str]:
        """The route reflector's sessions, named after its clients (edge, edge2, ctl)."""
        try:
            raw = json.loads(self.vtysh("show bgp neighbors json", "rr") or "{}")
        except (LabError, ValueError):
            return {}
        return {
            reflector.CLIENTS.get(addr, addr): info.get("bgpState", "?")
            for addr, info in raw.items()
            if isinstance(info, dict)
        }

    def controller_established(self, ctl: str) -> bool:
        """Is the controller in ``ctl`` peering with every router it peers with?"""
        if self.spec.reflector:
            return self.bgp_sessions("rr").get(ctl) == "Established"
        return all(
            self.bgp_sessions(node).get(ctl) == "Established" for node in self.spec.edge_nodes()
        )

    def _wanted(self) -> list[tuple[str, str]]:
        """(node, session) of every edge<->provider session, and the edges' iBGP."""
        out = [
            (node, f"{p.name}{s}")
            for node in self.spec.edge_nodes()
            for p in self.spec.edge_providers(node)
            for s in ("", "_v6")
        ]
        if self.spec.reflector:
            out += [("rr", node) for node in self.spec.edge_nodes()]
        elif self.spec.edges > 1:
            out.append(("edge", "edge2"))
        return out

    def wait_established(self, timeout_s: float) -> float:
        """Waits until every edge<->provider session is Established; returns seconds taken."""
        start = time.monotonic()
        wanted = self._wanted() + [("edge", name) for name in sorted(ix.sessions(self.spec))]
        while True:
            state = {
                (node, name): st
                for node in {n for n, _ in wanted}
                for name, st in self.bgp_sessions(node).items()
            }
            down = sorted(n for n in wanted if state.get(n) != "Established")
            if not down:
                return time.monotonic() - start
            if time.monotonic() - start > timeout_s:
                raise LabError(
                    f"BGP sessions not Established after {timeout_s:.0f} s: "
                    + ", ".join(_session_name(n) + f"={state.get(n, '?')}" for n in down)
                )
            time.sleep(0.25)


def _session_name(wanted: tuple[str, str]) -> str:
    """A session as the error names it: edge's by name alone (isp1), others' node:name."""
    node, name = wanted
    return name if node == "edge" else f"{node}:{name}"
