"""The controller in `ctl` (and `ctl2` in the HA lab): its generated config, and starting,
stopping, killing it.

`routepilot run` starts on the host and moves itself into `ctl` (`--netns`), so
its API listens on the host's loopback while BGP, flows and probes live in the lab.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from routepilot.config import Config, ConfigError, dump_yaml, load_file
from routepilot.lab.controller import controller_config
from routepilot.lab.exporters import ifindexes
from routepilot.lab.netns import LabError, pid_alive, terminate
from routepilot.lab.processes import ProcessTable
from routepilot.lab.routers import Routers
from routepilot.lab.snmp import community_file

ROLE = "controller"
API_PORTS = {"ctl": 8080, "ctl2": 8081}


class ControllerProcess:
    """One controller node's process, recorded in the lab's process table."""

    def __init__(self, procs: ProcessTable, routers: Routers, node: str = "ctl") -> None:
        self.procs = procs
        self.routers = routers
        self.node = node
        self.role = ROLE if node == "ctl" else f"{ROLE}-{node}"

    @property
    def config_path(self) -> Path:
        suffix = "" if self.node == "ctl" else f"-{self.node}"
        return self.procs.dir / f"routepilot{suffix}.yaml"

    def write_config(self, api_port: int | None = None) -> None:
        from routepilot.lab.database import Database

        spec = self.procs.spec
        database = None
        if spec.controllers > 1:
            db = Database(self.procs)
            database = {
                "kind": "postgresql",
                "dsn": db.dsn(self.node),
                "password_file": str(db.password_file),
                "connect_timeout_s": 3.0,
            }
        cfg = controller_config(
            spec,
            ifindexes(spec),
            str(self.procs.dir / "routepilot.db"),
            api_port or API_PORTS[self.node],
            str(community_file(self.procs.dir)),
            self.node,
            database,
        )
        self.config_path.write_text(dump_yaml(cfg))

    def pid(self) -> int | None:
        return next(iter(self.procs.running(self.role)), None)

    def start(
        self,
        config: Path | None = None,
        api_port: int | None = None,
        wait_s: float = 30.0,
        dry_run: bool = False,
    ) -> int:
        """Starts `routepilot run` for this lab; returns its PID once its BGP session
        is Established (at once when ``wait_s`` is 0)."""
        if self.pid():
            raise LabError(
                f"the controller in {self.node} is already running (lab controller stop first)"
            )
        if config is None:
            if api_port is not None:
                self.write_config(api_port)
            config = self.config_path
        if dry_run:
            config = self._dry_run_copy(config)
        cmd = [
            sys.executable,
            "-m",
            "routepilot.cli.main",
            "run",
            "-c",
            str(config),
            "--netns",
            self.procs.spec.ns(self.node),
        ]
        pid = self.procs.spawn_on_host(self.node, self.role, cmd, str(config))
        if wait_s:
            self._wait_established(pid, wait_s)
        return pid

    def _dry_run_copy(self, config: Path) -> Path:
        """The same config with injection in dry-run, written beside the original."""
        try:
            cfg = load_file(config, Config)
        except ConfigError as exc:
            raise LabError(str(exc)) from None
        cfg = cfg.model_copy(update={"inject": cfg.inject.model_copy(update={"dry_run": True})})
        suffix = "" if self.node == "ctl" else f"-{self.node}"
        path = self.procs.dir / f"routepilot{suffix}-dry-run.yaml"
        path.write_text(dump_yaml(cfg))
        return path

    def _wait_established(self, pid: int, wait_s: float) -> None:
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if not pid_alive(pid):
                log_file = self.procs.dir / f"{self.node}-{self.role}.log"
                tail = log_file.read_text().strip().splitlines()[-1:] if log_file.exists() else []
                raise LabError("the controller exited at start" + (f": {tail[0]}" if tail else ""))
            if self.routers.controller_established(self.node):
                return
            time.sleep(0.2)
        raise LabError(f"the controller's BGP session is not Established after {wait_s:.0f} s")

    def kill(self) -> bool:
        """SIGKILL, as a crash would: for fail-open tests and demonstrations."""
        pid = self.pid()
        if pid is None:
            return False
        os.kill(pid, signal.SIGKILL)
        terminate([pid], timeout=5)
        self.procs.forget(self.role)
        return True

    def stop(self, timeout_s: float = 15.0) -> bool:
        """Stops the controller gracefully (it withdraws its routes first)."""
        return self.procs.stop(self.role, timeout_s)
