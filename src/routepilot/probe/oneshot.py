"""One-off measurements for the command line: probe addresses through providers, traceroute.

These use the same engine and sockets as the daemon; only the scheduling is
simpler: ``count`` probes per (address, provider), ``interval_s`` apart, all
paths interleaved so they see the same moment of the network.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field

import numpy as np

from routepilot.probe import wire
from routepilot.probe.engine import KernelTransport, Probe, ProbeEngine, Transport
from routepilot.probe.sockets import SocketOptions, Steering
from routepilot.probe.stats import Summary, rfc3550_jitter, summarize


@dataclass
class PathResult:
    """Everything one (address, provider) pair answered."""

    target: str
    provider: str
    kind: str
    sent: int = 0
    rtts_ms: list[float] = field(default_factory=list)
    unreachable: int = 0
    responders: set[str] = field(default_factory=set)

    def summary(self) -> Summary:
        arr = np.asarray(self.rtts_ms, dtype=np.float64)
        return summarize(arr, self.sent, rfc3550_jitter(arr) if arr.size > 1 else math.nan)


async def _run(engine: ProbeEngine, pending: set[int], end_hint: float) -> None:
    """Expires probes and waits until none is in flight."""
    while engine.inflight or pending:
        engine.expire()
        await asyncio.sleep(0.005)
        if time.monotonic() > end_hint:
            break


async def measure(
    targets: list[str],
    providers: list[tuple[str, Steering]],
    kind: str = "icmp",
    count: int = 5,
    interval_s: float = 0.2,
    timeout_s: float = 1.0,
    options: SocketOptions | None = None,
    transport: Transport | None = None,
) -> list[PathResult]:
    """Probes every target through every provider ``count`` times; results in that order."""
    loop = asyncio.get_running_loop()
    engine = ProbeEngine(
        transport or KernelTransport(options or SocketOptions()),
        providers,
        timeout_s,
        loop=loop,
    )
    results = {
        (t, p): PathResult(t, name, kind) for t in targets for p, (name, _) in enumerate(providers)
    }

    def done(probe: Probe, status: int, rtt_ns: int, responder: str, ttl: int) -> None:
        res = results[probe.tag]
        if status == wire.REPLY:
            res.rtts_ms.append(rtt_ns / 1e6)
            res.responders.add(responder)
        elif status != wire.LOST:
            res.unreachable += 1
            res.responders.add(responder)

    try:
        for t in targets:
            for p in range(len(providers)):
                engine.socket_for(p, kind, _family(t))
        for i in range(count):
            if i:
                await asyncio.sleep(interval_s)
            for key, res in results.items():
                if engine.send(key[1], kind, key[0], done, tag=key):
                    res.sent += 1
                engine.expire()
        await _run(engine, set(), time.monotonic() + timeout_s + 1.0)
    finally:
        engine.close()
    return list(results.values())


@dataclass
class Hop:
    ttl: int
    responder: str | None
    rtts_ms: list[float]
    reached: bool


async def traceroute(
    target: str,
    provider: tuple[str, Steering],
    kind: str = "icmp",
    max_hops: int = 30,
    per_hop: int = 3,
    timeout_s: float = 1.0,
    options: SocketOptions | None = None,
    transport: Transport | None = None,
) -> list[Hop]:
    """TTL-limited probes through one provider, all hops at once, until the target answers."""
    loop = asyncio.get_running_loop()
    engine = ProbeEngine(
        transport or KernelTransport(options or SocketOptions()), [provider], timeout_s, loop=loop
    )
    hops = {ttl: Hop(ttl, None, [], False) for ttl in range(1, max_hops + 1)}

    def done(probe: Probe, status: int, rtt_ns: int, responder: str, _ttl: int) -> None:
        hop = hops[probe.tag]
        if status == wire.LOST:
            return
        hop.responder = responder
        hop.rtts_ms.append(rtt_ns / 1e6)
        hop.reached = hop.reached or status == wire.REPLY

    try:
        for _ in range(per_hop):
            for ttl in range(1, max_hops + 1):
                engine.send(0, kind, target, done, tag=ttl, ttl=ttl)
            await asyncio.sleep(0.01)
        await _run(engine, set(), time.monotonic() + timeout_s + 1.0)
    finally:
        engine.close()
    out: list[Hop] = []
    for ttl in range(1, max_hops + 1):
        out.append(hops[ttl])
        if hops[ttl].reached:
            break
    return out


def _family(address: str) -> int:
    from routepilot.probe.sockets import family_of

    return family_of(address)
