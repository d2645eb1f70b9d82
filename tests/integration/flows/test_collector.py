"""The UDP collector on loopback: start/stop, every format on every port, kernel drops."""

from __future__ import annotations

import asyncio
import fcntl
import socket
import struct
import termios
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


def test_kernel_drops_are_counted_with_so_rxq_ovfl():
    async def run() -> tuple[FlowPipeline, int]:
        cfg = _config(receive_buffer_bytes=65536)
        pipeline = FlowPipeline(cfg)
        collector = FlowCollector(cfg, pipeline)
        await collector.start()
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        dgs = _datagrams(20_000)
        # Sent without yielding to the event loop: the small buffer must overflow.
        for d in dgs:
            tx.sendto(d, ("127.0.0.1", collector.ports[0]))
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
