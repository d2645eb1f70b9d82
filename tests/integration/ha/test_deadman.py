"""The dead man's switch with real processes: it kills the armed process at the deadline,
not before, not after a disarm, never a process that merely has the pid, and keeps an
armed deadline when the daemon's end of the pipe closes."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest

from routepilot.ha import deadman
from routepilot.ha.deadman import DeadMan, start_time


def _until(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


@pytest.fixture
def speaker() -> Iterator[subprocess.Popen[bytes]]:
    """A stand-in for the BGP speaker: a process that runs until killed."""
    proc = subprocess.Popen(["sleep", "60"])
    yield proc
    proc.kill()
    proc.wait()


@pytest.fixture
def switch() -> Iterator[DeadMan]:
    said: list[str] = []
    dm = DeadMan(lambda _msg, **kw: said.append(kw.get("said", "")))
    dm.said = said  # type: ignore[attr-defined]
    dm.start()
    yield dm
    dm.stop()


def test_kills_at_the_deadline_unless_armed_again(
    switch: DeadMan, speaker: subprocess.Popen[bytes]
) -> None:
    # Armed again before each deadline (the renewals): the speaker lives on.
    for _ in range(5):
        switch.arm(time.monotonic() + 0.3, speaker.pid)
        time.sleep(0.1)
    assert speaker.poll() is None
    armed = time.monotonic()
    switch.arm(armed + 0.3, speaker.pid)  # the last renewal: then the daemon freezes
    _until(lambda: speaker.poll() is not None)
    assert time.monotonic() - armed >= 0.3
    assert speaker.returncode == -9
    _until(lambda: switch.kills == 1)
    assert switch.said == [f"killed {speaker.pid}"]  # type: ignore[attr-defined]


def test_disarmed_it_kills_nothing(switch: DeadMan, speaker: subprocess.Popen[bytes]) -> None:
    switch.arm(time.monotonic() + 0.2, speaker.pid)
    switch.disarm()  # stepped down: the withdrawal is done
    switch.arm(time.monotonic() + 0.5, speaker.pid)  # armed and disarmed again
    switch.disarm()
    with pytest.raises(subprocess.TimeoutExpired):
        speaker.wait(1.0)
    assert switch.kills == 0


def test_a_recycled_pid_is_not_killed(speaker: subprocess.Popen[bytes]) -> None:
    """Armed with a start time that is not the process's: the pid now names another
    process, which is left alone and reported gone."""
    started = start_time(speaker.pid)
    assert started is not None
    child = subprocess.Popen(
        [sys.executable, "-I", deadman.__file__],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None and child.stdout is not None
    child.stdin.write(f"arm {time.monotonic() + 0.1:.6f} {speaker.pid} {started + 1}\n")
    child.stdin.write("arm nonsense\n")  # a bad command is said, never fatal
    child.stdin.flush()
    assert child.stdout.readline().strip() == "bad command 'arm nonsense'"
    assert child.stdout.readline().strip() == f"gone {speaker.pid}"
    assert speaker.poll() is None
    child.stdin.close()
    assert child.wait(5) == 0


def test_an_armed_deadline_outlives_the_daemon(speaker: subprocess.Popen[bytes]) -> None:
    """The daemon dies (its end of the pipe closes) while armed: the switch still kills
    at the deadline, then exits; disarmed, it exits at once."""
    switch = DeadMan()
    switch.start()
    switch.arm(time.monotonic() + 0.5, speaker.pid)
    proc = switch._proc
    assert proc is not None and proc.stdin is not None
    proc.stdin.close()  # what the kernel does when the daemon dies
    _until(lambda: speaker.poll() is not None)
    assert proc.wait(5) == 0
    switch.stop()
    with subprocess.Popen(["sleep", "60"]) as other:
        idle = DeadMan()
        idle.start()
        idle.arm(time.monotonic() + 0.5, other.pid)
        idle.stop()  # disarms, then closes
        assert idle.pid is None
        with pytest.raises(subprocess.TimeoutExpired):
            other.wait(1.0)
        other.kill()
