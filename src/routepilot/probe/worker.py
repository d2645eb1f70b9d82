"""The prober in a process of its own, so the daemon's other work never holds its GIL.

Kernel timestamps keep the RTTs right however busy the daemon is, but the
*rate* of a Python prober sharing an interpreter with CPU-bound work (flow
decoding, deciding) collapses: every socket call gives up the GIL and waits up
to a switch interval to get it back. :class:`ProberProcess` has the
:class:`~routepilot.probe.component.Prober` interface and runs the real one in
a child process (spawned, so it inherits the calling thread's network namespace
and capabilities, not the parent's threads or event loop). Commands and results
travel over one pipe as pickled tuples; rollups come back to the parent's sink.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import multiprocessing.connection
import queue
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from routepilot.config.models import ProviderConfig
from routepilot.flows.snapshot import TrafficSnapshot
from routepilot.log import get_logger
from routepilot.probe.component import Prober, paths_from, steering_of
from routepilot.probe.config import ProbeConfig
from routepilot.probe.metrics import ProbeMetrics
from routepilot.probe.rollup import ProbeRollup, RollupSink
from routepilot.probe.snapshot import MeasurementSnapshot
from routepilot.probe.sockets import ProbeSetupError, Steering
from routepilot.rib.snapshot import RoutesSnapshot

log = get_logger(__name__)

_CALLS = frozenset({"snapshot", "failing_paths", "recent_rtts", "metrics_dict"})


class _Outbox:
    """Sends the worker's messages from a thread of its own.

    The worker's event loop must never block on the pipe: if it did while the parent was
    itself blocked sending a large path list, each would wait for the other to read.
    """

    def __init__(self, conn: multiprocessing.connection.Connection) -> None:
        self.conn = conn
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="probe-outbox", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (msg := self.queue.get()) is not None:
            try:
                self.conn.send(msg)
            except OSError:
                return

    def send(self, msg: tuple) -> None:
        self.queue.put(msg)

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join(10)

    def write_probe_rollups(self, rows: Sequence[ProbeRollup]) -> None:
        """The prober's rollup sink: rows go to the parent, which hands them to its sink."""
        self.send(("rollups", list(rows)))


def _child(
    conn: multiprocessing.connection.Connection,
    config: ProbeConfig,
    pairs: list[tuple[str, Steering]],
) -> None:
    asyncio.run(_child_main(conn, config, pairs))


async def _child_main(
    conn: multiprocessing.connection.Connection,
    config: ProbeConfig,
    pairs: list[tuple[str, Steering]],
) -> None:
    loop = asyncio.get_running_loop()
    out = _Outbox(conn)
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
                if op == "paths":
                    prober.set_paths(arg)
                elif op == "observe":
                    prober.observe_destinations(arg)
                elif op == "call" and arg in _CALLS:
                    out.send(("reply", getattr(prober, arg)()))
                elif op == "stop" and not stopping.done():
                    stopping.set_result(None)
        except (EOFError, OSError):
            if not stopping.done():
                stopping.set_result(None)

    loop.add_reader(conn.fileno(), on_command)

    async def report() -> None:
        while True:
            await asyncio.sleep(1.0)
            out.send(("metrics", prober.metrics.as_dict()))

    reporter = asyncio.create_task(report())
    await stopping
    reporter.cancel()
    loop.remove_reader(conn.fileno())
    await prober.stop()
    out.send(("metrics", prober.metrics.as_dict()))
    out.send(("stopped", None))
    out.close()


class ProberProcess:
    """The :class:`~routepilot.probe.interface.ProberInterface` with the probing done in a
    child process. Inputs given before :meth:`start` are handed to the worker when it is up,
    as :class:`Prober` keeps them."""

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
        self._conn: multiprocessing.connection.Connection | None = None
        self._proc: multiprocessing.process.BaseProcess | None = None
        self._replies: list[Any] = []
        self._stopped = False
        self._paths: list[tuple[str, str, int]] | None = None
        self._destinations: list[str] = []

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Spawns the worker (in this thread's network namespace) and waits for its sockets."""
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        self._proc = ctx.Process(
            target=_child,
            args=(child, self.config, self.pairs),
            name="routepilot-probe",
            daemon=True,
        )
        self._proc.start()
        child.close()
        self._conn = parent
        loop = asyncio.get_running_loop()
        while not parent.poll():
            if not self._proc.is_alive():
                raise ProbeSetupError("the probe worker process died while starting")
            await asyncio.sleep(0.02)
        op, arg = parent.recv()
        if op == "error":
            self._proc.join(5)
            raise ProbeSetupError(arg)
        loop.add_reader(parent.fileno(), self._on_message)
        if self._paths is not None:
            parent.send(("paths", self._paths))
        if self._destinations:
            parent.send(("observe", self._destinations))
        self._paths, self._destinations = None, []
        log.info("probe worker started", pid=self._proc.pid)

    async def stop(self) -> None:
        if self._conn is None or self._proc is None:
            return
        loop = asyncio.get_running_loop()
        loop.remove_reader(self._conn.fileno())
        with contextlib.suppress(OSError):
            self._conn.send(("stop", None))
        deadline = loop.time() + 10.0
        while not self._stopped and loop.time() < deadline and self._proc.is_alive():
            if self._conn.poll():
                self._dispatch(self._conn)
            else:
                await asyncio.sleep(0.02)
        self._proc.join(2)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join(2)
        self._conn.close()
        self._conn = None
        log.info("probe worker stopped", sent=self.metrics.total("sent"))

    # --- messages from the worker -----------------------------------------------------------

    def _connection(self) -> multiprocessing.connection.Connection:
        if self._conn is None:
            raise RuntimeError("the probe worker is not running")
        return self._conn

    def _dispatch(self, conn: multiprocessing.connection.Connection) -> None:
        try:
            op, arg = conn.recv()
        except (EOFError, OSError):
            self._stopped = True
            return
        if op == "rollups":
            if self.sink is not None:
                try:
                    self.sink.write_probe_rollups(arg)
                except Exception as exc:  # Another stage's code must not stop probing.
                    log.error("probe rollup write failed", rows=len(arg), error=str(exc))
        elif op == "metrics":
            self.metrics.load_dict(arg)
        elif op == "reply":
            self._replies.append(arg)
        elif op == "stopped":
            self._stopped = True

    def _on_message(self) -> None:
        while self._conn is not None and self._conn.poll():
            self._dispatch(self._conn)

    def _call(self, name: str) -> Any:
        conn = self._connection()
        conn.send(("call", name))
        while not self._replies:
            if not conn.poll(5.0):
                raise TimeoutError("the probe worker did not answer")
            self._dispatch(conn)
        return self._replies.pop(0)

    # --- the Prober surface -----------------------------------------------------------------

    def set_paths(self, paths: Iterable[tuple[str, str, int]]) -> None:
        paths = list(paths)
        for _, provider, _ in paths:
            if provider not in self.provider_names:
                raise KeyError(f"unknown provider {provider!r}")
        if self._conn is None:
            self._paths = paths
        else:
            self._conn.send(("paths", paths))

    def update(
        self,
        traffic: TrafficSnapshot,
        routes: RoutesSnapshot | None = None,
        exits: dict[str, str] | None = None,
    ) -> None:
        self.set_paths(paths_from(self.config, self.provider_names, traffic, routes, exits))

    def observe_destinations(self, addresses: Iterable[str]) -> None:
        if self._conn is None:
            self._destinations.extend(addresses)
        else:
            self._conn.send(("observe", list(addresses)))

    def snapshot(self, now: float | None = None) -> MeasurementSnapshot:
        """The worker's snapshot (at the worker's own clock; ``now`` is accepted and unused)."""
        return self._call("snapshot")

    def failing_paths(self) -> list[tuple[str, str]]:
        return self._call("failing_paths")

    def recent_rtts(self) -> dict:
        return self._call("recent_rtts")

    def refresh_metrics(self) -> ProbeMetrics:
        """Fetches the worker's counters now (they also arrive by themselves every second)."""
        self.metrics.load_dict(self._call("metrics_dict"))
        return self.metrics
