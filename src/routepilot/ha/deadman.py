"""The dead man's switch: a small process beside the daemon that kills the BGP speaker
when the active's lease deadline passes and the daemon itself cannot act.

The leadership's watchdog thread (``ha/leader.py``) covers a daemon whose event loop
is held up. It cannot cover a daemon that is frozen whole: SIGSTOP, a process stopped
in a debugger, a host swapping it out. The speaker is a process of its own and keeps
its BGP sessions, with the frozen active's routes, while the standby takes the
expired lease and announces its own. The switch runs in a session of its own, so
that it is not frozen with the daemon. After each renewal the daemon arms it with the
deadline (``CLOCK_MONOTONIC``, which every process on the host shares) and the
speaker's process. If the deadline passes unrenewed, the switch kills the speaker:
the routers drop the session and withdraw its routes (fail open) within the lease's
margin, before any standby may announce.

A process is killed only if it is still the one it was armed with: its start time,
from ``/proc``, must match, so a recycled pid is never hit. At the daemon's end
(EOF on stdin) an armed switch still keeps its deadline, then exits.

The child side runs as a script (``python deadman.py``) and imports only the
standard library. The daemon's side is :class:`DeadMan`.

Protocol, one line per command on the child's stdin:
``arm <deadline> <pid> <start time>``, ``disarm``. The child writes one line per
kill to stdout: ``killed <pid>`` or ``gone <pid>``.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks after boot (``/proc/<pid>/stat`` field 22),
    None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: count after the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[19])


# -- the child --------------------------------------------------------------------------


def _fire(pid: int, started: int, out: Callable[[str], None]) -> None:
    if start_time(pid) != started:
        out(f"gone {pid}")
        return
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        out(f"gone {pid}")
        return
    out(f"killed {pid}")


def run(stdin_fd: int = 0, out: Callable[[str], None] | None = None) -> None:
    """The child's loop: reads commands, kills at an armed deadline, ends at EOF (after
    keeping an armed deadline)."""

    def say(line: str) -> None:
        print(line, flush=True)

    out = out or say
    armed: tuple[float, int, int] | None = None
    buffer = b""
    open_ = True
    while open_ or armed is not None:
        timeout = None if armed is None else max(0.0, armed[0] - time.monotonic())
        readable: list[int] = []
        if open_:
            readable, _, _ = select.select([stdin_fd], [], [], timeout)
        elif timeout:
            time.sleep(timeout)
        if readable:
            chunk = os.read(stdin_fd, 4096)
            if not chunk:
                open_ = False
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                armed = _command(line.decode(errors="replace").split(), armed, out)
        if armed is not None and time.monotonic() >= armed[0]:
            _fire(armed[1], armed[2], out)
            armed = None


def _command(
    words: list[str], armed: tuple[float, int, int] | None, out: Callable[[str], None]
) -> tuple[float, int, int] | None:
    if words == ["disarm"]:
        return None
    if len(words) == 4 and words[0] == "arm":
        try:
            return float(words[1]), int(words[2]), int(words[3])
        except ValueError:
            pass
    out(f"bad command {' '.join(words)!r}")
    return armed


# -- the daemon's side ------------------------------------------------------------------


class DeadMan:
    """The daemon's handle on the switch process. ``arm``/``disarm`` are cheap (a line on
    a pipe) and safe from any thread; a switch that died is started again at the next
    call, and counted."""

    def __init__(self, log: Callable[..., None] | None = None) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._log = log
        self.starts = 0
        self.kills = 0
        """Speakers the switch killed (read from its output)."""
        self.armed_pid: int | None = None

    def start(self) -> None:
        with self._lock:
            self._spawn()

    def _spawn(self) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-I", str(Path(__file__).resolve())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            start_new_session=True,  # not stopped with the daemon's process group
            close_fds=True,
        )
        self.starts += 1
        threading.Thread(
            target=self._read, args=(self._proc,), name="ha-deadman", daemon=True
        ).start()

    def _read(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode(errors="replace").strip()
            if line.startswith("killed"):
                self.kills += 1
            if self._log is not None:
                self._log("dead man's switch", said=line)

    def arm(self, deadline: float, pid: int) -> None:
        """Kill ``pid`` at ``deadline`` (``time.monotonic()``) unless armed again first."""
        started = start_time(pid)
        if started is None:
            self.disarm()
            return
        self._send(f"arm {deadline:.6f} {pid} {started}\n")
        self.armed_pid = pid

    def disarm(self) -> None:
        self._send("disarm\n")
        self.armed_pid = None

    def _send(self, line: str) -> None:
        with self._lock:
            for _ in range(2):
                proc = self._proc
                if proc is None:
                    return  # stopped
                if proc.poll() is None and proc.stdin is not None:
                    try:
                        proc.stdin.write(line.encode())
                        proc.stdin.flush()
                        return
                    except (BrokenPipeError, ValueError):
                        pass
                if self._log is not None:
                    self._log("dead man's switch gone; starting it again", code=proc.poll())
                self._spawn()

    def stop(self) -> None:
        """Disarms and ends the switch (at the daemon's stop, every route withdrawn)."""
        self.disarm()
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(OSError, ValueError):
            assert proc.stdin is not None
            proc.stdin.close()
        try:
            proc.wait(2.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        run()
