"""probe/worker.py: the prober's worker process takes every input the daemon gives, answers
without holding the event loop (and from the API's threads), comes back when it dies or
hangs, counted, and stops quickly.

The worker runs with ``enabled: false``: a real child process and pipe, no socket, so no
root and no packet (the namespaces' tests probe for real: tests/integration/probe/).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from routepilot.probe import worker
from routepilot.probe.config import ProbeConfig
from routepilot.probe.rollup import MemoryRollupSink
from routepilot.probe.sockets import ProbeSetupError, Steering
from routepilot.probe.worker import ProberProcess, added_counters

PROVIDERS = [("isp1", Steering()), ("isp2", Steering())]
A, B = "198.18.1.0/24", "198.18.2.0/24"


async def until(condition, timeout_s: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def prefixes(pr: ProberProcess) -> tuple[str, ...]:
    return (await pr.snapshot_async()).prefixes


def test_added_counters_keep_what_ended_children_counted() -> None:
    base = {
        "sent": {("isp1", "icmp"): 5},
        "rate_limited": 2,
        "read_delay_counts": [1, 0, 2],
        "retrying": 7,
    }
    current = {
        "sent": {("isp1", "icmp"): 1, ("isp2", "icmp"): 3},
        "rate_limited": 1,
        "read_delay_counts": [0, 1, 1],
        "retrying": 2,
    }
    assert added_counters(base, current) == {
        "sent": {("isp1", "icmp"): 6, ("isp2", "icmp"): 3},
        "rate_limited": 3,
        "read_delay_counts": [1, 1, 3],
        "retrying": 2,  # a gauge: the running child's
    }


def test_the_worker_takes_every_input_and_answers_on_the_loop_and_from_threads() -> None:
    async def scenario() -> None:
        pr = ProberProcess(ProbeConfig(), PROVIDERS, sink=MemoryRollupSink())
        with pytest.raises(KeyError):
            pr.set_paths([(A, "isp9", 0)])
        pr.set_paths([(A, "isp1", 0), (A, "isp2", 2)])  # before start: kept
        pr.observe_destinations(["198.18.1.7"])
        await pr.start()
        try:
            assert await prefixes(pr) == (A,)
            snap = pr.snapshot()  # synchronous, on the loop's thread
            assert snap.prefixes == (A,) and snap.providers == ("isp1", "isp2")
            pr.set_paths([(B, "isp2", 0)])
            pr.hint({B: time.time() + 10}, time.time())
            pr.reconfigure(ProbeConfig(max_rate=50))
            assert pr.config.max_rate == 50
            assert await prefixes(pr) == (B,)
            assert await pr.failing_paths_async() == [] and pr.failing_paths() == []
            # The API's handlers run on worker threads: their questions go through the loop.
            assert await asyncio.to_thread(pr.minute_so_far, B) == []
            threaded = await asyncio.to_thread(pr.snapshot)
            assert threaded.prefixes == (B,)
            assert pr.recent_rtts() == {(B, "isp2"): []}
            assert pr.refresh_metrics().total("sent") == 0
        finally:
            await pr.stop()
            await pr.stop()
        # No worker: empty answers, no error.
        assert (await pr.snapshot_async()).prefixes == ()
        assert await pr.failing_paths_async() == []

    asyncio.run(scenario())


def test_a_dead_worker_comes_back_with_the_paths_in_force_and_is_counted() -> None:
    async def scenario() -> None:
        pr = ProberProcess(ProbeConfig(), PROVIDERS)
        await pr.start()
        try:
            pr.set_paths([(A, "isp1", 0)])
            assert await prefixes(pr) == (A,)
            first = pr.pid
            assert first is not None
            os.kill(first, signal.SIGKILL)
            await until(lambda: pr.restarts == 1 and pr.pid not in (None, first))
            assert await prefixes(pr) == (A,)  # the new child measures the same paths
            await until(lambda: pr.metrics.worker_restarts == 1)
            names = {m.name for m in pr.metrics.collect()}
            assert "routepilot_probe_worker_restarts" in names
        finally:
            await pr.stop()
        assert pr.pid is None

    asyncio.run(scenario())


def test_a_hung_worker_is_ended_and_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker, "CALL_TIMEOUT_S", 0.5)

    async def scenario() -> None:
        pr = ProberProcess(ProbeConfig(), PROVIDERS)
        pr.set_paths([(A, "isp2", 1)])
        await pr.start()
        try:
            hung = pr.pid
            assert hung is not None
            os.kill(hung, signal.SIGSTOP)
            t0 = time.monotonic()
            snap = await pr.snapshot_async()
            assert snap.prefixes == () and time.monotonic() - t0 < 2.0  # empty, not stuck
            await until(lambda: pr.restarts == 1 and pr.pid not in (None, hung))
            assert await prefixes(pr) == (A,)
        finally:
            await pr.stop()

    asyncio.run(scenario())


PARENT = """
import asyncio, sys
from routepilot.probe.config import ProbeConfig
from routepilot.probe.sockets import ProbeSetupError, Steering
from routepilot.probe.worker import ProberProcess

async def main():
    pr = ProberProcess(ProbeConfig(), [("isp1", Steering())])
    await pr.start()
    print(pr.pid, flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


def test_the_worker_ends_when_the_daemon_is_killed() -> None:
    """A daemon killed with SIGKILL stops nothing: its end of the pipe closes, and the
    child ends on its own."""
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        child = psutil.Process(int(parent.stdout.readline()))
        parent.kill()
        parent.wait(5)
        deadline = time.monotonic() + 10
        while child.is_running() and child.status() != psutil.STATUS_ZOMBIE:
            assert time.monotonic() < deadline, "the worker outlived its daemon"
            time.sleep(0.05)
    finally:
        parent.kill()
        parent.wait(5)


def test_stopping_while_a_new_worker_starts_leaves_no_worker() -> None:
    def workers() -> list[psutil.Process]:
        kids = psutil.Process().children()
        return [p for p in kids if "spawn_main" in " ".join(p.cmdline())]

    async def scenario() -> None:
        pr = ProberProcess(ProbeConfig(), PROVIDERS)
        await pr.start()
        first = pr.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        await until(lambda: pr.restarts == 1)  # the new child is being spawned
        await asyncio.sleep(0.1)
        t0 = time.monotonic()
        await pr.stop()
        assert time.monotonic() - t0 < 3.0
        assert pr.pid is None

    asyncio.run(scenario())
    deadline = time.monotonic() + 5
    while any(p.status() != psutil.STATUS_ZOMBIE for p in workers()):
        assert time.monotonic() < deadline, "a worker outlived stop()"
        time.sleep(0.05)


def test_a_worker_that_dies_before_it_is_up_is_a_setup_error() -> None:
    """Its pipe's end closes before a word: the caller gets ProbeSetupError, as for a
    socket refused (the daemon's start fails; a restart tries again)."""

    async def scenario() -> None:
        broken = [("isp1", "not a steering")]  # the child fails to build its prober
        pr = ProberProcess(ProbeConfig(enabled=True), broken)  # type: ignore[list-item]
        with pytest.raises(ProbeSetupError, match="died while starting"):
            await pr.start()
        await pr.stop()

    asyncio.run(scenario())
