"""The prober in a process of its own, so the daemon's other work never holds its GIL.

Kernel timestamps keep the RTTs right however busy the daemon is, but the
*rate* of a Python prober sharing an interpreter with CPU-bound work (flow
decoding, deciding) collapses: every socket call gives up the GIL and waits up
to a switch interval to get it back, and in the daemon the probes' sends and
answers were a third of the event loop's time (#18's API p99).
:class:`ProberProcess` has the :class:`~routepilot.probe.interface.ProberInterface`
and runs the real :class:`~routepilot.probe.component.Prober` in a child process
(spawned, so it inherits the calling thread's network namespace and capabilities,
not the parent's threads or event loop).

- Commands and results travel over one pipe as pickled tuples, written on each side
  by a thread of its own, so that neither event loop ever waits on the pipe; rollups
  come back to the parent's sink, counters every second.
- A question (a snapshot, the failing paths) is a request with a number; the
  ``*_async`` methods await its answer on the event loop, the plain ones wait for it
  (from another thread, through the loop).
- Fail soft, and back: when the child dies its measurements go with it (as at a
  restart of the daemon), questions get an empty answer, and a new child starts after
  a pause that grows while it keeps dying, with the paths and settings in force.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import multiprocessing
import multiprocessing.connection
import queue
import signal
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

from routepilot import gctune
from routepilot.config.models import ProviderConfig
from routepilot.flows.snapshot import TrafficSnapshot
from routepilot.log import get_logger, setup_logging
from routepilot.probe.component import Prober, paths_from, steering_of
from routepilot.probe.config import ProbeConfig
from routepilot.probe.metrics import ProbeMetrics
from routepilot.probe.rollup import ProbeRollup, RollupSink
from routepilot.probe.snapshot import MeasurementSnapshot
from routepilot.probe.sockets import ProbeSetupError, Steering
from routepilot.restarts import Restarts
from routepilot.rib.snapshot import RoutesSnapshot

log = get_logger(__name__)

_CALLS = frozenset({"snapshot", "failing_paths", "recent_rtts", "metrics_dict", "minute_so_far"})
CALL_TIMEOUT_S = 5.0
"""A child that answers no question in this long is hung: it is ended and started again."""
MAX_KEPT_DESTINATIONS = 100_000
"""Flow destinations kept while no child runs, for the next one (the newest)."""
STOP_TIMEOUT_S = 2.0
"""How long the child may take to hand its last rollups over at stop before it is killed
(the daemon has a few seconds from SIGTERM to exit)."""


class _Outbox:
    """Sends one side's messages from a thread of its own.

    Neither event loop may block on the pipe: if one did while the other was itself
    blocked sending a large message, each would wait for the other to read.
    """

    def __init__(self, conn: multiprocessing.connection.Connection, name: str) -> None:
        self.conn = conn
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (msg := self.queue.get()) is not None:
            try:
                self.conn.send(msg)
            except (OSError, ValueError):
                return

    def send(self, msg: tuple) -> None:
        self.queue.put(msg)

    def close(self, timeout: float = 10.0) -> None:
        self.queue.put(None)
        self.thread.join(timeout)

    def write_probe_rollups(self, rows: Sequence[ProbeRollup]) -> None:
        """The child prober's rollup sink: rows go to the parent, which hands them to its sink."""
        self.send(("rollups", list(rows)))


# -- the child's side --------------------------------------------------------------------------


def _child(
    conn: multiprocessing.connection.Connection,
    config: ProbeConfig,
    pairs: list[tuple[str, Steering]],
    log_level: str = "info",
) -> None:
    # Ctrl-C in a terminal reaches the whole process group: the daemon stops this child
    # itself, after its last rollups, and a child that ends first would look like a crash.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    setup_logging(log_level)
    gctune.tune()
    asyncio.run(_child_main(conn, config, pairs))


def _command(prober: Prober, out: _Outbox, op: str, arg: Any) -> None:
    """One command from the parent (every one but ``stop``)."""
    if op == "paths":
        paths, vip = arg
        prober.set_vip(vip)
        prober.set_paths(paths)
    elif op == "observe":
        prober.observe_destinations(arg)
    elif op == "hint":
        prober.hint(*arg)
    elif op == "reconfigure":
        prober.reconfigure(arg)
    elif op == "call":
        number, name, args = arg
        if name not in _CALLS:
            out.send(("failed", (number, f"unknown call {name!r}")))
            return
        try:
            out.send(("reply", (number, getattr(prober, name)(*args))))
        except Exception as exc:  # The parent gets the error; the child carries on.
            out.send(("failed", (number, repr(exc))))


async def _child_main(
    conn: multiprocessing.connection.Connection,
    config: ProbeConfig,
    pairs: list[tuple[str, Steering]],
) -> None:
    loop = asyncio.get_running_loop()
    out = _Outbox(conn, "probe-outbox")
    prober = Prober(config, pairs, sink=out)
    try:
        await prober.start()
    except ProbeSetupError as exc:
        out.send(("error", str(exc)))
        out.close()
        return
    out.send(("started", None))
    stopping = loop.create_future()

    def on_command() -> None:
        try:
            while conn.poll():
                op, arg = conn.recv()
                if op == "stop":
                    if not stopping.done():
                        stopping.set_result(None)
                    return
                try:
                    _command(prober, out, op, arg)
                except Exception:  # A bad command costs itself, not the prober.
                    log.error("probe worker command failed", op=op, exc_info=True)
        except (EOFError, OSError):  # The daemon is gone: so is its prober.
            if not stopping.done():
                stopping.set_result(None)

    loop.add_reader(conn.fileno(), on_command)

    async def report() -> None:
        while True:
            await asyncio.sleep(1.0)
            out.send(("metrics", prober.metrics_dict()))

    reporter = asyncio.create_task(report())
    await stopping
    reporter.cancel()
    loop.remove_reader(conn.fileno())
    await prober.stop()
    out.send(("metrics", prober.metrics_dict()))
    out.send(("stopped", None))
    out.close()


# -- the parent's side -------------------------------------------------------------------------


def added_counters(base: dict, current: dict) -> dict:
    """Counters of ended children (``base``) plus the running one's, both as
    :meth:`ProbeMetrics.as_dict` gives them; gauges are the running one's."""
    out = dict(current)
    for key, old in base.items():
        new = current.get(key)
        if key == "retrying" or new is None:
            continue
        if isinstance(old, dict):
            merged = dict(old)
            for k, v in new.items():
                merged[k] = merged.get(k, 0) + v
            out[key] = merged
        elif isinstance(old, list):
            out[key] = [a + b for a, b in zip(old, new, strict=True)]
        else:
            out[key] = old + new
    return out


class ProberProcess:
    """The :class:`~routepilot.probe.interface.ProberInterface` with the probing done in a
    child process. Inputs given before :meth:`start` are handed to the worker when it is up,
    as :class:`Prober` keeps them; so are those in force when a new child replaces one that
    died."""

    def __init__(
        self,
        config: ProbeConfig,
        providers: list[ProviderConfig] | list[tuple[str, Steering]],
        *,
        sink: RollupSink | None = None,
    ) -> None:
        self.config = config
        self.pairs = [p if isinstance(p, tuple) else (p.name, steering_of(p)) for p in providers]
        self.provider_names = tuple(name for name, _ in self.pairs)
        self.sink = sink
        self.metrics = ProbeMetrics()
        self.restarts = 0
        """Children started again after one ended unasked."""
        self._base: dict = {}
        """Counters of the children that ended, added to the running one's."""
        self._conn: multiprocessing.connection.Connection | None = None
        self._proc: multiprocessing.process.BaseProcess | None = None
        self._out: _Outbox | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._numbers = itertools.count(1)
        self._waiting: dict[int, asyncio.Future] = {}
        self._replies: dict[int, tuple[bool, Any]] = {}
        self._stopped = False
        """The running child said it stopped, or its pipe closed."""
        self._stopping = False
        self._supervisor: asyncio.Task | None = None
        self._paths: tuple[list[tuple[str, str, int]], list[str]] | None = None
        """The paths and VIP prefixes in force, for the child (a new one too)."""
        self._sent_paths: tuple[list[tuple[str, str, int]], list[str]] | None = None
        self._destinations: list[str] = []

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Spawns the worker (in this thread's network namespace) and waits for its sockets;
        a setup error is raised here, as ProbeSetupError."""
        self._loop = asyncio.get_running_loop()
        self._stopping = False
        await self._spawn()
        self._supervisor = asyncio.create_task(self._supervise(), name="probe-worker")

    async def _spawn(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        level = logging.getLevelName(logging.getLogger("routepilot").getEffectiveLevel())
        proc = ctx.Process(
            target=_child,
            args=(child, self.config, self.pairs, str(level).lower()),
            name="routepilot-probe",
            daemon=True,
        )
        proc.start()
        child.close()
        try:
            while not parent.poll():
                if not proc.is_alive():
                    raise ProbeSetupError("the probe worker process died while starting")
                await asyncio.sleep(0.02)
            try:
                op, arg = parent.recv()
            except (EOFError, OSError):  # It died after all: its end of the pipe closed.
                raise ProbeSetupError("the probe worker process died while starting") from None
        except BaseException:  # Stopped while it started, or it died: it goes.
            proc.kill()
            proc.join(1.0)
            parent.close()
            raise
        if op == "error":
            await asyncio.to_thread(proc.join, 5)
            parent.close()
            raise ProbeSetupError(arg)
        self._proc, self._conn, self._stopped = proc, parent, False
        self._out = _Outbox(parent, "probe-inbox")
        asyncio.get_running_loop().add_reader(parent.fileno(), self._on_message)
        self._sent_paths = None
        self._send_paths()
        if self._destinations:
            self._out.send(("observe", self._destinations))
            self._destinations = []
        log.info("probe worker started", pid=proc.pid)

    async def _supervise(self) -> None:
        """Waits for the child to end; when it was not asked to, a new one starts after a
        pause (the same socket setup worked once, so a failing start is retried too)."""
        restarts = Restarts()
        while True:
            started = time.monotonic()
            while not self._stopped and self._proc is not None and self._proc.is_alive():
                await asyncio.sleep(0.2)
            if self._stopping:
                return
            code = self._end_child()
            delay = restarts.ended(time.monotonic() - started)
            log.error("probe worker process exited", returncode=code, restart_in=delay)
            while True:
                await asyncio.sleep(delay)
                self.restarts += 1
                self.metrics.worker_restarts = self.restarts
                try:
                    await self._spawn()
                    break
                except Exception as exc:  # Whatever it was, the daemon needs a prober.
                    delay = restarts.failed()
                    log.error("probe worker did not start", error=str(exc), restart_in=delay)

    def _end_child(self) -> int | None:
        """Forgets the child that ended (or is being ended): its pipe, its questions, and
        its counters kept in the base."""
        conn, proc, out = self._conn, self._proc, self._out
        self._conn = self._proc = self._out = None
        code = None
        if proc is not None:
            if proc.is_alive():
                proc.kill()
            proc.join(1.0)
            code = proc.exitcode
        if out is not None:
            out.close(1.0)  # its writes fail at once: the child's end is closed
        if conn is not None:
            self._unwatch(conn)
            conn.close()
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(_WorkerDown())
        self._waiting.clear()
        self._replies.clear()
        # The counters shown are the ended children's and this one's last report already.
        self._base = self.metrics.as_dict()
        self._base.pop("worker_restarts", None)
        return code

    def _unwatch(self, conn: multiprocessing.connection.Connection) -> None:
        """No more reading: a closed pipe is always readable, and its callback would spin."""
        if self._loop is not None and not self._loop.is_closed() and not conn.closed:
            self._loop.remove_reader(conn.fileno())

    async def stop(self) -> None:
        """Stops the child after it hands over its last rollups; safe to call twice."""
        self._stopping = True
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            supervisor.cancel()
            await asyncio.gather(supervisor, return_exceptions=True)
        conn, proc = self._conn, self._proc
        if conn is None or proc is None or self._out is None:
            return
        self._out.send(("stop", None))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STOP_TIMEOUT_S
        while not self._stopped and loop.time() < deadline and proc.is_alive():
            await asyncio.sleep(0.02)
        await asyncio.to_thread(proc.join, 1.0)
        sent = self.metrics.total("sent")
        self._end_child()
        log.info("probe worker stopped", sent=sent)

    # --- messages from the worker -----------------------------------------------------------

    def _dispatch(self, conn: multiprocessing.connection.Connection) -> None:
        try:
            op, arg = conn.recv()
        except (EOFError, OSError):
            self._stopped = True
            self._unwatch(conn)
            return
        if op == "rollups":
            if self.sink is not None:
                try:
                    self.sink.write_probe_rollups(arg)
                except Exception as exc:  # Another stage's code must not stop probing.
                    log.error("probe rollup write failed", rows=len(arg), error=str(exc))
        elif op == "metrics":
            self.metrics.load_dict(added_counters(self._base, arg))
            self.metrics.worker_restarts = self.restarts
        elif op in ("reply", "failed"):
            number, value = arg
            future = self._waiting.pop(number, None)
            if future is None:
                self._replies[number] = (op == "reply", value)
            elif not future.done():
                if op == "reply":
                    future.set_result(value)
                else:
                    future.set_exception(RuntimeError(f"probe worker: {value}"))
        elif op == "stopped":
            self._stopped = True
            self._unwatch(conn)

    def _on_message(self) -> None:
        conn = self._conn
        while conn is not None and not self._stopped and conn.poll():
            self._dispatch(conn)

    # --- questions --------------------------------------------------------------------------

    def _ask(self, name: str, *args: Any) -> tuple[int, asyncio.Future] | None:
        """Sends a question; None when no child is running to answer it."""
        if self._out is None or self._stopped or self._loop is None:
            return None
        number = next(self._numbers)
        future = self._loop.create_future()
        self._waiting[number] = future
        self._out.send(("call", (number, name, args)))
        return number, future

    async def _call_async(self, name: str, fallback: Any, *args: Any) -> Any:
        asked = self._ask(name, *args)
        if asked is None:
            return fallback
        number, future = asked
        try:
            async with asyncio.timeout(CALL_TIMEOUT_S):
                return await future
        except _WorkerDown:
            return fallback
        except TimeoutError:
            self._waiting.pop(number, None)
            log.error("probe worker did not answer; ending it", call=name, pid=self.pid)
            if self._proc is not None and self._proc.is_alive():
                self._proc.kill()
            return fallback

    def _call(self, name: str, fallback: Any, *args: Any) -> Any:
        """A question from synchronous code: through the event loop from another thread;
        on the loop's own thread (tests, benchmarks), read from the pipe until answered."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return fallback
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not loop:
            call = self._call_async(name, fallback, *args)
            return asyncio.run_coroutine_threadsafe(call, loop).result(CALL_TIMEOUT_S + 1)
        asked = self._ask(name, *args)
        if asked is None:
            return fallback
        number, future = asked
        del self._waiting[number]
        future.cancel()
        deadline = time.monotonic() + CALL_TIMEOUT_S
        while number not in self._replies:
            conn = self._conn
            if conn is None or self._stopped:
                return fallback
            if not conn.poll(max(0.0, deadline - time.monotonic())):
                raise TimeoutError("the probe worker did not answer")
            self._dispatch(conn)
        ok, value = self._replies.pop(number)
        if not ok:
            raise RuntimeError(f"probe worker: {value}")
        return value

    # --- the Prober surface -----------------------------------------------------------------

    def _send_paths(self) -> None:
        """The paths in force to the child, unless it has them already (a round's paths are
        mostly the last round's: tens of thousands of tuples not pickled again)."""
        if self._out is None or self._paths is None or self._paths == self._sent_paths:
            return
        self._out.send(("paths", self._paths))
        self._sent_paths = self._paths

    def set_paths(self, paths: Iterable[tuple[str, str, int]]) -> None:
        """The paths to measure; the VIP prefixes stay those of the last :meth:`update`."""
        self._set(list(paths), [] if self._paths is None else self._paths[1])

    def _set(self, paths: list[tuple[str, str, int]], vip: list[str]) -> None:
        names = self.provider_names
        for _, provider, _ in paths:
            if provider not in names:
                raise KeyError(f"unknown provider {provider!r}")
        self._paths = (paths, vip)
        self._send_paths()

    def update(
        self,
        traffic: TrafficSnapshot,
        routes: RoutesSnapshot | None = None,
        exits: dict[str, str] | None = None,
        vip: Iterable[str] = (),
    ) -> None:
        vip = list(vip)
        paths = paths_from(self.config, self.provider_names, traffic, routes, exits, vip)
        self._set(paths, vip)

    def hint(self, prefixes: dict[str, float], now: float) -> None:
        if self._out is not None and prefixes:
            self._out.send(("hint", (dict(prefixes), now)))

    def reconfigure(self, config: ProbeConfig) -> None:
        """Applies in the child from its next tick; a new child starts with it too."""
        self.config = config
        if self._out is not None:
            self._out.send(("reconfigure", config))

    def observe_destinations(self, addresses: Iterable[str]) -> None:
        if self._out is None:
            # Kept for the next child; the oldest go first while it keeps failing.
            self._destinations.extend(addresses)
            del self._destinations[:-MAX_KEPT_DESTINATIONS]
        else:
            self._out.send(("observe", list(addresses)))

    def _empty(self, now: float | None) -> MeasurementSnapshot:
        return MeasurementSnapshot.empty(time.time() if now is None else now, self.provider_names)

    def snapshot(self, now: float | None = None) -> MeasurementSnapshot:
        """The worker's snapshot; an empty one while no worker runs."""
        snap = self._call("snapshot", None, now)
        return self._empty(now) if snap is None else snap

    async def snapshot_async(self, now: float | None = None) -> MeasurementSnapshot:
        snap = await self._call_async("snapshot", None, now)
        return self._empty(now) if snap is None else snap

    def failing_paths(self) -> list[tuple[str, str]]:
        return self._call("failing_paths", [])

    async def failing_paths_async(self) -> list[tuple[str, str]]:
        return await self._call_async("failing_paths", [])

    def recent_rtts(self) -> dict[tuple[str, str], list[float]]:
        return self._call("recent_rtts", {})

    def minute_so_far(self, prefix: str | None = None) -> list[ProbeRollup]:
        return self._call("minute_so_far", [], prefix)

    def refresh_metrics(self) -> ProbeMetrics:
        """Fetches the worker's counters now (they also arrive by themselves every second)."""
        values = self._call("metrics_dict", None)
        if values is not None:
            self.metrics.load_dict(added_counters(self._base, values))
            self.metrics.worker_restarts = self.restarts
        return self.metrics


class _WorkerDown(Exception):
    """The child ended before it answered."""
