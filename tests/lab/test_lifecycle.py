"""`lab up` / `lab down` leave nothing behind, even after failures and crashes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from routepilot.lab import daemons
from routepilot.lab.core import Lab
from routepilot.lab.netns import LabError, list_namespaces, pid_alive
from routepilot.lab.spec import default_spec
from routepilot.lab.state import LabState

NAME = "rplabd"


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "routepilot.cli.main", "lab", *args, "--name", NAME],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _nothing_left(pids: list[int]) -> None:
    assert not [n for n in list_namespaces() if n.startswith(f"{NAME}-")]
    assert not LabState.dir_for(NAME).exists()
    assert not [p for p in pids if pid_alive(p)]


@pytest.fixture
def cleanup():
    yield
    Lab(default_spec(2, 4, NAME)).down()


@pytest.mark.usefixtures("cleanup")
def test_down_from_another_process_removes_everything() -> None:
    up = _cli("up", "--providers", "2", "--prefixes", "4")
    assert up.returncode == 0, up.stderr
    state = LabState.load(NAME)
    assert state is not None and state.ready
    pids = [p.pid for p in state.processes]
    assert pids and all(pid_alive(p) for p in pids)

    again = _cli("up", "--providers", "2")
    assert again.returncode != 0
    assert "already up" in again.stderr and "Traceback" not in again.stderr

    down = _cli("down")
    assert down.returncode == 0, down.stderr
    _nothing_left(pids)
    assert _cli("down").returncode == 0  # idempotent


@pytest.mark.usefixtures("cleanup")
def test_down_after_a_crash_kills_by_pid() -> None:
    lab = Lab(default_spec(2, 4, NAME))
    lab.up(wait_s=0)
    pids = [p.pid for p in lab.state.processes]
    # A controller crash leaves daemons behind; one of them dies by itself too.
    os.kill(pids[0], signal.SIGKILL)
    del lab
    Lab.attach(NAME).down()
    _nothing_left(pids)


@pytest.mark.usefixtures("cleanup")
def test_failed_up_leaves_nothing_half_built(monkeypatch: pytest.MonkeyPatch) -> None:
    lab = Lab(default_spec(2, 4, NAME))

    def broken(procs: object) -> None:
        raise LabError("exporter failed to start")

    monkeypatch.setattr(daemons, "start_exporters", broken)
    with pytest.raises(LabError, match="exporter failed"):
        lab.up(wait_s=0)
    _nothing_left([p.pid for p in lab.state.processes])


def test_bad_input_is_one_clear_line() -> None:
    for args, expected in [
        (("up", "--providers", "9"), "between 2 and 8"),
        (("up", "--prefixes", "0"), "between 1 and 512"),
        (("impair", "isp1", "--delay", "5"), "not up"),
        (("status",), "not up"),
    ]:
        res = _cli(*args)
        assert res.returncode != 0
        assert expected in res.stderr, res.stderr
        assert "Traceback" not in res.stderr
