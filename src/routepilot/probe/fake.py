"""A fake socket layer: a simulated network per provider, on a clock the test drives.

Other stages' tests (and ours) run a real :class:`~routepilot.probe.component.Prober`
on it without root: every probe "sent" is recorded, and answered after the
path's RTT unless the path loses it. Usage::

    clock = FakeClock(1000.0)
    net = FakeNetwork(clock)
    net.set_path("isp1", rtt_ms=20, loss=0.0)
    prober = Prober(cfg, providers, transport=net, clock=clock)
    prober.set_paths([("198.18.1.0/24", "isp1", 0)])
    prober.observe_destinations(["198.18.1.7"])
    net.run(prober, seconds=10)

:class:`FakeProber` is the whole prober on such a network in real time, with the
:class:`~routepilot.probe.interface.ProberInterface` of the real ones: for tests of the
stages that use a prober (no root, no sockets, no clock to drive).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from routepilot.config.models import ProviderConfig
from routepilot.probe import wire
from routepilot.probe.component import Prober
from routepilot.probe.config import ProbeConfig
from routepilot.probe.rollup import RollupSink
from routepilot.probe.sockets import AnswerSink, ProbeSocket, Steering


class _Ticking(Protocol):
    """What :meth:`FakeNetwork.run` drives: a prober with its engine."""

    @property
    def engine(self) -> AnswerSink: ...

    def tick(self) -> object: ...


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class FakePath:
    rtt_ms: float = 10.0
    loss: float = 0.0
    blackhole: bool = False
    dead_targets: set[str] = field(default_factory=set)
    """Addresses that never answer on this path."""
    jitter_ms: float = 0.0
    """Each RTT is ``rtt_ms`` plus or minus up to this much, uniformly (like the lab's)."""


@dataclass(frozen=True)
class SentPacket:
    time: float
    provider: str
    kind: str
    target: str
    token: int
    ttl: int | None


class FakeSocket(ProbeSocket):
    def __init__(self, net: FakeNetwork, provider: int, kind: str, family: int, steering: Steering):
        self.net = net
        self.provider = provider
        self.kind = kind
        self.family = family
        self.steering = steering
        self.source = steering.source_for(family)

    def fileno(self) -> int:
        return -1

    def close(self) -> None:
        pass

    def send(self, target: str, token: int, tx_user_ns: int, ttl: int | None = None) -> None:
        self.net.transmit(self, target, token, ttl)

    def drain(self, sink: AnswerSink) -> bool:
        self.net.deliver(sink)
        return False


class FakeNetwork:
    """Implements the engine's Transport over simulated paths; see the module docstring."""

    def __init__(
        self, clock: Callable[[], float], seed: int = 1, names: list[str] | None = None
    ) -> None:
        self.clock = clock
        self.rng = random.Random(seed)
        self.paths: dict[str, FakePath] = {}
        self.sent: list[SentPacket] = []
        self.names = names
        self._pending: list[tuple[float, int, FakeSocket, int, str, int]] = []
        self._n = 0
        self.sinks: list = []
        self.dead_everywhere: set[str] = set()
        self.host_loss: dict[str, float] = {}
        """Addresses that lose this share of their probes through every provider (a host
        that answers badly on its own)."""

    def set_path(self, provider: str, **kw: object) -> FakePath:
        path = self.paths.setdefault(provider, FakePath())
        for k, v in kw.items():
            setattr(path, k, v)
        return path

    def open(
        self, provider: int, kind: str, family: int, steering: Steering, magic: int
    ) -> FakeSocket:
        return FakeSocket(self, provider, kind, family, steering)

    def _name(self, sock: FakeSocket) -> str:
        return self.names[sock.provider] if self.names else str(sock.provider)

    def transmit(self, sock: FakeSocket, target: str, token: int, ttl: int | None) -> None:
        now = self.clock()
        name = self._name(sock)
        self.sent.append(SentPacket(now, name, sock.kind, target, token, ttl))
        path = self.paths.get(name, FakePath())
        if path.blackhole or target in path.dead_targets or target in self.dead_everywhere:
            return
        if path.loss and self.rng.random() < path.loss:
            return
        if target in self.host_loss and self.rng.random() < self.host_loss[target]:
            return
        rtt_ms = path.rtt_ms
        if path.jitter_ms:
            rtt_ms = max(0.0, rtt_ms + self.rng.uniform(-path.jitter_ms, path.jitter_ms))
        self._n += 1
        heapq.heappush(
            self._pending,
            (now + rtt_ms / 1e3, self._n, sock, token, target, int(now * 1e9)),
        )

    def deliver(self, sink: AnswerSink) -> int:
        """Answers every probe whose RTT has elapsed; returns how many."""
        now = self.clock()
        n = 0
        while self._pending and self._pending[0][0] <= now:
            at, _, sock, token, target, tx_ns = heapq.heappop(self._pending)
            sink.tx_stamps(1)
            sink.answer(sock, token, target, int(at * 1e9), wire.REPLY, target, 64, tx_ns)
            n += 1
        return n

    def run(self, prober: _Ticking, seconds: float, step: float = 0.001) -> None:
        """Advances the clock by ``seconds``, answering and ticking every ``step``."""
        clock = self.clock
        if not isinstance(clock, FakeClock):
            raise TypeError("run() drives a FakeClock; this network follows another clock")
        end = clock.now + seconds
        while clock.now < end:
            clock.now = round(clock.now + step, 9)
            self.deliver(prober.engine)
            prober.tick()


class FakeProber(Prober):
    """A real :class:`Prober` measuring a :class:`FakeNetwork` in real time.

    Everything but the sockets is the product's own (scheduling, targets, statistics,
    snapshots, rollups); set the paths' behaviour on :attr:`network`, e.g.
    ``prober.network.set_path("isp1", rtt_ms=20, loss=0.1)``."""

    def __init__(
        self,
        config: ProbeConfig,
        providers: list[ProviderConfig] | list[tuple[str, Steering]],
        *,
        sink: RollupSink | None = None,
        seed: int = 1,
    ) -> None:
        names = [p[0] if isinstance(p, tuple) else p.name for p in providers]
        self.network = FakeNetwork(time.time, seed=seed, names=names)
        super().__init__(config, providers, sink=sink, transport=self.network, clock=time.time)
        self._delivery: asyncio.Task | None = None

    async def start(self) -> None:
        await super().start()
        if self._tasks and self._delivery is None:
            self._delivery = asyncio.create_task(self._deliver(), name="fake-probe-network")

    async def stop(self) -> None:
        if self._delivery is not None:
            self._delivery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._delivery
            self._delivery = None
        await super().stop()

    async def _deliver(self) -> None:
        """What the kernel does for real sockets: answers reach the engine as they are due."""
        while True:
            await asyncio.sleep(0.001)
            self.network.deliver(self.engine)
