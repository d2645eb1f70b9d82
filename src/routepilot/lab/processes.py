"""The lab's processes: started detached, recorded in the state file, ended by PID.

Every daemon the lab starts goes through `ProcessTable`, so `lab down` (even from
another process, even after a crash) finds it in the state file. A PID is only
signalled when its command line still carries the recorded marker.
"""

from __future__ import annotations

from pathlib import Path

from routepilot.lab.netns import pid_alive, pid_cmdline, spawn, terminate
from routepilot.lab.spec import LabSpec
from routepilot.lab.state import LabState, ProcessRecord


def owns(rec: ProcessRecord) -> bool:
    """Whether the recorded process still runs and is still the one we started."""
    return pid_alive(rec.pid) and rec.marker in pid_cmdline(rec.pid)


class ProcessTable:
    """The processes of one lab, as its state file records them."""

    def __init__(self, spec: LabSpec, state: LabState) -> None:
        self.spec = spec
        self.state = state

    @property
    def dir(self) -> Path:
        return self.state.dir

    def spawn(self, node: str, role: str, cmd: list[str], marker: str) -> int:
        """Starts ``cmd`` inside ``node``'s namespace; its output goes to <node>-<role>.log."""
        return self._record(
            node, role, spawn(self.spec.ns(node), cmd, self._log(node, role)), marker
        )

    def spawn_on_host(self, node: str, role: str, cmd: list[str], marker: str) -> int:
        """Starts ``cmd`` on the host, for a process that moves itself into ``node``
        (`routepilot run --netns` keeps its API socket on the host's loopback)."""
        return self._record(node, role, spawn(None, cmd, self._log(node, role)), marker)

    def _log(self, node: str, role: str) -> Path:
        return self.dir / f"{node}-{role}.log"

    def _record(self, node: str, role: str, pid: int, marker: str) -> int:
        self.state.processes.append(ProcessRecord(node, role, pid, marker))
        self.state.save()
        return pid

    def running(self, role: str, node: str | None = None) -> list[int]:
        """PIDs of the live processes of ``role`` (on ``node`` when given)."""
        return [
            r.pid
            for r in self.state.processes
            if r.role == role and (node is None or r.node == node) and owns(r)
        ]

    def stop(self, role: str, timeout_s: float = 3.0) -> bool:
        """Ends every process of ``role`` (SIGTERM, then SIGKILL) and forgets them;
        returns whether one was running."""
        pids = self.running(role)
        terminate(pids, timeout=timeout_s)
        self.forget(role)
        return bool(pids)

    def forget(self, role: str) -> None:
        self.state.processes = [r for r in self.state.processes if r.role != role]
        self.state.save()
