"""Probes in flight: send, match answers by token, time them, expire the lost.

The engine owns the sockets (opened lazily per provider, kind and family through
a *transport*: the kernel's, or a fake), a table of probes in flight keyed by a
32-bit token, and a deadline queue. An answer is accepted only when its token is
in flight, it arrived on the socket the probe left by and it names the probed
address; anything else (stale, forged, another program's) is counted and dropped.

RTT = kernel receive stamp − kernel transmit stamp. When a kernel stamp is
missing the user-space clock stands in, and a counter says so.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from routepilot.log import get_logger
from routepilot.probe import wire
from routepilot.probe.metrics import ProbeMetrics
from routepilot.probe.sockets import (
    ProbeSetupError,
    ProbeSocket,
    SocketOptions,
    Steering,
    family_of,
    open_socket,
)

log = get_logger(__name__)


class Probe:
    """One probe in flight."""

    __slots__ = (
        "token",
        "sock",
        "target",
        "provider",
        "kind",
        "tx_user",
        "tx_kernel",
        "done",
        "tag",
    )

    def __init__(
        self,
        token: int,
        sock: ProbeSocket,
        target: str,
        provider: int,
        kind: str,
        tx_user: int,
        done: Done,
        tag: Any,
    ) -> None:
        self.token = token
        self.sock = sock
        self.target = target
        self.provider = provider
        self.kind = kind
        self.tx_user = tx_user
        self.tx_kernel = 0
        self.done = done
        # The sender's own value, handed back untouched; each sender knows its type.
        self.tag = tag


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
        self._deadlines: deque[tuple[int, Probe]] = deque()
        self._sockets: dict[tuple[int, str, int], ProbeSocket] = {}
        self._next = random.getrandbits(32)
        self._setup_failed: set[tuple[int, str, int]] = set()

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
        """Reads every socket once (for callers without an event loop)."""
        for sock in list(self._sockets.values()):
            sock.drain(self)

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
        try:
            sock = self.socket_for(provider, kind, family_of(target))
        except ProbeSetupError as exc:
            self.metrics.send_errors[self.names[provider], kind] += 1
            key = (provider, kind, family_of(target))
            if key not in self._setup_failed:
                self._setup_failed.add(key)
                log.error("cannot open probe socket", provider=self.names[provider], error=str(exc))
            return False
        inflight = self.inflight
        token = self._next
        while token in inflight:
            token = (token + 1) & 0xFFFFFFFF
        self._next = (token + 1) & 0xFFFFFFFF
        now = self.clock_ns()
        try:
            sock.send(target, token, ttl)
        except OSError as exc:
            self.metrics.send_errors[self.names[provider], kind] += 1
            log.debug("probe send failed", target=target, error=exc.strerror)
            return False
        probe = Probe(token, sock, target, provider, kind, now, done, tag)
        inflight[token] = probe
        self._deadlines.append((now + self.timeout_ns, probe))
        self.metrics.sent[self.names[provider], kind] += 1
        return True

    def expire(self, now_ns: int | None = None) -> int:
        """Declares lost every probe past its deadline; returns how many."""
        now = self.clock_ns() if now_ns is None else now_ns
        dl = self._deadlines
        inflight = self.inflight
        n = 0
        while dl and dl[0][0] <= now:
            _, probe = dl.popleft()
            if inflight.get(probe.token) is probe:
                del inflight[probe.token]
                self.metrics.lost[self.names[probe.provider], probe.kind] += 1
                n += 1
                probe.done(probe, wire.LOST, -1, "", -1)
        return n

    def next_deadline_ns(self) -> int | None:
        return self._deadlines[0][0] if self._deadlines else None

    # --- answers (the AnswerSink protocol) ---------------------------------------------------

    def tx_stamp(self, token: int, ns: int) -> bool | None:
        """A kernel transmit stamp for probe ``token``; False when it cannot be its stamp
        (taken before the probe was handed to the kernel, or long after)."""
        probe = self.inflight.get(token)
        if probe is None:
            return None
        if not probe.tx_user - 1_000 <= ns <= probe.tx_user + 1_000_000_000:
            return False
        probe.tx_kernel = ns
        self.metrics.tx_kernel_stamps += 1
        return True

    def unmatched(self, sock: ProbeSocket) -> None:
        self.metrics.unmatched[self.names[sock.provider], sock.kind] += 1

    def answer(
        self,
        sock: ProbeSocket,
        token: int,
        target: str,
        rx_ns: int,
        status: int,
        responder: str,
        ttl: int,
    ) -> None:
        probe = self.inflight.get(token)
        if probe is None or probe.sock is not sock or probe.target != target:
            self.unmatched(sock)
            return
        del self.inflight[token]
        tx = probe.tx_kernel
        if rx_ns:
            self.metrics.observe_read_delay(self.clock_ns() - rx_ns)
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
