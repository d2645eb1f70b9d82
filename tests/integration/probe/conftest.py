"""Shared fixtures of the probe integration tests."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator

import pytest
from tests.fixtures.netns import wait_for

from routepilot.probe import wire


@pytest.fixture
def kernel_rx_stamps() -> Iterator[None]:
    """Kernel receive stamping live before the test sends. The kernel turns it on for
    everyone a moment after the first socket asks (a deferred static key), and off when
    the last one closes: a probe socket opened just before it sends may get its answers
    unstamped. A socket of our own asks, a datagram to itself is awaited with its stamp,
    and the socket stays open for the test, so that stamping stays on."""
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        rx.bind(("127.0.0.1", 0))
        rx.setsockopt(socket.SOL_SOCKET, wire.SO_TIMESTAMPING, wire.TIMESTAMPING_FLAGS)
        rx.setblocking(False)
        tx.connect(rx.getsockname())

        def stamped() -> bool:
            tx.send(b"stamp?")
            while True:
                try:
                    _, ancdata, _, _ = rx.recvmsg(64, socket.CMSG_SPACE(48))
                except BlockingIOError:
                    return False
                for level, kind, data in ancdata:
                    ours = level == socket.SOL_SOCKET and kind == wire.SO_TIMESTAMPING
                    if ours and any(struct.unpack_from("qq", data, 0)):
                        return True

        wait_for(stamped, 5.0, "kernel receive stamps")
        yield
    finally:
        rx.close()
        tx.close()
