"""The UDP collector on loopback: start/stop, every format on every port, kernel drops."""

from __future__ import annotations

import asyncio
import fcntl
import socket
import struct
import termios
import threading
import time

from tests import flowenc as encode

from routepilot.flows.collector import FlowCollector
from routepilot.flows.config import FlowsConfig
from routepilot.flows.pipeline import FlowPipeline


def _datagrams(n: int) -> list[bytes]:
    records = encode.synthetic_records(n, prefixes=50)
    return list(encode.ipfix_stream(records, encode.IPV4_FIELDS, template_every=1))


def _config(**kw) -> FlowsConfig:
    return FlowsConfig(listen_address="127.0.0.1", netflow_port=0, ipfix_port=0, sflow_port=0,
                       flush_interval_s=0.05, **kw)  # fmt: skip


def _queued(sock: socket.socket) -> int:
    """Bytes of the next datagram waiting in the socket's receive queue (0: empty)."""
    return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0" * 4))[0]


async def _until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def _settle(pipeline: FlowPipeline, expected: int, timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.05)):
        await asyncio.sleep(0.05)
        if sum(pipeline.metrics.records.values()) >= expected:
            return


def test_collects_on_every_port_and_stops_cleanly():
    async def run() -> FlowPipeline:
        cfg = _config(window_s=0.05)
        pipeline = FlowPipeline(cfg)
        collector = FlowCollector(cfg, pipeline)
        await collector.start()
        assert len(collector.ports) == 3
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        dgs = _datagrams(300)
        for i, d in enumerate(dgs):
            tx.sendto(d, ("127.0.0.1", collector.ports[i % 3]))
        tx.sendto(b"garbage", ("127.0.0.1", collector.ports[0]))
        await _settle(pipeline, 300)
        # Rates show once the window the records fell in has closed (the collector's
        # ticker closes one every window_s); a stop just before would leave it open.
        await _until(lambda: pipeline.snapshot(0).prefixes)
        await collector.stop()
        assert collector.sockets == []
        return pipeline

    pipeline = asyncio.run(run())
    assert pipeline.metrics.records["ipfix"] == 300
    assert pipeline.metrics.drops["unknown_version"] == 1
    assert pipeline.snapshot(0).prefixes  # something was aggregated, and stays after stop


class _HeldReader:
    """A clock that keeps the collector's reader thread waiting until released, as a
    reader starved of CPU would be: nothing reads the socket in the meantime."""

    def __init__(self) -> None:
        self.gate = threading.Event()

    def __call__(self) -> float:
        if threading.current_thread().name == "flow-reader":
            self.gate.wait()
        return time.time()


def test_kernel_drops_are_counted_with_so_rxq_ovfl():
    async def run() -> tuple[FlowPipeline, int]:
        cfg = _config(receive_buffer_bytes=65536)
        pipeline = FlowPipeline(cfg)
        held = _HeldReader()
        collector = FlowCollector(cfg, pipeline, clock=held)
        await collector.start()
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        dgs = _datagrams(20_000)
        # Sent while the reader is held: the small buffer must overflow.
        for d in dgs:
            tx.sendto(d, ("127.0.0.1", collector.ports[0]))
        held.gate.set()
        # The kernel reports its drop count with the next datagram received: once the
        # queue is drained, a last datagram (garbage, counted apart) brings the total.
        await _until(lambda: _queued(collector.sockets[0]) == 0)
        tx.sendto(b"sentinel", ("127.0.0.1", collector.ports[0]))
        await _until(lambda: pipeline.metrics.drops["unknown_version"] == 1)
        await collector.stop()
        return pipeline, len(dgs)

    pipeline, sent = asyncio.run(run())
    received = pipeline.metrics.datagrams["ipfix"]
    assert pipeline.metrics.kernel_drops > 0
    # Every datagram is either received or counted as dropped by the kernel, except
    # those dropped after the last one received (the kernel reports drops with data).
    assert received + pipeline.metrics.kernel_drops <= sent
    assert received + pipeline.metrics.kernel_drops >= sent * 0.5
    # With the sentinel received after the burst, every datagram is accounted for.
    assert received + pipeline.metrics.kernel_drops == sent


RECORDS = 330_000  # 10,000 datagrams of 33 records


def test_a_busy_event_loop_loses_no_datagram():
    """The event loop held for 2 s by CPU-bound work (a decision round, a big API
    response) while an exporter sends 5,000 datagrams a second: the collector's reader
    thread keeps draining the socket, so nothing is dropped, and every record is decoded
    once the loop is free. Read from the loop, as before, the socket's 4 MiB (8 MiB as the
    kernel counts) would have held well under half of the 2 s."""
    sent: list[int] = []

    def exporter(port: int, dgs: list[bytes], started: threading.Event) -> None:
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        started.set()
        for i in range(0, len(dgs), 50):  # 50 datagrams every 10 ms
            for d in dgs[i : i + 50]:
                tx.sendto(d, ("127.0.0.1", port))
            sent.append(min(i + 50, len(dgs)))
            time.sleep(0.01)
        tx.close()

    async def run() -> tuple[FlowPipeline, int]:
        cfg = _config(receive_buffer_bytes=4 * 1024 * 1024)
        pipeline = FlowPipeline(cfg)
        collector = FlowCollector(cfg, pipeline)
        await collector.start()
        dgs = _datagrams(RECORDS)
        started = threading.Event()
        t = threading.Thread(target=exporter, args=(collector.ports[0], dgs, started))
        t.start()
        started.wait()
        end = time.monotonic() + 2.0
        while time.monotonic() < end:  # the loop is busy: no await in here
            sum(range(1000))
        t.join()
        # The kernel reports its drops with the next datagram: once the socket is read
        # empty, a sentinel (garbage, counted apart) brings the total.
        await _until(lambda: _queued(collector.sockets[0]) == 0)
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(
            b"sentinel", ("127.0.0.1", collector.ports[0])
        )
        await _until(lambda: pipeline.metrics.drops["unknown_version"] == 1)
        await collector.stop()
        return pipeline, len(dgs)

    pipeline, n = asyncio.run(run())
    assert n == 10_000 and sent[-1] == n
    assert pipeline.metrics.kernel_drops == 0
    assert pipeline.metrics.datagrams["ipfix"] == n
    assert pipeline.metrics.records["ipfix"] == RECORDS


def test_a_full_reader_queue_leaves_the_rest_in_the_socket():
    """While the loop cannot decode, the reader queues at most ``reader_queue_bytes`` and
    then reads no more: what comes meanwhile waits in the socket's buffer (a flood costs
    neither memory nor the reader's CPU beyond the cap), and nothing is lost once the
    loop is free again."""
    cap = 65536

    async def run() -> tuple[FlowPipeline, int, int, int]:
        cfg = _config(reader_queue_bytes=cap)
        pipeline = FlowPipeline(cfg)
        collector = FlowCollector(cfg, pipeline)
        await collector.start()
        dgs = _datagrams(20_000)
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for d in dgs:  # the loop does not run: the reader alone takes them
            tx.sendto(d, ("127.0.0.1", collector.ports[0]))
        # Still without yielding to the loop: until the reader has filled its queue.
        deadline = time.monotonic() + 10
        while collector.queued_bytes < cap and time.monotonic() < deadline:
            time.sleep(0.001)
        queued = collector.queued_bytes
        waiting = _queued(collector.sockets[0])  # the next datagram, still in the socket
        await _until(lambda: pipeline.metrics.datagrams["ipfix"] >= len(dgs))
        await collector.stop()
        return pipeline, len(dgs), queued, waiting

    pipeline, n, queued, waiting = asyncio.run(run())
    assert cap <= queued < cap + 2 * 1500, queued  # full, by at most the datagram that filled it
    assert waiting > 0
    assert pipeline.metrics.datagrams["ipfix"] == n and pipeline.metrics.kernel_drops == 0


def test_dual_stack_socket_names_exporters_plainly():
    async def run() -> FlowPipeline:
        cfg = _config().model_copy(update={"listen_address": "::"})
        pipeline = FlowPipeline(cfg)
        collector = FlowCollector(cfg, pipeline)
        await collector.start()
        dgs = _datagrams(30)
        tx4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tx6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        tx4.sendto(dgs[0], ("127.0.0.1", collector.ports[0]))
        tx6.sendto(dgs[0], ("::1", collector.ports[0]))
        await _settle(pipeline, 2 * 30)
        await collector.stop()
        return pipeline

    pipeline = asyncio.run(run())
    assert sorted(pipeline.decoder.exporter_names) == ["127.0.0.1", "::1"]
