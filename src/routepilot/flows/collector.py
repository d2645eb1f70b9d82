"""The UDP collector component: sockets in, :class:`FlowPipeline` fed, async start/stop.

A thread of its own reads the sockets (``recvmsg`` on non-blocking sockets after
``poll``), so that the kernel's ``SO_RXQ_OVFL`` drop counter arrives with each
datagram and, above all, so that the sockets are drained while the event loop is
busy elsewhere: a decision round, an API response or a table arriving used to leave
them unread until their receive buffer overflowed (#18: 3–7 % of 100k records/s lost in
the soak to stalls of the loop). The thread only queues what it reads; the event loop
decodes it (``FlowPipeline`` is not shared between threads), once ``batch_records``
records are waiting, or every ``flush_interval_s``, whichever comes first. The queue
is bounded (``reader_queue_bytes``, counting each datagram's bookkeeping too): once it
is full the thread stops reading until the loop has taken some, so that a flood costs
neither memory nor the reader's CPU beyond the cap; the socket's own buffer holds what
comes meanwhile, and what does not fit there is the kernel's drop, counted as ever.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable

from routepilot.flows.config import FlowsConfig
from routepilot.flows.decoder import format_exporter
from routepilot.flows.pipeline import FlowPipeline
from routepilot.log import get_logger

log = get_logger(__name__)

SO_RXQ_OVFL = getattr(socket, "SO_RXQ_OVFL", 40)
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
MAX_DATAGRAM = 65535
READS_PER_WAKEUP = 512
DRAIN_PER_CALL = 512
"""Datagrams decoded per turn of the event loop: a backlog after a stall is worked off
in turns, with the loop's other work between them."""
ENTRY_OVERHEAD = 200
"""Bytes a queued datagram costs beside its payload (the bytes object, its exporter's
address, the tuple, the deque's slot), counted against ``reader_queue_bytes``."""
ROOM_WAIT_S = 0.1
"""How long the reader waits for room in a full queue before it looks again (stop())."""
MAX_EXPORTER_NAMES = 65536


class FlowCollector:
    """Listens on the configured UDP ports and feeds every datagram to ``pipeline``."""

    def __init__(
        self,
        config: FlowsConfig,
        pipeline: FlowPipeline,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.pipeline = pipeline
        self.clock = clock
        self.sockets: list[socket.socket] = []
        self._names: dict[str, str] = {}
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._cmsg = socket.CMSG_SPACE(4)
        self._thread: threading.Thread | None = None
        self._wake: tuple[int, int] | None = None
        self._stopping = False
        # The reader's queue: (datagram, exporter address, time received). deque's append
        # and popleft are atomic; each counter below is written by one thread only.
        self._queue: deque[tuple[bytes, str, float]] = deque()
        self._drain_due = False
        self._room = threading.Event()  # set by the loop when it has taken from the queue
        self._in_bytes = 0  # reader: bytes queued so far (with ENTRY_OVERHEAD each)
        self._out_bytes = 0  # loop: bytes taken off the queue so far
        self._overflow: dict[int, int] = {}  # reader: the kernel's running total per socket
        self._kernel = 0  # reader: the kernel's drops, summed over sockets
        self._errors = 0  # reader: failed receives
        self._counted = (0, 0)  # loop: (kernel, errors) already in the metrics

    @property
    def queued_bytes(self) -> int:
        """Datagrams read and not yet decoded, in bytes as ``reader_queue_bytes`` counts."""
        return self._in_bytes - self._out_bytes

    @property
    def ports(self) -> list[int]:
        """The ports actually bound (useful when the config asks for port 0)."""
        return [s.getsockname()[1] for s in self.sockets]

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        wanted = []
        for port in (self.config.netflow_port, self.config.ipfix_port, self.config.sflow_port):
            if port == 0 or port not in wanted:
                wanted.append(port)
        try:
            for port in wanted:
                self.sockets.append(self._bind(port))
        except OSError:
            await self.stop()
            raise
        self._stopping = False
        self._wake = os.pipe()
        os.set_blocking(self._wake[1], False)
        self._thread = threading.Thread(target=self._reader, name="flow-reader", daemon=True)
        self._thread.start()
        self._task = asyncio.create_task(self._ticker())
        log.info("flow collector listening", address=self.config.listen_address, ports=self.ports)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._thread is not None:
            self._stopping = True
            self._room.set()
            assert self._wake is not None
            with contextlib.suppress(OSError):
                os.write(self._wake[1], b"x")
            self._thread.join(timeout=5.0)  # it wakes at once: poll() sees the pipe
            if self._thread.is_alive():
                log.error("flow reader thread did not stop")
            self._thread = None
        if self._wake is not None:
            for fd in self._wake:
                os.close(fd)
            self._wake = None
        while self._queue:
            self._drain(limit=None)
        self._account()
        for sock in self.sockets:
            sock.close()
        self.sockets.clear()
        self.pipeline.finish(self.clock())

    def _bind(self, port: int) -> socket.socket:
        address = self.config.listen_address
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        try:
            sock = socket.socket(family, socket.SOCK_DGRAM)
        except OSError:
            if address != "::":
                raise
            # A host without IPv6: the default '::' degrades to IPv4 only, loudly.
            log.warning("no IPv6 on this host; listening on IPv4 only", port=port)
            address, family = "0.0.0.0", socket.AF_INET
            sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            size = self.config.receive_buffer_bytes
            try:
                sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)
            except OSError:  # without CAP_NET_ADMIN the sysctl rmem_max caps it
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
            sock.setsockopt(socket.SOL_SOCKET, SO_RXQ_OVFL, 1)
            sock.setblocking(False)
            sock.bind((address, port))
        except OSError:
            sock.close()
            raise
        return sock

    # -- the reader thread -------------------------------------------------------------

    def _reader(self) -> None:
        """Read every socket as soon as it has data, until stop(): the GIL is released in
        poll() and in each receive, so the event loop's own work barely delays it."""
        assert self._wake is not None and self._loop is not None
        poller = select.poll()
        by_fd = {s.fileno(): s for s in self.sockets}
        for fd in by_fd:
            poller.register(fd, select.POLLIN)
        poller.register(self._wake[0], select.POLLIN)
        limit = self.config.reader_queue_bytes
        while not self._stopping:
            if self.queued_bytes >= limit:
                # Full: read nothing until the loop takes some (the socket buffers meanwhile).
                self._room.clear()
                if self.queued_bytes >= limit and not self._stopping:
                    self._room.wait(ROOM_WAIT_S)
                continue
            try:
                ready = poller.poll()
            except InterruptedError:
                continue
            for fd, _ in ready:
                sock = by_fd.get(fd)
                if sock is None:
                    continue
                try:
                    self._read(sock)
                except Exception as exc:  # the thread must outlive any one datagram
                    self._errors += 1
                    log.error("flow reader failed", error=repr(exc))
            if self._queue and not self._drain_due and not self._stopping:
                self._drain_due = True
                try:
                    self._loop.call_soon_threadsafe(self._drain)
                except RuntimeError:  # the loop is closed: nothing will decode any more
                    return

    def _read(self, sock: socket.socket) -> None:
        limit = self.config.reader_queue_bytes
        now = self.clock()
        for _ in range(READS_PER_WAKEUP):
            try:
                data, ancdata, _, addr = sock.recvmsg(MAX_DATAGRAM, self._cmsg)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self._errors += 1
                log.warning("receive failed", error=repr(exc))
                return
            if ancdata:
                self._count_overflow(sock, ancdata)
            self._in_bytes += len(data) + ENTRY_OVERHEAD
            self._queue.append((data, addr[0], now))
            if self.queued_bytes >= limit:
                return  # the rest waits in the socket until the loop takes some

    def _count_overflow(self, sock: socket.socket, ancdata: list) -> None:
        for level, kind, value in ancdata:
            if level == socket.SOL_SOCKET and kind == SO_RXQ_OVFL and len(value) >= 4:
                # The kernel reports a running total per socket: count the increase.
                total = struct.unpack("=I", value[:4])[0]
                fd = sock.fileno()
                delta = (total - self._overflow.get(fd, 0)) & 0xFFFFFFFF
                self._overflow[fd] = total
                self._kernel += delta

    # -- the event loop's side ---------------------------------------------------------

    def _drain(self, limit: int | None = DRAIN_PER_CALL) -> None:
        """Decode what the reader queued (at most ``limit`` datagrams this turn; the rest
        in the next, so that a backlog does not become a stall of its own)."""
        self._drain_due = False
        pipeline, queue, batch = self.pipeline, self._queue, self.config.batch_records
        taken = 0
        while queue and (limit is None or taken < limit):
            data, address, received = queue.popleft()
            self._out_bytes += len(data) + ENTRY_OVERHEAD
            taken += 1
            try:
                pipeline.feed(data, self._exporter(address), received)
                if pipeline.buffered_records >= batch:
                    pipeline.process(received)
            except Exception as exc:  # keep collecting whatever one datagram did
                pipeline.metrics.drop("pipeline_error")
                log.error("batch processing failed", error=repr(exc))
        if taken:
            self._room.set()
        self._account()
        if queue and limit is not None and self._loop is not None and not self._drain_due:
            self._drain_due = True
            self._loop.call_soon(self._drain)

    def _account(self) -> None:
        """Bring the reader's drop counters into the pipeline's metrics."""
        kernel, errors = self._kernel, self._errors
        k0, e0 = self._counted
        m = self.pipeline.metrics
        m.kernel_drops += kernel - k0
        if errors > e0:
            m.drop("socket_error", errors - e0)
        self._counted = (kernel, errors)

    def _exporter(self, address: str) -> str:
        name = self._names.get(address)
        if name is None:
            name = format_exporter(address.split("%")[0])
            if len(self._names) < MAX_EXPORTER_NAMES:
                self._names[address] = name
        return name

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(self.config.flush_interval_s)
            try:
                self._drain()
                self.pipeline.process(self.clock())
            except Exception as exc:  # keep collecting whatever one batch did
                self.pipeline.metrics.drop("pipeline_error")
                log.error("batch processing failed", error=repr(exc))
