"""Leadership on the in-memory lease: one active; a cut-off active steps down before the
lease can be taken; the lease then goes to the standby, never to both."""

from __future__ import annotations

import asyncio
import threading
import time

from routepilot.config.ha import HaConfig
from routepilot.ha import ACTIVE, STANDBY, Leadership, MemoryLease

CFG = {"lease_s": 2.0, "renew_s": 0.25, "margin_s": 1.0}


def _leader(name: str, lease: MemoryLease, events: list[tuple[float, str, str]]) -> Leadership:
    lead = Leadership(HaConfig(enabled=True, node=name, api_url=f"http://{name}", **CFG), lease)

    async def active(reason: str) -> None:
        events.append((time.time(), name, ACTIVE))

    async def standby(reason: str) -> None:
        events.append((time.time(), name, STANDBY))

    lead.on_active, lead.on_standby = active, standby
    return lead


async def _until(cond, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def test_cut_off_active_steps_down_before_the_standby_takes_over() -> None:
    async def body() -> None:
        events: list[tuple[float, str, str]] = []
        lease_a = MemoryLease()
        lease_b = lease_a.peer()
        a, b = _leader("a", lease_a, events), _leader("b", lease_b, events)
        await a.start()
        await _until(lambda: a.role == ACTIVE)
        await b.start()
        await _until(lambda: b.last is not None)
        assert b.role == STANDBY and b.holder() == "a" and b.active_url() == "http://a"
        assert a.write_epoch() == 1 and b.write_epoch() is None
        await _until(lambda: len(a.peers()) == 2)  # b's heartbeat, at a's next renewal
        assert [p["node"] for p in a.status()["peers"]] == ["b"]

        lease_a.fail = True  # a is cut off from the database
        await _until(lambda: b.role == ACTIVE)
        stepped = [t for t, n, r in events if (n, r) == ("a", STANDBY)]
        took = [t for t, n, r in events if (n, r) == ("b", ACTIVE)]
        assert stepped and took and stepped[0] < took[0]
        # The withdrawal had the margin at least before the lease could be taken.
        assert took[0] - stepped[0] >= CFG["margin_s"] - 0.3
        assert a.role == STANDBY and a.write_epoch() is None and b.write_epoch() == 2

        lease_a.fail = False  # back: a stays standby, the lease is b's
        calls = lease_a.calls
        await _until(lambda: lease_a.calls > calls + 2)
        assert a.role == STANDBY and a.holder() == "b"
        assert a.metrics.step_downs == 1 and b.metrics.takeovers == 1

        # Graceful: b ends its lease as it stops, so a takes it at its next renewal instead
        # of waiting out the lease. Proven by the lease's end, not by how soon a's loop runs
        # (a 1.5 s deadline for a's takeover failed on a loaded host).
        released: list[tuple[str, int]] = []
        release = lease_b.release

        def recording(node: str, epoch: int) -> None:
            released.append((node, epoch))
            release(node, epoch)

        lease_b.release = recording  # type: ignore[method-assign]
        await b.stop()
        assert released == [("b", 2)] and lease_b.shared.expires_at <= time.time()
        await _until(lambda: a.role == ACTIVE)
        assert a.epoch == 3
        await a.stop()

    asyncio.run(body())


def test_a_held_up_event_loop_still_drops_the_sessions_in_time() -> None:
    """The loop stuck (a synchronous read on a cut link): the watchdog thread fences the
    writes off at the deadline and drops the sessions a grace later, without the loop."""

    async def body() -> None:
        lease = MemoryLease()
        lead = Leadership(HaConfig(enabled=True, node="a", **CFG), lease)
        dropped: list[float] = []
        lead.last_resort = lambda: dropped.append(time.monotonic())
        await lead.start()
        await _until(lambda: lead.role == ACTIVE)
        lease.fail = True
        blocked_at = time.monotonic()
        time.sleep(CFG["lease_s"])  # the event loop held up well past the deadline
        assert dropped, "the sessions were not dropped while the loop was held up"
        assert lead.write_epoch() is None
        # Dropped after the deadline (lease - margin after the last renewal) and a grace,
        # before the lease could be taken by anyone.
        assert dropped[0] - blocked_at < CFG["lease_s"] - CFG["margin_s"] + lead.grace_s + 0.2
        assert lead.metrics.last_resorts == 1
        await _until(lambda: lead.role == STANDBY)
        await lead.stop()

    asyncio.run(body())


def test_a_graceful_stop_during_a_renewal_still_ends_the_lease() -> None:
    """The stop meets a renewal in flight: the release runs after it on the lease's thread,
    so the standby does not wait out the whole lease (it did, now and then, before)."""

    async def body() -> None:
        lease = MemoryLease()
        lead = Leadership(HaConfig(enabled=True, node="a", api_url="http://a", **CFG), lease)
        await lead.start()
        await _until(lambda: lead.role == ACTIVE)
        in_flight, go_on = threading.Event(), threading.Event()
        renew, released = lease.renew, []

        def slow_renew(*args):  # type: ignore[no-untyped-def]
            in_flight.set()
            go_on.wait(10)
            return renew(*args)

        def recording(node: str, epoch: int) -> None:
            released.append((node, epoch))
            MemoryLease.release(lease, node, epoch)

        lease.renew, lease.release = slow_renew, recording  # type: ignore[method-assign]
        await _until(in_flight.is_set)
        stopping = asyncio.create_task(lead.stop())
        await _until(lambda: lead.role == STANDBY)  # the stop is past its lease loop
        go_on.set()
        await stopping
        assert released == [("a", 1)]
        assert lease.shared.expires_at <= time.time()

    asyncio.run(body())
