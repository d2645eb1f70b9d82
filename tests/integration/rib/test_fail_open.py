"""Fail-open: when routepilot is killed with SIGKILL, its speaker (ExaBGP or gobgpd) goes
too and so do our routes. The speaker's working folder cannot go with it: the next
start removes it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from routepilot.config.models import RouterConfig
from routepilot.rib.speaker import make_speaker

from .conftest import ASN, LOCAL, PROVIDERS, ROUTER, Edge, speaker_config, wait_for

CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from routepilot.config.models import InjectConfig, RouterConfig
    from routepilot.inject.injector import DesiredRoute, Injector
    from routepilot.rib.config import ExaBGPConfig, GoBGPConfig, SpeakerConfig
    from routepilot.rib.speaker import make_speaker
    from routepilot.rib.speaker.base import SessionChanged

    async def main():
        router = RouterConfig(name="edge", address="{router}", asn={asn}, local_address="{local}")
        wrapper = ["ip", "netns", "exec", "{netns}"]
        config = SpeakerConfig(
            backend="{backend}",
            exabgp=ExaBGPConfig(wrapper=wrapper),
            gobgp=GoBGPConfig(wrapper=wrapper, listen=True),
        )
        speaker = make_speaker(config, [router])
        injector = Injector(InjectConfig(dry_run=False), {providers!r}, speaker)
        await speaker.start()
        print(speaker.pid, speaker.workdir, flush=True)
        async for event in speaker.events():
            await injector.handle(event)
            if isinstance(event, SessionChanged) and event.up:
                await injector.set_desired([DesiredRoute("198.18.1.0/24", "isp3")])

    asyncio.run(main())
    """
)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


async def _start_and_stop(edge: Edge, backend: str) -> None:
    router = RouterConfig(name="edge", address=ROUTER, asn=ASN, local_address=LOCAL)
    speaker = make_speaker(speaker_config(backend, edge.netns), [router])
    await speaker.start()
    await speaker.stop()


def test_kill_9_of_routepilot_takes_the_speaker_and_its_routes_away(
    edge: Edge, backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    code = CHILD.format(
        router=ROUTER,
        asn=ASN,
        local=LOCAL,
        netns=edge.netns,
        providers=PROVIDERS,
        backend=backend,
    )
    # The child's temporary directory is this test's: its folder is found there.
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env
    )
    speaker_pid = None
    try:
        pid, workdir = child.stdout.readline().split()
        speaker_pid = int(pid)
        wait_for(lambda: edge.routes_from_ctl() == {"198.18.1.0/24": "100.64.3.1"})
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        t0 = time.monotonic()
        wait_for(lambda: edge.routes_from_ctl() == {}, timeout=10)
        elapsed = time.monotonic() - t0
        wait_for(lambda: not _alive(speaker_pid), timeout=10)
        print(f"fail-open: routes gone from BIRD {elapsed:.2f} s after kill -9")
        # PR_SET_PDEATHSIG sends SIGTERM at once: far quicker than a hold timer.
        assert elapsed < 5
        # The killed routepilot's folder is left; the next speaker started removes it.
        assert Path(workdir).is_dir()
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
        asyncio.run(_start_and_stop(edge, backend))
        assert not Path(workdir).exists()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if speaker_pid and _alive(speaker_pid):
            os.kill(speaker_pid, signal.SIGKILL)
