"""The UDP collector component: sockets in, :class:`FlowPipeline` fed, async start/stop.

Datagrams are read with ``recvmsg`` straight off non-blocking sockets from the
event loop's reader callback (no per-datagram task or future), so that the
kernel's ``SO_RXQ_OVFL`` drop counter arrives with each datagram. Decoding
happens once ``batch_records`` records are waiting, or every
``flush_interval_s``, whichever comes first.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
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
        self._overflow: dict[int, int] = {}
        self._names: dict[str, str] = {}
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._cmsg = socket.CMSG_SPACE(4)

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
                sock = self._bind(port)
                self.sockets.append(sock)
                self._loop.add_reader(sock.fileno(), self._readable, sock)
        except OSError:
            await self.stop()
            raise
        self._task = asyncio.create_task(self._ticker())
        log.info("flow collector listening", address=self.config.listen_address, ports=self.ports)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for sock in self.sockets:
            if self._loop is not None:
                self._loop.remove_reader(sock.fileno())
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

    def _readable(self, sock: socket.socket) -> None:
        pipeline = self.pipeline
        now = self.clock()
        batch = self.config.batch_records
        for _ in range(READS_PER_WAKEUP):
            try:
                data, ancdata, _, addr = sock.recvmsg(MAX_DATAGRAM, self._cmsg)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                self.pipeline.metrics.drop("socket_error")
                log.warning("receive failed", error=repr(exc))
                break
            if ancdata:
                self._count_overflow(sock, ancdata)
            pipeline.feed(data, self._exporter(addr[0]), now)
            if pipeline.buffered_records >= batch:
                pipeline.process(now)

    def _count_overflow(self, sock: socket.socket, ancdata: list) -> None:
        for level, kind, value in ancdata:
            if level == socket.SOL_SOCKET and kind == SO_RXQ_OVFL and len(value) >= 4:
                # The kernel reports a running total per socket: count the increase.
                total = struct.unpack("=I", value[:4])[0]
                fd = sock.fileno()
                delta = (total - self._overflow.get(fd, 0)) & 0xFFFFFFFF
                self._overflow[fd] = total
                self.pipeline.metrics.kernel_drops += delta

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
                self.pipeline.process(self.clock())
            except Exception as exc:  # keep collecting whatever one batch did
                self.pipeline.metrics.drop("pipeline_error")
                log.error("batch processing failed", error=repr(exc))
