"""The engine's accounting of loss: the path's, or routepilot's own.

A stub socket holds answers "in the kernel's buffer" with their receive stamps,
as a real one does while the prober is busy, and hands them over only when read.
"""

from __future__ import annotations

from tests.samples import parse

from routepilot.metrics import Registry, render
from routepilot.probe import wire
from routepilot.probe.engine import ProbeEngine
from routepilot.probe.fake import FakeClock
from routepilot.probe.sockets import Steering

S = 1_000_000_000


class _BufferedSock:
    """Answers wait here (stamped when they arrived) until the engine reads them."""

    provider, kind = 0, "icmp"
    send_run = None  # one probe at a time, through send()

    def __init__(self) -> None:
        self.sent: list[int] = []
        self.tx: dict[int, int] = {}
        self.waiting: list[tuple[int, int]] = []
        self.batch = 2

    def send(self, target, token, tx_user_ns, ttl=None):
        self.sent.append(token)
        self.tx[token] = tx_user_ns + 1_000  # the kernel's transmit stamp, a microsecond on

    def arrive(self, token: int, rx_ns: int) -> None:
        self.waiting.append((token, rx_ns))

    def drain(self, sink) -> bool:
        # A small batch, as the real sockets cap each read: the engine must come back for more.
        now, self.waiting = self.waiting[: self.batch], self.waiting[self.batch :]
        answers = [(t, "198.18.0.1", rx, wire.REPLY, "198.18.0.1", 64, self.tx[t]) for t, rx in now]
        sink.answers(self, answers)
        return bool(self.waiting)

    def fileno(self):
        return -1

    def close(self):
        pass


class _Transport:
    def __init__(self) -> None:
        self.sock = _BufferedSock()

    def open(self, *args):
        return self.sock


def _engine():
    clock = FakeClock(100.0)
    t = _Transport()
    eng = ProbeEngine(t, [("isp1", Steering())], 1.0, clock_ns=lambda: int(clock() * S))
    results: list[int] = []
    return clock, t.sock, eng, results


def test_answers_waiting_in_the_buffer_are_not_lost_when_the_prober_was_busy():
    clock, sock, eng, results = _engine()
    for _ in range(5):
        eng.send(0, "icmp", "198.18.0.1", lambda p, status, *a: results.append(status))
    for token in sock.sent:
        sock.arrive(token, 100 * S + 5_000_000)  # 5 ms later, well within the 1 s timeout
    clock.now = 103.0  # the prober comes back three seconds later, past every deadline
    assert eng.expire() == 0
    assert results == [wire.REPLY] * 5
    assert eng.metrics.total("lost") == 0
    assert eng.metrics.total("late_reads") == 5
    assert eng.metrics.late_reads["isp1", "icmp"] == 5


def test_an_answer_stamped_after_the_timeout_is_lost_however_early_it_is_read():
    clock, sock, eng, results = _engine()
    eng.send(0, "icmp", "198.18.0.1", lambda p, status, *a: results.append(status))
    sock.arrive(sock.sent[0], 100 * S + 1_200_000_000)
    clock.now = 100.5  # before the deadline by the prober's clock
    eng.drain_all()
    assert results == [wire.LOST]
    assert eng.metrics.total("lost") == 1 and eng.metrics.total("late") == 1
    assert eng.metrics.total("answered") == 0
    assert eng.expire(int(102 * S)) == 0


def test_an_answer_after_expiry_is_late_and_a_stranger_is_not():
    clock, sock, eng, results = _engine()
    eng.send(0, "icmp", "198.18.0.1", lambda p, status, *a: results.append(status))
    token = sock.sent[0]
    clock.now = 101.5
    assert eng.expire() == 1
    eng.answer(sock, token, "198.18.0.1", int(101.6 * S), wire.REPLY, "198.18.0.1", 64)
    eng.answer(sock, token ^ 0xFFFF, "198.18.0.1", int(101.6 * S), wire.REPLY, "x", 64)
    assert eng.metrics.late["isp1", "icmp"] == 1
    assert eng.metrics.total("unmatched") == 2
    assert results == [wire.LOST]


def test_socket_drops_are_counted_as_routepilots_own():
    clock, sock, eng, results = _engine()
    eng.send(0, "icmp", "198.18.0.1", lambda *a: None)
    eng.socket_drops(sock, 7)
    assert eng.metrics.socket_drops == {("isp1", "icmp"): 7}
    registry = Registry()
    registry.register(eng.metrics)
    text = render(registry)[0].decode()
    assert (
        parse(text)[
            ("routepilot_probe_socket_drops_total", (("kind", "icmp"), ("provider", "isp1")))
        ]
        == 7
    )
    assert "# TYPE routepilot_probe_socket_drops_total counter" in text
