"""Leadership: which instance announces, decided by a fenced lease (``ha/lease.py``).

One loop, every ``renew_s``: the active renews its lease, a standby tries to take
an expired one. The lease calls run on a thread of their own, and the loop never
waits on them past the active's deadline: ``lease_s - margin_s`` after the last
successful renewal was *sent*, the active steps down (``on_standby`` withdraws
every route) even if the call is still hanging on a cut link. The lease the
server holds expires ``lease_s`` after that renewal was *executed*, later still,
so the withdrawal has at least ``margin_s`` to reach the routers before any
standby may take over and announce: two instances never announce at once.

The epoch held is what the store's writes carry (``write_epoch``); it is dropped
before ``on_standby`` runs, so no write leaves after the step-down began.

The deadline is also watched by a thread of its own, because the event loop can
be held up (a synchronous read of the store stuck on the same cut link): at the
deadline it fences the writes off and asks the loop to step down, and if the
withdrawal has not happened ``grace_s`` later it calls ``last_resort`` from the
thread, which drops the BGP sessions (the speaker's process is killed, the
routers withdraw everything: fail open) so that the guarantee does not depend
on the loop.

A daemon frozen whole (SIGSTOP) runs neither its loop nor that thread, while its
speaker, a process of its own, keeps the routes announced. The dead man's switch
(``ha/deadman.py``), a process beside it, is armed after every renewal with the
deadline and the speaker's process, and kills the speaker ``kill_after_s`` past
the deadline: still within the margin, before any standby may announce.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from routepilot.config.ha import HaConfig
from routepilot.ha.deadman import DeadMan
from routepilot.ha.lease import LeaseBackend, LeaseState, Peer
from routepilot.ha.metrics import HaMetrics
from routepilot.log import get_logger

log = get_logger(__name__)

ACTIVE = "active"
STANDBY = "standby"

RoleHandler = Callable[[str], Awaitable[None]]


class Leadership:
    """The HA component: ``start()``/``stop()``; ``on_active(reason)`` and
    ``on_standby(reason)`` are awaited on the loop at each change of role."""

    def __init__(
        self,
        config: HaConfig,
        lease: LeaseBackend,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.node = config.node_name()
        self.lease = lease
        self.clock = clock
        self.wall = wall
        self.role = STANDBY
        self.epoch = 0
        """The epoch held (0: none)."""
        self.last: LeaseState | None = None
        self.since = wall()
        """When the current role began (wall clock)."""
        self.metrics = HaMetrics(self)
        self.on_active: RoleHandler | None = None
        self.on_standby: RoleHandler | None = None
        self.last_resort: Callable[[], None] | None = None
        """Called from the watchdog thread when a step-down's withdrawal is late: must
        drop the BGP sessions without the event loop (thread-safe)."""
        self.speaker_pid: Callable[[], int | None] | None = None
        """The speaker's process, for the dead man's switch (None: no switch)."""
        self.grace_s = min(0.5, config.margin_s / 4)
        self.kill_after_s = 2 * self.grace_s
        """The switch kills the speaker this long after the deadline (at most half the
        margin): the loop and its watchdog, when they run, act first."""
        self.deadman: DeadMan | None = None
        self._deadline = 0.0
        self._fenced_off = False
        """Set by the watchdog at the deadline: no write, whatever the loop is doing."""
        self._withdrawn = threading.Event()
        self._watchdog: threading.Thread | None = None
        self._stopping = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._task: asyncio.Task | None = None

    # -- what other components read -------------------------------------------------

    def write_epoch(self) -> int | None:
        """The store's fence: the epoch held, None as a standby."""
        if self._fenced_off or self.role != ACTIVE or not self.epoch:
            return None
        return self.epoch

    def holder(self) -> str:
        """The active's name as last seen ('' when unknown or expired)."""
        if self.role == ACTIVE:
            return self.node
        last = self.last
        if last is None or last.holder is None or last.expires_at < last.now:
            return ""
        return last.holder

    def active_url(self) -> str:
        """The active's API address, from its heartbeat ('' when unknown)."""
        holder = self.holder()
        for peer in self.peers():
            if peer.node == holder:
                return peer.api_url
        return ""

    def peers(self) -> tuple[Peer, ...]:
        return self.last.peers if self.last is not None else ()

    def switch_kills(self) -> int:
        """Speakers the dead man's switch killed since the start."""
        return self.deadman.kills if self.deadman is not None else 0

    def lease_until(self) -> float | None:
        return self.last.expires_at if self.last is not None and self.last.holder else None

    def status(self) -> dict[str, Any]:
        """``GET /api/v1/ha``'s body."""
        last = self.last
        return {
            "enabled": True,
            "node": self.node,
            "role": self.role,
            "epoch": self.epoch if self.role == ACTIVE else (last.epoch if last else 0),
            "active": self.holder() or None,
            "lease_until": self.lease_until(),
            "since": self.since,
            "transitions": self.metrics.transitions,
            "peers": [
                {
                    "node": p.node,
                    "role": p.role,
                    "epoch": p.epoch,
                    "api_url": p.api_url,
                    "seen_at": p.seen_at,
                    "age_s": round(last.now - p.seen_at, 3) if last else None,
                }
                for p in self.peers()
                if p.node != self.node
            ],
        }

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ha-lease")
        self._loop = asyncio.get_running_loop()
        self._stopping.clear()
        self._watchdog = threading.Thread(target=self._watch, name="ha-watchdog", daemon=True)
        self._watchdog.start()
        if self.speaker_pid is not None and self.clock is time.monotonic:
            self.deadman = DeadMan(log.warning)
            self.deadman.start()
        self._task = asyncio.create_task(self._lease_loop(), name="ha-lease")
        log.info("leadership started", node=self.node, lease_s=self.config.lease_s)

    async def stop(self) -> None:
        """Stops the loop and, if active, ends the lease at once (call it once every route
        is withdrawn: a standby may then take over without waiting for the expiry)."""
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._watchdog is not None:
            self._watchdog.join(1.0)
            self._watchdog = None
        epoch, was_active = self.epoch, self.role == ACTIVE
        self._set(STANDBY, 0)
        if self.deadman is not None:
            self.deadman.stop()  # every route is withdrawn by now
            self.deadman = None
        if self._executor is None:
            return
        # A renewal may be in flight: the one lease thread runs the release after it, and
        # the wait is bounded. Skipping the release then (as before) left the standby to
        # wait out the whole lease after a graceful stop that met a renewal.
        if was_active and epoch:
            try:
                await asyncio.wait_for(
                    self._in_thread(self.lease.release, self.node, epoch), self.config.margin_s
                )
                log.info("lease released", node=self.node, epoch=epoch)
            except Exception as exc:
                log.warning("lease not released; it expires by itself", error=repr(exc))
        executor, self._executor = self._executor, None
        executor.submit(self.lease.close)
        executor.shutdown(wait=False)

    # -- the loop -----------------------------------------------------------------------

    def _in_thread(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        assert self._executor is not None
        return asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def _watch(self) -> None:
        """The deadline, watched from a thread (see the module's docstring)."""
        while not self._stopping.wait(0.05):
            if self.role != ACTIVE or self._fenced_off or time.monotonic() < self._deadline:
                continue
            if self.clock is not time.monotonic:
                continue  # a test's clock: the loop alone keeps the deadline
            self._fenced_off = True
            loop = self._loop
            if loop is not None and not loop.is_closed():
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(
                        lambda: asyncio.ensure_future(self._step_down("lease deadline passed"))
                    )
            if self._withdrawn.wait(self.grace_s) or self._stopping.is_set():
                continue
            self.metrics.last_resorts += 1
            log.error("step-down late: dropping the bgp sessions", grace_s=self.grace_s)
            if self.last_resort is not None:
                try:
                    self.last_resort()
                except Exception as exc:
                    log.error("dropping the bgp sessions failed", error=repr(exc))

    async def _lease_loop(self) -> None:
        cfg = self.config
        while True:
            started = self.clock()
            if self.role == ACTIVE:
                call = self._in_thread(
                    self.lease.renew, self.node, self.epoch, cfg.lease_s, cfg.api_url
                )
            else:
                call = self._in_thread(self.lease.acquire, self.node, cfg.lease_s, cfg.api_url)
            await self._wait(call)
            await self._settle(call, started)
            # Next attempt one period after this one began, or at the deadline if sooner.
            wake = started + cfg.renew_s
            if self.role == ACTIVE:
                wake = min(wake, self._deadline)
            await asyncio.sleep(max(0.0, wake - self.clock()))
            if self.role == ACTIVE and self.clock() >= self._deadline:
                await self._step_down("lease not renewed in time")

    async def _wait(self, call: asyncio.Future[Any]) -> None:
        """Waits for a lease call; an active whose deadline passes meanwhile steps down
        without waiting any longer (the call may hang on a cut link)."""
        while not call.done():
            timeout = None
            if self.role == ACTIVE:
                timeout = max(0.0, self._deadline - self.clock())
            await asyncio.wait({call}, timeout=timeout)
            if not call.done() and self.role == ACTIVE:
                await self._step_down("lease renewal hangs past the deadline")

    async def _settle(self, call: asyncio.Future[Any], started: float) -> None:
        cfg = self.config
        try:
            state: LeaseState = call.result()
        except Exception as exc:
            self.metrics.errors += 1
            log.warning("lease call failed", role=self.role, error=str(exc))
            return
        self.last = state
        if self.role == ACTIVE:
            if state.held and state.epoch == self.epoch:
                self._deadline = started + cfg.lease_s - cfg.margin_s
                self.metrics.renewals += 1
                self._arm()
            else:
                await self._step_down(f"lease lost to {state.holder} (epoch {state.epoch})")
        elif state.held:
            self._deadline = started + cfg.lease_s - cfg.margin_s
            if self.clock() < self._deadline:
                await self._take_over(state)

    async def _take_over(self, state: LeaseState) -> None:
        self._withdrawn.clear()
        self._fenced_off = False
        self._set(ACTIVE, state.epoch)
        self._arm()
        log.warning("lease taken: this instance is now the active", node=self.node,
                    epoch=state.epoch)  # fmt: skip
        if self.on_active is not None:
            try:
                await self.on_active(f"lease taken at epoch {state.epoch}")
            except Exception as exc:
                log.error("taking over failed", error=repr(exc))

    async def _step_down(self, reason: str) -> None:
        if self.role != ACTIVE:
            return
        # The epoch goes first: no write leaves under it from now on.
        self._set(STANDBY, 0)
        log.warning("stepping down: withdrawing every route", node=self.node, reason=reason)
        if self.on_standby is not None:
            try:
                await self.on_standby(reason)
            except Exception as exc:
                log.error("withdrawal at step-down failed", error=repr(exc))
        self._withdrawn.set()
        if self.deadman is not None:
            self.deadman.disarm()

    def _arm(self) -> None:
        """Arms the switch with the deadline just set and the speaker's process now."""
        if self.deadman is None or self.speaker_pid is None:
            return
        pid = self.speaker_pid()
        if pid:
            self.deadman.arm(self._deadline + self.kill_after_s, pid)
        else:
            self.deadman.disarm()  # no speaker process: nothing holds our routes

    def _set(self, role: str, epoch: int) -> None:
        if role != self.role:
            self.metrics.transitions += 1
            self.metrics.last_change = self.wall()
            self.since = self.wall()
            if role == ACTIVE:
                self.metrics.takeovers += 1
            else:
                self.metrics.step_downs += 1
        self.role = role
        self.epoch = epoch
