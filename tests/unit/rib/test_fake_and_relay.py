"""The fake speaker's ExaBGP-like behaviour, and the relay ExaBGP runs as its helper."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import routepilot.rib.speaker.exabgp_relay as relay_module
from routepilot.rib.speaker.base import (
    InjectedRoute,
    PathAttributes,
    PathsLearned,
    SessionChanged,
    SpeakerRestarted,
)
from routepilot.rib.speaker.fake import FakeSpeaker


def test_fake_keeps_adj_rib_out_across_flaps_and_loses_it_on_crash():
    async def scenario() -> list:
        sp = FakeSpeaker(["r1", "r2"])
        await sp.start()
        route = InjectedRoute("198.18.1.0/24", "100.64.1.1", 500)
        await sp.announce([route], "r1")
        sp.session("r1", True)
        sp.session("r1", False)
        assert sp.rib_out["r1"] == {"198.18.1.0/24": route}
        assert sp.rib_out["r2"] == {}
        sp.session("r1", True)
        sp.learn("r1", PathAttributes("100.64.1.1"), ["198.18.1.0/24"])
        sp.crash()
        assert sp.rib_out["r1"] == {}
        return sp.pending_events()

    events = asyncio.run(scenario())
    assert [type(e) for e in events] == [
        SessionChanged,
        SessionChanged,
        SessionChanged,
        PathsLearned,
        SessionChanged,
        SpeakerRestarted,
    ]


def test_relay_copies_both_ways_and_exits_when_routepilot_goes(tmp_path: Path):
    path = str(tmp_path / "api.sock")

    async def scenario() -> tuple[bytes, bytes, int]:
        got: asyncio.Queue = asyncio.Queue()

        async def on_connect(reader, writer):
            await got.put((reader, writer))

        server = await asyncio.start_unix_server(on_connect, path)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            relay_module.__file__,
            path,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        reader, writer = await asyncio.wait_for(got.get(), 10)
        proc.stdin.write(b'{"type": "state"}\n')
        await proc.stdin.drain()
        from_exabgp = await asyncio.wait_for(reader.readline(), 10)
        writer.write(b"announce attributes next-hop 1.2.3.4 nlri 198.18.0.0/24\n")
        await writer.drain()
        to_exabgp = await asyncio.wait_for(proc.stdout.readline(), 10)
        writer.close()
        code = await asyncio.wait_for(proc.wait(), 10)
        server.close()
        return from_exabgp, to_exabgp, code

    from_exabgp, to_exabgp, code = asyncio.run(scenario())
    assert from_exabgp == b'{"type": "state"}\n'
    assert to_exabgp.startswith(b"announce attributes")
    assert code == 0
