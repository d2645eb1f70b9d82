"""The speakers' working folders (``rib/speaker/workdir.py``, ``process.py``): there while
the speaker runs, one across the daemon's restarts, and gone after a stop, a start that
fails or is cancelled, and (at the next start) after a ``kill -9`` of routepilot.

The daemons are stand-ins (a Python that exits, or sleeps) and each test has a temporary
directory of its own, so what is left is counted there and not in a shared /tmp.
tests/integration/rib/test_speaker_workdir.py does the same with the real daemons."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from routepilot.config.models import RouterConfig
from routepilot.rib.config import ExaBGPConfig, GoBGPConfig, SpeakerConfig
from routepilot.rib.speaker import make_speaker
from routepilot.rib.speaker.process import ProcessSpeaker
from routepilot.rib.speaker.workdir import WorkDir

ROUTER = RouterConfig(name="edge", address="100.64.0.1", asn=65000, local_address="100.64.0.2")
EXITS = [sys.executable, "-c", "raise SystemExit(3)"]
HANGS = [sys.executable, "-c", "import time; time.sleep(60)"]
BACKENDS = ["exabgp", "gobgp"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "gobgp":
        pytest.importorskip(
            "routepilot.rib.speaker.gobgp_api._gen.gobgp_pb2", reason="no stubs: make gobgp-api"
        )
    return str(request.param)


@pytest.fixture
def tmp(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The temporary directory the speakers make their folders in, for this test alone.

    A short one in the system's: ExaBGP's API socket is a path inside it, and a Unix
    socket's path has at most 107 bytes; under pytest's ``tmp_path`` (its base numbered
    by run) it grew past that after a hundred runs on one machine."""
    path = Path(tempfile.mkdtemp(prefix="rp-"))
    monkeypatch.setattr(tempfile, "tempdir", str(path))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def speaker(
    backend: str,
    command: list[str],
    start_timeout: float = 5.0,
    routers: list[RouterConfig] | None = None,
) -> ProcessSpeaker:
    config = SpeakerConfig(
        backend=backend,
        restart_delay=0.05,
        exabgp=ExaBGPConfig(command=command, start_timeout=start_timeout),
        gobgp=GoBGPConfig(command=command, start_timeout=start_timeout),
    )
    sp = make_speaker(config, routers or [ROUTER])
    assert isinstance(sp, ProcessSpeaker)
    return sp


async def until(condition: Callable[[], object], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


def left_in(tmp: Path) -> list[str]:
    return sorted(p.name for p in tmp.iterdir())


def test_the_folder_is_kept_across_restarts_and_removed_on_stop(tmp: Path, backend: str) -> None:
    """A daemon that exits at once: start() returns and the supervisor keeps restarting
    it, in the same folder; stop() removes it."""
    sp = speaker(backend, EXITS)

    async def scenario() -> None:
        await sp.start()
        folder = sp.workdir
        assert folder is not None and folder.is_dir() and folder.parent == tmp
        assert any(p.suffix in (".conf", ".toml") for p in folder.iterdir())
        await until(lambda: sp.metrics.restarts >= 3, "three restarts")
        assert sp.workdir == folder and left_in(tmp) == [folder.name]
        await sp.stop()
        assert not folder.exists() and sp.workdir is None

    asyncio.run(asyncio.wait_for(scenario(), 30))
    assert left_in(tmp) == []


def test_a_start_that_times_out_leaves_nothing_after_stop(tmp: Path, backend: str) -> None:
    sp = speaker(backend, HANGS, start_timeout=0.2)

    async def scenario() -> None:
        await sp.start()  # the daemon never answered: killed, left to the supervisor
        assert sp.workdir is not None and sp.workdir.is_dir()
        await until(lambda: sp.metrics.restarts >= 1, "the restart of the silent daemon")
        await sp.stop()

    asyncio.run(asyncio.wait_for(scenario(), 30))
    assert left_in(tmp) == []


def test_a_daemon_that_cannot_be_run_fails_the_start_and_leaves_no_folder(
    tmp: Path, backend: str
) -> None:
    sp = speaker(backend, [str(tmp / "no-such-daemon")])
    with pytest.raises(FileNotFoundError):
        asyncio.run(sp.start())
    assert left_in(tmp) == [] and sp.workdir is None


def test_a_configuration_that_cannot_be_written_leaves_no_folder(tmp: Path) -> None:
    pytest.importorskip("routepilot.rib.speaker.gobgp_api._gen.gobgp_pb2")
    # gobgpd needs a router id: no router_id and no local_address to take it from.
    nameless = RouterConfig(name="edge", address="100.64.0.1", asn=65000)
    sp = speaker("gobgp", HANGS, routers=[nameless])
    with pytest.raises(ValueError, match="router_id"):
        asyncio.run(sp.start())
    assert left_in(tmp) == []


def test_a_cancelled_start_stops_the_daemon_and_leaves_no_folder(tmp: Path, backend: str) -> None:
    sp = speaker(backend, HANGS, start_timeout=30)

    async def scenario() -> int:
        start = asyncio.create_task(sp.start())
        await until(lambda: sp.pid is not None, "the daemon's start")
        pid = sp.pid
        assert pid is not None
        start.cancel()
        with pytest.raises(asyncio.CancelledError):
            await start
        return pid

    pid = asyncio.run(asyncio.wait_for(scenario(), 30))
    assert left_in(tmp) == []
    assert not Path(f"/proc/{pid}").exists()  # stopped and reaped


def test_a_speaker_started_again_gets_a_new_folder_and_the_old_one_is_gone(
    tmp: Path, backend: str
) -> None:
    sp = speaker(backend, EXITS)

    async def scenario() -> None:
        await sp.start()
        first = sp.workdir
        with pytest.raises(RuntimeError, match="already started"):
            await sp.start()
        assert sp.workdir == first and left_in(tmp) == [first.name]
        await sp.stop()
        await sp.start()
        second = sp.workdir
        assert second is not None and second != first and left_in(tmp) == [second.name]
        await sp.stop()

    asyncio.run(asyncio.wait_for(scenario(), 30))
    assert left_in(tmp) == []


OWNER = """
import sys, time
from routepilot.rib.speaker.workdir import WorkDir
print(WorkDir.create(sys.argv[1]).path, flush=True)
time.sleep(60)
"""


def test_what_a_killed_owner_left_is_removed_by_the_next_start(tmp: Path, backend: str) -> None:
    """routepilot killed with SIGKILL cannot remove its folder: the next speaker's start
    does, and leaves a running one's alone."""
    prefix = speaker(backend, EXITS).WORKDIR
    env = {**os.environ, "TMPDIR": str(tmp), "PYTHONPATH": os.pathsep.join(sys.path)}
    owners = [
        subprocess.Popen([sys.executable, "-c", OWNER, prefix], stdout=subprocess.PIPE, env=env)
        for _ in range(2)
    ]
    try:
        killed, running = (Path(o.stdout.readline().decode().strip()) for o in owners)  # type: ignore[union-attr]
        assert killed.is_dir() and running.is_dir() and killed.parent == tmp
        owners[0].send_signal(signal.SIGKILL)
        owners[0].wait()

        sp = speaker(backend, EXITS)

        async def scenario() -> None:
            await sp.start()
            assert not killed.exists()
            assert running.is_dir()
            await sp.stop()

        asyncio.run(asyncio.wait_for(scenario(), 30))
        assert left_in(tmp) == [running.name]
    finally:
        for owner in owners:
            owner.kill()
            owner.wait()


def test_a_folder_is_removed_once_and_its_lock_released(tmp: Path) -> None:
    folder = WorkDir.create("routepilot-test-")
    folder.remove()
    folder.remove()
    assert left_in(tmp) == []
