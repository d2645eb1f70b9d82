"""Thin helpers over iproute2 and processes inside network namespaces.

Everything goes through `ip` so that what the lab does can be repeated by hand
by a network engineer reading the log.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from routepilot.log import get_logger

log = get_logger(__name__)


class LabError(Exception):
    """A lab operation that failed; the message is meant for the user."""


def run(cmd: Sequence[str], *, check: bool = True, input: str | None = None) -> str:
    """Runs a command on the host; raises LabError with its stderr when it fails."""
    log.debug("run", cmd=" ".join(cmd))
    proc = subprocess.run(list(cmd), capture_output=True, text=True, input=input)
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise LabError(f"`{' '.join(cmd)}` failed: {detail[-1] if detail else proc.returncode}")
    return proc.stdout


def nsrun(ns: str, cmd: Sequence[str], *, check: bool = True, input: str | None = None) -> str:
    return run(["ip", "netns", "exec", ns, *cmd], check=check, input=input)


def ip_batch(ns: str, lines: list[str]) -> None:
    """Applies many `ip` commands in one process (much faster than one each).

    Lines starting with ``-6`` run after the others in an ``ip -6`` batch, since
    a batch line cannot carry options.
    """
    v6 = [line[3:] for line in lines if line.startswith("-6 ")]
    rest = [line for line in lines if not line.startswith("-6 ")]
    for opts, group in (([], rest), (["-6"], v6)):
        if group:
            run(["ip", *opts, "-n", ns, "-batch", "-"], input="\n".join(group) + "\n")


def list_namespaces() -> list[str]:
    out = run(["ip", "netns", "list"], check=False)
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def add_namespace(ns: str) -> None:
    run(["ip", "netns", "add", ns])
    run(["ip", "-n", ns, "link", "set", "lo", "up"])


def namespace_pids(ns: str) -> list[int]:
    out = run(["ip", "netns", "pids", ns], check=False)
    return [int(x) for x in out.split() if x.isdigit()]


def delete_namespace(ns: str) -> None:
    run(["ip", "netns", "del", ns], check=False)


def spawn(ns: str | None, cmd: Sequence[str], log_path: Path) -> int:
    """Starts a long-running process inside a namespace (or on the host when ``ns`` is
    None), detached from the caller.

    The process gets its own session so that Ctrl-C on the CLI does not reach it;
    its PID is returned for the state file (processes are ended by PID, never by name).
    """
    argv = ["ip", "netns", "exec", ns, *cmd] if ns else list(cmd)
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    return proc.pid


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def pid_cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def stop_child(proc: subprocess.Popen | None, timeout: float = 10.0) -> None:
    """Ends a daemon started as our child: SIGTERM, then SIGKILL after ``timeout``."""
    if proc is None:
        return
    try:
        proc.send_signal(signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_answering(
    proc: subprocess.Popen, answers: Callable[[], bool], failure: str, timeout: float
) -> None:
    """Waits until a daemon just started as our child ``answers()``; if it exits first or
    ``timeout`` passes, it is stopped (:func:`stop_child`) and RuntimeError says ``failure``."""
    deadline = time.monotonic() + timeout
    while not answers():
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_child(proc)
            raise RuntimeError(failure)
        time.sleep(0.1)


def terminate(pids: Sequence[int], timeout: float = 3.0) -> None:
    """SIGTERM, then SIGKILL whatever is left after ``timeout`` seconds."""
    live = [p for p in pids if pid_alive(p)]
    for p in live:
        try:
            os.kill(p, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while live and time.monotonic() < deadline:
        _reap()
        live = [p for p in live if pid_alive(p)]
        if live:
            time.sleep(0.05)
    for p in live:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _reap()


def _reap() -> None:
    """Collects our own exited children so they do not linger as zombies."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def sysctl(ns: str, settings: dict[str, str]) -> None:
    nsrun(ns, ["sysctl", "-q", "-w", *[f"{k}={v}" for k, v in settings.items()]])
