"""The controller under leadership (in-memory lease, fake speaker): a standby announces
nothing; at takeover it announces the shared state's improvements at once; cut off
from the lease it withdraws everything."""

from __future__ import annotations

import asyncio
import subprocess
import sys

from tests.unit.run.test_controller import (
    CONFIGURED,
    Clock,
    StubPipeline,
    StubProber,
    _routers_up,
    until,
)

from routepilot.config.ha import HaConfig
from routepilot.ha import ACTIVE, STANDBY, Leadership, MemoryLease
from routepilot.rib.speaker.fake import FakeSpeaker
from routepilot.run.wiring import build_controller, build_stages
from routepilot.store import AsyncStore, ControllerState, MemoryStore


def test_standby_takes_over_the_shared_improvements_and_steps_down_when_cut_off() -> None:
    async def body() -> None:
        clock = Clock()
        store = MemoryStore()
        # What the former active saved a round ago: 198.18.0.0/24 through isp2.
        store.save_state(ControllerState(injections={"198.18.0.0/24": "isp2"},
                                         saved_at=clock.now - 2))  # fmt: skip
        lease = MemoryLease()
        assert lease.peer().acquire("old", 1.0, "").held  # the old active, about to die
        leader = Leadership(
            HaConfig(enabled=True, node="new", lease_s=2.0, renew_s=0.25, margin_s=1.0), lease
        )
        speaker = FakeSpeaker(["edge"])
        stages = build_stages(
            CONFIGURED,
            store=AsyncStore(store),
            speaker=speaker,
            prober_factory=lambda sink: StubProber(),
            clock=clock,
            leadership=leader,
        )
        stages.pipeline = StubPipeline(clock)  # type: ignore[assignment]
        c = build_controller(CONFIGURED, stages, clock=clock)
        await c.start()
        try:
            await _routers_up(c, speaker)
            await until(lambda: c.last_result is not None)  # a standby's round, for the view
            assert c.standby and leader.role == STANDBY
            assert not [x for x in speaker.calls if x[0] == "announce" and x[2]]

            await until(lambda: leader.role == ACTIVE, timeout=5)

            # The role turns active before the takeover has announced: wait for it.
            def announced() -> list:
                return [x for x in speaker.calls if x[0] == "announce" and x[2]]

            await until(lambda: bool(announced()) and bool(c.takeovers), timeout=5)
            first = announced()[0]
            assert [(r.prefix, r.next_hop) for r in first[2]] == [("198.18.0.0/24", "100.64.2.2")]
            took = c.takeovers[-1]
            assert (took["saved"], took["announced"], took["state_age_s"]) == (1, 1, 2.0)

            lease.fail = True  # cut off from the database
            await until(lambda: leader.role == STANDBY, timeout=5)
            await until(lambda: not speaker.rib_out["edge"])
            assert leader.metrics.step_downs == 1
        finally:
            await c.stop()

    asyncio.run(body())


class ProcessSpeaker(FakeSpeaker):
    """A fake speaker with a process, as ExaBGP's (its ``pid`` a property)."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        super().__init__(["edge"])
        self.proc = proc

    @property
    def pid(self) -> int:
        return self.proc.pid


def test_last_resort_kills_the_speakers_process() -> None:
    """Dropping the sessions (the watchdog's last resort) kills the BGP speaker."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        leader = Leadership(HaConfig(enabled=True, node="a"), MemoryLease())
        stages = build_stages(
            CONFIGURED,
            store=AsyncStore(MemoryStore()),
            speaker=ProcessSpeaker(proc),
            leadership=leader,
        )
        build_controller(CONFIGURED, stages)  # wires the last resort
        assert leader.last_resort is not None
        leader.last_resort()
        assert proc.wait(5) == -9
    finally:
        proc.kill()
        proc.wait()
