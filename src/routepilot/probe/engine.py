"""Probes in flight: send, match answers by token, time them, expire the lost.

The engine owns the sockets (opened lazily per provider, kind and family through
a *transport*: the kernel's, or a fake), a table of probes in flight keyed by a
32-bit token, and a deadline queue. An answer is accepted only when its token is
in flight, it arrived on the socket the probe left by and it names the probed
address; anything else (stale, forged, another program's) is counted and dropped.

RTT = kernel receive stamp − kernel transmit stamp. The sockets read both in C
(``_fastpath``) and hand each answer over with its probe's transmit stamp
attached; when a kernel stamp is missing the user-space clock stands in, and a
counter says so.

A probe is lost when no answer *arrived* within the timeout, by the kernel's
receive stamp, not when the prober got round to reading it: before declaring
anything lost the engine reads every answer the kernel already holds, so a busy
process (a long callback, a GC pause, a loaded machine) does not turn answers
waiting in its own socket buffer into loss that the path never had. An answer
stamped after its deadline counts as lost however early it is read. What is
routepilot's own doing is counted apart from the path's: answers read after
their deadline (``late_reads``, still answered) and answers the kernel dropped
because a socket buffer was full (``socket_drops``); ``late`` counts answers
that arrived after the timeout (the path's, or too short a timeout).
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

from routepilot.log import get_logger
from routepilot.probe import _fastpath, wire
from routepilot.probe.metrics import READ_DELAY_BOUNDS_NS, ProbeMetrics
from routepilot.probe.sockets import (
    Answer,
    ProbeSetupError,
    ProbeSocket,
    SocketOptions,
    Steering,
    family_of,
    open_socket,
)

log = get_logger(__name__)

_AF_INET, _AF_INET6 = socket.AF_INET, socket.AF_INET6


Probe = _fastpath.Probe
"""One probe in flight: ``Probe(token, sock, target, provider, kind, tx_user, done, tag)``,
read-only; ``tag`` is the sender's own value, handed back untouched (each sender knows its
type). Made in C: one is made for every probe sent."""


Done = Callable[[Probe, int, int, str, int], None]
"""Called once per probe: (probe, status, rtt_ns or -1, responder address, ttl)."""


class Transport(Protocol):
    """Opens probe sockets; the kernel's (:class:`KernelTransport`) or a fake."""

    def open(
        self, provider: int, kind: str, family: int, steering: Steering, magic: int
    ) -> ProbeSocket: ...


class KernelTransport:
    def __init__(self, options: SocketOptions, rng: random.Random | None = None) -> None:
        self.options = options
        self.rng = rng or random.Random()

    def open(
        self, provider: int, kind: str, family: int, steering: Steering, magic: int
    ) -> ProbeSocket:
        return open_socket(provider, kind, family, steering, magic, self.options, self.rng)


class ProbeEngine:
    """Sends probes and matches their answers; see the module docstring."""

    def __init__(
        self,
        transport: Transport,
        providers: list[tuple[str, Steering]],
        timeout_s: float,
        metrics: ProbeMetrics | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
        loop: asyncio.AbstractEventLoop | None = None,
        magic: int | None = None,
    ) -> None:
        self.transport = transport
        self.names = [name for name, _ in providers]
        self.steerings = [s for _, s in providers]
        self.timeout_ns = int(timeout_s * 1e9)
        self.metrics = metrics or ProbeMetrics()
        self.clock_ns = clock_ns
        self.loop = loop
        self.magic = random.getrandbits(32) if magic is None else magic
        self.inflight: dict[int, Probe] = {}
        self.matching: tuple[dict, int, tuple[int, ...]] | None = (
            (self.inflight, self.timeout_ns, READ_DELAY_BOUNDS_NS)
            if clock_ns is time.time_ns
            else None
        )
        """Kernel sockets settle the common answers themselves, against the probes in flight
        and the wall clock (the engine's own clock unless a test gives it another)."""
        self._deadlines: deque[Probe] = deque()
        """Probes in the order they were sent, which is their deadlines' order (``tx_user``
        plus the one timeout)."""
        self._sockets: dict[tuple[int, str, int], ProbeSocket] = {}
        self._next = random.getrandbits(32)
        self._setup_failed: set[tuple[int, str, int]] = set()
        self._expired: dict[int, tuple[ProbeSocket, str, int]] = {}
        """Recently expired probes (token → socket, target, when), in expiry order, so that
        an answer arriving after the timeout is counted as late rather than as a stranger."""
        self._expired_keep_ns = max(10_000_000_000, 4 * self.timeout_ns)

    # --- sockets ----------------------------------------------------------------------------

    def socket_for(self, provider: int, kind: str, family: int) -> ProbeSocket:
        key = (provider, kind, family)
        sock = self._sockets.get(key)
        if sock is None:
            sock = self.transport.open(provider, kind, family, self.steerings[provider], self.magic)
            self._sockets[key] = sock
            fd = sock.fileno()
            if self.loop is not None and fd >= 0:
                self.loop.add_reader(fd, sock.drain, self)
        return sock

    def close(self) -> None:
        for sock in self._sockets.values():
            fd = sock.fileno()
            if self.loop is not None and fd >= 0:
                self.loop.remove_reader(fd)
            sock.close()
        self._sockets.clear()

    def drain_all(self) -> None:
        """Reads every answer waiting on every socket (also for callers without a loop)."""
        for sock in list(self._sockets.values()):
            while sock.drain(self):
                pass

    # --- sending ----------------------------------------------------------------------------

    def send(
        self,
        provider: int,
        kind: str,
        target: str,
        done: Done,
        tag: object = None,
        ttl: int | None = None,
    ) -> bool:
        """Sends one probe; False (and counted) when the kernel refuses it."""
        return self.send_many([(provider, kind, target, tag)], done, ttl) == 1

    def _open(self, provider: int, kind: str, target: str) -> ProbeSocket | None:
        """The socket for a probe to ``target``, opened now; None (counted, and logged once)
        when it cannot be."""
        try:
            return self.socket_for(provider, kind, family_of(target))
        except ProbeSetupError as exc:
            self.metrics.send_errors[self.names[provider], kind] += 1
            key = (provider, kind, family_of(target))
            if key not in self._setup_failed:
                self._setup_failed.add(key)
                log.error("cannot open probe socket", provider=self.names[provider], error=str(exc))
            return None

    def send_many(
        self, probes: list[tuple[int, str, str, object]], done: Done, ttl: int | None = None
    ) -> int:
        """Sends probes, (provider, kind, target, tag) each, all reporting to ``done``, each
        under the next free token, and keeps them in flight; returns how many the kernel
        took (a refusal is counted). The ``sent`` counters are updated once per socket and
        batch. This loop runs once per probe: it is written out, with no call of its own."""
        socks = self._sockets
        inflight = self.inflight
        deadlines = self._deadlines
        clock = self.clock_ns
        counts: dict[tuple[int, str], int] = {}
        token = self._next
        append = deadlines.append
        i, n = 0, len(probes)
        try:
            while i < n:
                provider, kind, target, tag = probes[i]
                i += 1
                sock = socks.get((provider, kind, _AF_INET6 if ":" in target else _AF_INET))
                if sock is None and (sock := self._open(provider, kind, target)) is None:
                    continue
                if ttl is None and (run := sock.send_run) is not None:
                    # This probe and the ones after it through the same socket, sent by the
                    # channel in one go (sendmmsg), each as below.
                    nxt, token, took, failed = run(
                        probes, i - 1, provider, kind, token, clock(), inflight, append, done, sock
                    )
                    if nxt > i - 1:
                        i = nxt
                        if took:
                            counts[provider, kind] = counts.get((provider, kind), 0) + took
                        for target, errno in failed:
                            self.metrics.send_errors[self.names[provider], kind] += 1
                            log.debug("probe send failed", target=target, error=os.strerror(errno))
                        continue
                while token in inflight:
                    token = (token + 1) & 0xFFFFFFFF
                now = clock()
                try:
                    sock.send(target, token, now, ttl)
                except OSError as exc:
                    token = (token + 1) & 0xFFFFFFFF
                    self.metrics.send_errors[self.names[provider], kind] += 1
                    log.debug("probe send failed", target=target, error=exc.strerror)
                    continue
                probe = Probe(token, sock, target, provider, kind, now, done, tag)
                inflight[token] = probe
                deadlines.append(probe)
                token = (token + 1) & 0xFFFFFFFF
                counts[provider, kind] = counts.get((provider, kind), 0) + 1
        finally:
            self._next = token
        sent = self.metrics.sent
        for (provider, kind), c in counts.items():
            sent[self.names[provider], kind] += c
        return sum(counts.values())

    def expire(self, now_ns: int | None = None) -> int:
        """Declares lost every probe past its deadline whose answer has not arrived; returns
        how many.

        Answers already in the kernel's buffers are read first: they arrived before ``now``
        and may be in time, however late this call comes (see the module docstring)."""
        now = self.clock_ns() if now_ns is None else now_ns
        dl = self._deadlines
        sent_by = now - self.timeout_ns  # sent by then: past its deadline
        if not dl or dl[0].tx_user > sent_by:
            return 0
        inflight = self.inflight
        expired = self._expired
        drained = False
        n = 0
        while dl and dl[0].tx_user <= sent_by:
            probe = dl[0]
            if inflight.get(probe.token) is not probe:
                dl.popleft()  # answered already
                continue
            if not drained:
                # Only when a probe is about to be declared lost: that is rare, reading is not.
                self.drain_all()
                drained = True
                continue
            dl.popleft()
            del inflight[probe.token]
            self.metrics.lost[self.names[probe.provider], probe.kind] += 1
            expired[probe.token] = (probe.sock, probe.target, now)
            n += 1
            probe.done(probe, wire.LOST, -1, "", -1)
        horizon = now - self._expired_keep_ns
        while expired:
            token = next(iter(expired))
            if expired[token][2] > horizon and len(expired) <= 1_000_000:
                break
            del expired[token]
        return n

    def next_deadline_ns(self) -> int | None:
        return self._deadlines[0].tx_user + self.timeout_ns if self._deadlines else None

    # --- answers (the AnswerSink protocol) ---------------------------------------------------

    def tx_stamps(self, n: int) -> None:
        self.metrics.tx_kernel_stamps += n

    def unmatched(self, sock: ProbeSocket, n: int = 1) -> None:
        self.metrics.unmatched[self.names[sock.provider], sock.kind] += n

    def socket_drops(self, sock: ProbeSocket, n: int) -> None:
        self.metrics.socket_drops[self.names[sock.provider], sock.kind] += n

    def matched(
        self, sock: ProbeSocket, matched: list[tuple], delay_counts: list[int], delay_sum: int
    ) -> None:
        """Replies in time the socket matched to their probes itself (see
        :attr:`matching`): what :meth:`answers` does for the common case, done."""
        # probe.done(probe, REPLY, rtt_ns, probe.target, ttl) for each, the loop in C.
        _fastpath.deliver(matched, wire.REPLY)
        self.metrics.answered[self.names[sock.provider], sock.kind] += len(matched)
        self.metrics.add_read_delays(delay_counts, delay_sum)

    def answers(self, sock: ProbeSocket, answers: list[Answer]) -> None:
        """A socket's batch of answers (see :data:`~routepilot.probe.sockets.Answer`).

        What :meth:`answer` does for each, with the common case (a reply in time, both
        kernel stamps there) done here in one pass: one clock read and one update of each
        counter per batch instead of per answer. Anything else goes through :meth:`answer`."""
        inflight = self.inflight
        timeout = self.timeout_ns
        now = self.clock_ns()
        delays = []
        replies = 0
        answer = self.answer
        for a in answers:
            token, target, rx_ns, status, responder, ttl, tx_ns = a
            probe = inflight.get(token)
            if (
                probe is None
                or probe.sock is not sock
                or probe.target != target
                or not rx_ns
                or not tx_ns
                or status != wire.REPLY
                or rx_ns - tx_ns > timeout
                or now - probe.tx_user > timeout
            ):
                answer(sock, token, target, rx_ns, status, responder, ttl, tx_ns)
                continue
            del inflight[token]
            delays.append(now - rx_ns)
            replies += 1
            probe.done(probe, status, rx_ns - tx_ns, responder, ttl)
        if replies:
            self.metrics.answered[self.names[sock.provider], sock.kind] += replies
            self.metrics.observe_read_delays(delays)

    def answer(
        self,
        sock: ProbeSocket,
        token: int,
        target: str,
        rx_ns: int,
        status: int,
        responder: str,
        ttl: int,
        tx_ns: int = 0,
    ) -> None:
        """One answer: ``rx_ns`` its kernel receive stamp, ``tx_ns`` its probe's kernel
        transmit stamp (0 when either is missing: the engine's clock stands in)."""
        probe = self.inflight.get(token)
        if probe is None or probe.sock is not sock or probe.target != target:
            # Not a probe in flight (counted as such); if it is one we gave up on, it also
            # counts as late, which tells a slow path from strangers.
            self.unmatched(sock)
            gone = self._expired.pop(token, None) if probe is None else None
            if gone is not None and gone[0] is sock and gone[1] == target:
                self.metrics.late[self.names[sock.provider], sock.kind] += 1
            return
        del self.inflight[token]
        tx = tx_ns
        if rx_ns:
            now = self.clock_ns()
            self.metrics.observe_read_delay(now - rx_ns)
            if rx_ns - (tx or probe.tx_user) > self.timeout_ns:
                # Arrived after the timeout: lost, even though this read came before expire().
                name = self.names[probe.provider]
                self.metrics.lost[name, probe.kind] += 1
                self.metrics.late[name, probe.kind] += 1
                probe.done(probe, wire.LOST, -1, "", -1)
                return
            if now - probe.tx_user > self.timeout_ns:
                # In time, but read after the deadline: the prober was busy, not the path.
                self.metrics.late_reads[self.names[probe.provider], probe.kind] += 1
        if not rx_ns or not tx:
            self.metrics.user_stamp_fallbacks += 1
            rx_ns = rx_ns or self.clock_ns()
            tx = tx or probe.tx_user
        name = self.names[probe.provider]
        if status == wire.REPLY:
            self.metrics.answered[name, probe.kind] += 1
        else:
            self.metrics.unreachable[name, probe.kind] += 1
        probe.done(probe, status, rx_ns - tx, responder, ttl)
