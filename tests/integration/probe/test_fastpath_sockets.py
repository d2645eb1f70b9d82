"""The C channel reading a real socket on loopback (no root): answers with their kernel
receive stamps, malformed and foreign datagrams counted, the kernel's drops counted, the
batch limit. A UDP socket stands in for the raw ICMP socket: it receives, as payload, the
same bytes a raw socket returns (IPv4 header included)."""

from __future__ import annotations

import socket
import struct
import time

import pytest
from tests.fixtures.netns import wait_for

from routepilot.probe import _fastpath, wire

IDENT, MAGIC = 7, 99


def _ipv4(payload: bytes, src: str, dst: str = "100.67.0.1") -> bytes:
    hdr = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(payload),
        0,
        0,
        61,
        1,
        0,
        socket.inet_aton(src),
        socket.inet_aton(dst),
    )
    return hdr + payload


def _reply(token: int, ident: int = IDENT) -> bytes:
    ch = _fastpath.Channel(-1, _fastpath.ICMP, socket.AF_INET, MAGIC, ident=ident)
    reply = bytearray(ch.packet(token))
    reply[0] = 0
    return _ipv4(bytes(reply), src="198.18.3.4")


@pytest.fixture
def pair():
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.setsockopt(socket.SOL_SOCKET, wire.SO_TIMESTAMPING, wire.TIMESTAMPING_FLAGS)
    rx.setsockopt(socket.SOL_SOCKET, wire.SO_RXQ_OVFL, 1)
    rx.setblocking(False)
    tx.connect(rx.getsockname())
    channel = _fastpath.Channel(rx.fileno(), _fastpath.ICMP, socket.AF_INET, MAGIC, ident=IDENT)

    # The kernel turns receive stamping on for everyone a moment after the first socket asks
    # (a deferred static key): until then datagrams arrive unstamped. Wait for a stamped one.
    def stamped() -> bool:
        tx.send(_reply(1))
        return any(a[2] for a in _all(channel)[0])

    wait_for(stamped, 5.0, "kernel receive stamps")
    yield channel, rx, tx
    rx.close()
    tx.close()


def _all(channel) -> tuple[list, int, int]:
    answers, unmatched, drops = [], 0, 0
    while True:
        a, u, d, _stamps, more = channel.drain()
        answers += a
        unmatched += u
        drops += d
        if not more:
            return answers, unmatched, drops


def test_answers_come_with_their_receive_stamp_and_strangers_are_counted(pair):
    channel, _rx, tx = pair
    before = time.time_ns()
    channel.record(0x00050006, before)
    for datagram in (
        _reply(0x00050006),
        _reply(0x00050006, ident=IDENT + 1),  # another prober's
        _reply(0x00050006)[:30],  # truncated
        b"",
        bytes(range(200)),
    ):
        tx.send(datagram)
    answers, unmatched, drops = _all(channel)
    assert unmatched == 4 and drops == 0
    [(token, target, rx_ns, status, responder, ttl, tx_ns)] = answers
    assert (token, target, status, responder, ttl, tx_ns) == (
        0x00050006,
        "198.18.3.4",
        wire.REPLY,
        "198.18.3.4",
        61,
        0,  # no transmit stamp was taken for it
    )
    assert before < rx_ns <= time.time_ns()


def test_a_batch_at_a_time_and_the_kernels_drops_counted(pair):
    channel, rx, tx = pair
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    for token in range(600):
        tx.send(_reply(token))
    answers, _u, _d, _s, more = channel.drain()
    assert (len(answers), more) == (512, True)
    answers, _u, _d, _s, more = channel.drain()
    assert (len(answers), more) == (88, False)
    # A small buffer overflows; the kernel tells how many it dropped with the next datagram
    # it queues.
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    for token in range(200):
        tx.send(_reply(token))
    received, _u, drops = _all(channel)
    assert 0 < len(received) < 200 and drops == 0
    tx.send(_reply(200))
    late, _u, drops = _all(channel)
    assert len(late) == 1 and drops == 200 - len(received)


def test_the_channel_settles_only_the_replies_the_engine_would_take_at_once(pair):
    """drain_into(): a reply in time, from the probed address, to a probe in flight on this
    socket with both kernel stamps leaves the table with its RTT; every other answer is the
    engine's to judge (late, stale, another socket's, from elsewhere), untouched."""
    channel, _rx, tx = pair
    me, other = object(), object()
    now = time.time_ns()
    timeout = 1_000_000_000
    inflight = {}

    def probe(token: int, sent_at: int, sock: object = me, target: str = "198.18.3.4") -> None:
        channel.record(token, sent_at)
        inflight[token] = _fastpath.Probe(token, sock, target, 0, "icmp", sent_at, None, None)

    probe(10, now)  # in time: settled
    probe(11, now, sock=other)  # in flight on another socket
    probe(12, now - 3 * timeout)  # sent long ago: a reply read after its deadline
    probe(13, now, target="198.18.3.5")  # answered from another address than probed
    probe(14, now)  # no transmit stamp
    for key, at in enumerate((now, now, now - 3 * timeout + 500, now)):
        assert channel.stamp(key, at + 1_000) is True
    for token in (10, 11, 12, 13, 14, 15):  # 15: not in flight
        tx.send(_reply(token))
    bounds = (1_000, 10**12)
    matched, counts, delay_sum, answers = [], [0, 0, 0], [0], []

    def read() -> bool:
        out = channel.drain_into(inflight, me, timeout, bounds)
        matched.extend(out[0])
        counts[:] = [a + b for a, b in zip(counts, out[1], strict=True)]
        delay_sum[0] += out[2]
        answers.extend(out[3])
        return len(matched) + len(answers) >= 6

    wait_for(read, 5.0, "six answers read")
    [(settled, rtt_ns, ttl)] = matched
    assert settled.token == 10 and ttl == 61
    assert 0 < rtt_ns < timeout
    # One read delay, counted in its bucket (over a microsecond: a read is slower), summed.
    assert counts == [0, 1, 0] and 1_000 < delay_sum[0] < timeout
    assert sorted(a[0] for a in answers) == [11, 12, 13, 14, 15]
    assert sorted(inflight) == [11, 12, 13, 14]
    with pytest.raises(ValueError):
        channel.drain_into(inflight, me, timeout, tuple(range(17)))
