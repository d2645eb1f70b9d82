"""Work on a thread of its own: a cancelled caller still waits for the work to end."""

from __future__ import annotations

import asyncio
import threading

import pytest

from routepilot.run.worker import WorkerThread


def test_a_cancelled_call_waits_for_the_thread_then_raises_the_cancellation() -> None:
    gate = threading.Event()
    ran: list[str] = []

    def work() -> int:
        gate.wait()
        ran.append("done")
        return 42

    async def scenario() -> None:
        worker = WorkerThread("test")
        call = asyncio.create_task(worker.run(work))
        for _ in range(3):
            await asyncio.sleep(0)
        call.cancel()
        for _ in range(3):
            await asyncio.sleep(0)
        call.cancel()  # cancelled again while it waits: still waits
        for _ in range(3):
            await asyncio.sleep(0)
        assert not call.done()  # the gate is shut: work() cannot have returned
        gate.set()
        with pytest.raises(asyncio.CancelledError):
            await call
        assert ran == ["done"]
        assert await worker.run(lambda x: x + 1, 1) == 2  # the thread serves on
        worker.close()

    asyncio.run(scenario())


def test_calls_run_one_at_a_time_on_one_thread() -> None:
    inside = [0]
    most = [0]
    threads: set[int] = set()
    lock = threading.Lock()

    def work(i: int) -> int:
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        threads.add(threading.get_ident())
        with lock:
            inside[0] -= 1
        return i

    async def scenario() -> list[int]:
        worker = WorkerThread("test")
        try:
            return list(await asyncio.gather(*(worker.run(work, i) for i in range(20))))
        finally:
            worker.close()

    assert asyncio.run(scenario()) == list(range(20))
    assert most[0] == 1 and len(threads) == 1
