"""The real speakers' working folders (ExaBGP's, gobgpd's): there while the speaker runs
against BIRD, gone after it stops, after a start whose daemon exits at once, and after a
start that is cancelled. A start that raises, and the leftovers of a ``kill -9``, with
stand-in daemons: tests/unit/rib/test_speaker_workdir.py; test_fail_open.py checks that
the next start removes what a routepilot killed with SIGKILL left."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from routepilot.config.models import RouterConfig
from routepilot.rib.config import SpeakerConfig
from routepilot.rib.speaker import make_speaker
from routepilot.rib.speaker.process import ProcessSpeaker

from .conftest import ASN, LOCAL, ROUTER, Edge, speaker_config


def _speaker(config: SpeakerConfig) -> ProcessSpeaker:
    speaker = make_speaker(config, [RouterConfig(name="edge", address=ROUTER, asn=ASN,
                                                 local_address=LOCAL)])  # fmt: skip
    assert isinstance(speaker, ProcessSpeaker)
    return speaker


async def _until(
    condition: Callable[[], object], what: str, timeout: float = 30.0, every: float = 0.1
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(every)


def test_the_folder_lives_as_long_as_the_speaker(edge: Edge, backend: str) -> None:
    speaker = _speaker(speaker_config(backend, edge.netns))

    async def scenario() -> Path:
        await speaker.start()
        try:
            workdir = speaker.workdir
            assert workdir is not None and (workdir / "api.sock").exists()
            await _until(edge.session_established, "the session with BIRD")
            assert speaker.workdir == workdir and (workdir / "api.sock").exists()
        finally:
            await speaker.stop()
        return workdir

    workdir = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert not workdir.exists()


def test_a_daemon_that_exits_at_once_leaves_no_folder_after_stop(edge: Edge, backend: str) -> None:
    """The daemon's wrapper names a namespace that is gone: each start exits at once,
    the supervisor keeps trying in the same folder, and stop() removes it."""
    config = speaker_config(backend, f"{edge.netns}-gone", restart_delay=0.1)
    speaker = _speaker(config)

    async def scenario() -> Path:
        await speaker.start()
        try:
            workdir = speaker.workdir
            assert workdir is not None and workdir.is_dir()
            await _until(lambda: speaker.metrics.restarts >= 2, "two restarts")
            assert speaker.workdir == workdir
        finally:
            await speaker.stop()
        return workdir

    workdir = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert not workdir.exists()


def test_a_cancelled_start_leaves_no_daemon_and_no_folder(edge: Edge, backend: str) -> None:
    speaker = _speaker(speaker_config(backend, edge.netns))

    async def scenario() -> tuple[Path, int]:
        start = asyncio.create_task(speaker.start())
        # Every turn of the loop: gobgpd may answer within a few tens of milliseconds.
        await _until(lambda: speaker.pid is not None, "the daemon's start", every=0)
        workdir, pid = speaker.workdir, speaker.pid
        assert workdir is not None and pid is not None
        assert not start.done()  # cancelled while it waits for the daemon
        start.cancel()
        with pytest.raises(asyncio.CancelledError):
            await start
        return workdir, pid

    workdir, pid = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert not workdir.exists()
    assert not Path(f"/proc/{pid}").exists()
    assert not edge.session_established()
