"""The lab as a whole: `up`, `down`, `status`, and one handle on everything else.

`Lab` is what the CLI, the demo, the tests and the benchmarks use. Each job it
offers lives in its own module and is reached through here:

- `topology.py` builds the namespaces and links, `daemons.py` and
  `exporters.py` start the routers, delayers, sink and flow exporters,
  `processes.py` records every process so `down` can end it;
- `routers.py` asks the routers (consoles, BGP sessions);
- `ctl.py` runs the controller, `sender.py` the traffic source, `shaping.py`
  keeps the impairments.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from routepilot.lab import impair, sender, topology, transit
from routepilot.lab.ctl import ControllerProcess
from routepilot.lab.daemons import start_daemons
from routepilot.lab.database import Database
from routepilot.lab.delayer import Hold
from routepilot.lab.exporters import ifindexes
from routepilot.lab.netns import (
    LabError,
    delete_namespace,
    list_namespaces,
    namespace_pids,
    nsrun,
    terminate,
)
from routepilot.lab.processes import ProcessTable, owns
from routepilot.lab.routers import Routers
from routepilot.lab.shaping import Shaping
from routepilot.lab.spec import LabSpec
from routepilot.lab.state import LabState, state_root
from routepilot.log import get_logger

log = get_logger(__name__)


class Lab:
    """A running (or to-be-started) lab, identified by its name.

    Its files live in ``root``/<name> (`state.state_root()` when not given)."""

    def __init__(self, spec: LabSpec, root: Path | None = None) -> None:
        self.spec = spec
        self.root = root or state_root()
        self.state = LabState.load(spec.name, self.root) or self._fresh_state()

    def _fresh_state(self) -> LabState:
        return LabState(
            name=self.spec.name,
            spec=self.spec.model_dump(mode="json"),
            created=time.time(),
            root=self.root,
        )

    # -- lookup ---------------------------------------------------------------

    @classmethod
    def attach(cls, name: str = "rplab", root: Path | None = None) -> Lab:
        """The lab called ``name`` as `lab up` recorded it."""
        state = LabState.load(name, root)
        if state is None:
            raise LabError(f"lab {name!r} is not up (start it with `routepilot lab up`)")
        return cls(LabSpec.model_validate(state.spec), state.root)

    @property
    def dir(self) -> Path:
        return self.state.dir

    def ns(self, node: str) -> str:
        if node not in self.spec.nodes():
            raise LabError(f"unknown node {node!r} (nodes: {', '.join(self.spec.nodes())})")
        return self.spec.ns(node)

    def is_up(self) -> bool:
        mine = [n for n in list_namespaces() if n.startswith(f"{self.spec.name}-")]
        return bool(mine) or (self.dir / "state.json").exists()

    # The collaborators are made on use: `down` replaces the state they work on.

    @property
    def _procs(self) -> ProcessTable:
        return ProcessTable(self.spec, self.state)

    @property
    def _routers(self) -> Routers:
        return Routers(self.spec, self.dir)

    @property
    def _controller(self) -> ControllerProcess:
        return ControllerProcess(self._procs, self._routers)

    def _controller_in(self, node: str) -> ControllerProcess:
        if node not in self.spec.controller_nodes():
            known = ", ".join(self.spec.controller_nodes())
            raise LabError(f"no controller node {node!r} in this lab (controllers: {known})")
        return ControllerProcess(self._procs, self._routers, node)

    # -- up / down --------------------------------------------------------------

    def up(self, wait_s: float = 30.0) -> None:
        if self.is_up():
            raise LabError(
                f"lab {self.spec.name!r} is already up (see `routepilot lab status`, "
                "or `routepilot lab down` first)"
            )
        self.dir.mkdir(parents=True, exist_ok=True)
        self.state.save()
        try:
            topology.build(self.spec, self.state.namespaces)
            self.state.save()
            start_daemons(self._procs)
            if self.spec.controllers > 1:
                Database(self._procs).start()
            for node in self.spec.controller_nodes():
                self._controller_in(node).write_config()
            if wait_s:
                self.wait_established(wait_s)
        except BaseException:
            log.error("lab up failed; removing what was built", lab=self.spec.name)
            self.down()
            raise
        self.state.ready = True
        self.state.save()
        log.info("lab up", lab=self.spec.name, providers=len(self.spec.providers))

    def down(self) -> list[str]:
        """Removes every namespace, process and file of this lab; returns what it removed."""
        removed: list[str] = []
        # The database first, by a fast shutdown: killed, it would leave shared memory.
        with contextlib.suppress(OSError, LabError):
            Database(self._procs).stop()
        pids = [r.pid for r in self.state.processes if owns(r)]
        ours = sorted(
            {
                *self.state.namespaces,
                *[n for n in list_namespaces() if n.startswith(f"{self.spec.name}-")],
            }
        )
        for ns in ours:
            pids += namespace_pids(ns)
        terminate(sorted(set(pids)))
        removed += [f"pid {p}" for p in sorted(set(pids))]
        for ns in ours:
            delete_namespace(ns)
            removed.append(f"netns {ns}")
        if self.dir.exists():
            shutil.rmtree(self.dir)
            removed.append(f"dir {self.dir}")
        self.state = LabState(
            name=self.spec.name, spec=self.state.spec, created=time.time(), root=self.root
        )
        return removed

    def ifindexes(self) -> dict[str, int]:
        """Kernel ifIndex of each of edge's provider-facing interfaces."""
        return ifindexes(self.spec)

    # -- the controller -----------------------------------------------------------

    @property
    def controller_config_path(self) -> Path:
        return self._controller.config_path

    def controller_pid(self, node: str = "ctl") -> int | None:
        return self._controller_in(node).pid()

    def controller_start(
        self,
        config: Path | None = None,
        api_port: int | None = None,
        wait_s: float = 30.0,
        dry_run: bool = False,
        node: str = "ctl",
    ) -> int:
        """Starts `routepilot run` for this lab: BGP, flows and probes in ``node``, its API
        on the host's loopback. Returns its PID once its BGP session is Established."""
        return self._controller_in(node).start(config, api_port, wait_s, dry_run)

    def controllers_start(self, wait_s: float = 30.0, dry_run: bool = False) -> dict[str, int]:
        """Starts every controller node of the lab (APIs on 127.0.0.1:8080, 8081), in order."""
        return {
            node: self._controller_in(node).start(None, None, wait_s, dry_run)
            for node in self.spec.controller_nodes()
        }

    def controller_kill(self, node: str = "ctl") -> bool:
        """SIGKILL, as a crash would: for fail-open tests and demonstrations."""
        return self._controller_in(node).kill()

    def controller_stop(self, timeout_s: float = 15.0, node: str = "ctl") -> bool:
        """Stops the controller gracefully (it withdraws its routes first)."""
        return self._controller_in(node).stop(timeout_s)

    def controller_config_of(self, node: str) -> Path:
        return self._controller_in(node).config_path

    # -- the database (HA lab) --------------------------------------------------------

    def database_pid(self) -> int | None:
        return Database(self._procs).pid()

    def link(self, node: str, peer: str, up: bool) -> None:
        """Sets ``node``'s interface toward ``peer`` up or down (`lab link`): cutting a
        controller off from the database, for instance."""
        self.ns(node)
        self.ns(peer)
        nsrun(self.ns(node), ["ip", "link", "set", peer, "up" if up else "down"])

    # -- BGP ----------------------------------------------------------------------

    def birdc(self, node: str, command: str) -> str:
        self.ns(node)
        return self._routers.birdc(node, command)

    def vtysh(self, command: str, node: str = "edge") -> str:
        """Runs a command on an FRR edge or the route reflector (`show bgp summary json` …)."""
        self.ns(node)
        return self._routers.vtysh(command, node)

    def bgp_sessions(self, node: str = "edge") -> dict[str, str]:
        """Session name -> BGP state (Established, Active, Connect …) as the router reports it."""
        return self._routers.bgp_sessions(node)

    def wait_established(self, timeout_s: float) -> float:
        """Waits until every edge<->provider session is Established; returns seconds taken."""
        return self._routers.wait_established(timeout_s)

    # -- impairments ------------------------------------------------------------

    def impairments(self, provider: str) -> list[impair.Impairment]:
        return Shaping(self._procs).of(provider)

    def impair(
        self,
        provider: str,
        prefixes: list[str] | None = None,
        *,
        delay_ms: float = 0.0,
        jitter_ms: float = 0.0,
        loss_pct: float = 0.0,
        blackhole: bool = False,
    ) -> None:
        """Sets the impairment of ``provider`` toward ``prefixes`` (all destinations when none)."""
        update = impair.Impairment(impair.ALL, delay_ms, jitter_ms, loss_pct, blackhole)
        Shaping(self._procs).set(provider, prefixes, update)

    def held(self, node: str) -> tuple[bool, list[Hold]]:
        """Whether ``node``'s delayer runs real-time, and the packets it held lately: the
        delay the path really added, which a loaded machine makes longer than configured."""
        return Shaping(self._procs).held(node)

    def clear(self, provider: str, prefixes: list[str] | None = None) -> None:
        """Removes impairments of ``provider`` (only for ``prefixes`` when given)."""
        Shaping(self._procs).clear(provider, prefixes)

    def clear_all(self) -> None:
        """Removes every provider's impairments."""
        shaping = Shaping(self._procs)
        for p in self.spec.providers:
            shaping.clear(p.name)

    # -- traffic ----------------------------------------------------------------

    def traffic_start(
        self, rate_mbps: float | None = None, duration_s: float | None = None, v6: bool = True
    ) -> int:
        return sender.start(self._procs, rate_mbps, duration_s, v6)

    def traffic_stop(self) -> bool:
        return sender.stop(self._procs)

    # -- status -----------------------------------------------------------------

    def status(self) -> dict:
        existing = set(list_namespaces())
        procs = [
            {"node": r.node, "role": r.role, "pid": r.pid, "alive": owns(r)}
            for r in self.state.processes
        ]
        edge_routes = 0
        with contextlib.suppress(LabError):
            proto = "bgp" if self.spec.edge_router == "frr" else "bird"
            edge_routes = len(
                nsrun(self.ns("edge"), ["ip", "route", "show", "proto", proto]).splitlines()
            )
        traffic = dict(self.state.traffic)
        if traffic:
            traffic["running"] = any(p["alive"] for p in procs if p["role"] == "traffic")
        return {
            "name": self.spec.name,
            "edge_router": self.spec.edge_router,
            "ready": self.state.ready,
            "nodes": {
                n: {"namespace": self.spec.ns(n), "exists": self.spec.ns(n) in existing}
                for n in self.spec.nodes()
            },
            "providers": [
                {
                    "name": p.name,
                    "asn": p.asn,
                    "capacity_mbps": p.capacity_mbps,
                    "announces": len(p.announced(self.spec.prefixes)),
                    "impairments": self.state.impairments.get(p.name, []),
                }
                for p in self.spec.providers
            ],
            "transits": [
                {
                    "name": t,
                    "asn": transit.transit_asn(transit.transit_index(t)),
                    "impairments": self.state.impairments.get(t, []),
                }
                for t in self.spec.transit_names()
            ],
            "bgp": self.bgp_sessions("edge"),
            "edge_bgp_routes_in_fib": edge_routes,
            "processes": procs,
            "traffic": traffic,
            "controller_config": str(self.controller_config_path),
        }


@contextlib.contextmanager
def running(spec: LabSpec, wait_s: float = 30.0, root: Path | None = None) -> Iterator[Lab]:
    """A lab up for the duration of a block (tests, benchmarks) and removed after it,
    whatever happens. A leftover of the same name (a run that was killed) goes first."""
    lab = Lab(spec, root)
    lab.down()
    try:
        lab.up(wait_s=wait_s)
        yield lab
    finally:
        lab.down()
