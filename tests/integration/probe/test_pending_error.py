"""An ICMP error leaves an error pending on a UDP or TCP probe socket; the next probe is
still sent. Real sockets on loopback, where the port unreachable comes back before
sendto() returns."""

from __future__ import annotations

import random
import socket
import time

import pytest

from routepilot.probe import wire
from routepilot.probe.sockets import ProbeSocket, SocketOptions, Steering, open_socket


def _closed_port(family: int, host: str) -> int:
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class _Sink:
    matching = None  # every answer through answers(), as the test reads them

    def __init__(self) -> None:
        self.got: list[tuple[int, int]] = []
        self.stamped = 0

    def tx_stamps(self, n: int) -> None:
        self.stamped += n

    def answers(self, sock: ProbeSocket, answers: list) -> None:
        for token, _target, rx_ns, status, _responder, _ttl, tx_ns in answers:
            assert rx_ns > tx_ns > 0, "kernel stamps on both sides"
            self.got.append((token, status))

    def unmatched(self, sock: ProbeSocket, n: int = 1) -> None:
        raise AssertionError("an answer the socket could not match")

    def socket_drops(self, sock: ProbeSocket, n: int) -> None:
        raise AssertionError(f"{n} answers dropped")


@pytest.mark.parametrize(
    ("family", "host"),
    [(socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")],
    ids=["ipv4", "ipv6"],
)
@pytest.mark.usefixtures("kernel_rx_stamps")
def test_every_probe_is_sent_and_answered_after_a_port_unreachable(family: int, host: str) -> None:
    options = SocketOptions(udp_port=_closed_port(family, host))
    sock = open_socket(0, "udp", family, Steering(), 0x5EED, options, random.Random(1))
    sink = _Sink()
    try:
        # No read between sends: each probe meets the error its predecessor's answer left.
        for token in range(1, 6):
            sock.send(host, token, time.time_ns())
        while sock.drain(sink):
            pass
    finally:
        sock.close()
    assert sorted(sink.got) == [(token, wire.REPLY) for token in range(1, 6)]
    assert sink.stamped == 5
