"""Traceroutes through one provider for the daemon, each hop mapped to its AS.

The engine is the prober's own (``oneshot.traceroute``): TTL-limited probes on the
same kernel sockets, steered through a provider by the same source address, mark or
interface as the measurements, with kernel timestamps. A library (scapy, or running
``scamper``/``traceroute``) would need its own steering per provider and a process or
a heavy import per trace; this one already steers and parses every answer kind.

Hops are mapped to ASNs by the caller's ``asn_of`` (the learned RIB's longest match,
see diagnose/paths.py), and each (prefix, provider)'s newest traces are kept with their
time (diagnose/ stores them too, and restores them after a restart).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from routepilot.config.models import ProviderConfig
from routepilot.log import get_logger
from routepilot.probe.oneshot import Hop, traceroute
from routepilot.probe.sockets import ProbeSetupError, Steering

log = get_logger(__name__)

TraceFn = Callable[[str, tuple[str, Steering], str, int, int, float], Awaitable[list[Hop]]]
"""(target, (provider, steering), kind, max hops, probes per hop, timeout) -> hops."""


@dataclass(frozen=True)
class TraceHop:
    ttl: int
    address: str | None
    """Who answered (None: nobody, a ``*``)."""
    asn: int | None
    """The AS the address belongs to by the RIB's longest match (None: not routed)."""
    rtt_ms: float | None
    loss: float
    """Share of this hop's probes without an answer."""

    def as_dict(self) -> dict:
        return {"ttl": self.ttl, "address": self.address, "asn": self.asn,
                "rtt_ms": self.rtt_ms, "loss": self.loss}  # fmt: skip

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> TraceHop:
        return TraceHop(
            int(d["ttl"]),
            None if d.get("address") is None else str(d["address"]),
            None if d.get("asn") is None else int(d["asn"]),
            None if d.get("rtt_ms") is None else float(d["rtt_ms"]),
            float(d["loss"]),
        )


@dataclass(frozen=True)
class PathTrace:
    """One traceroute of a prefix through one provider."""

    prefix: str
    provider: str
    target: str
    time: float
    hops: tuple[TraceHop, ...]
    reached: bool

    def as_dict(self) -> dict:
        return {
            "prefix": self.prefix,
            "provider": self.provider,
            "target": self.target,
            "time": self.time,
            "reached": self.reached,
            "asns": list(self.asns()),
            "hops": [h.as_dict() for h in self.hops],
        }

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> PathTrace:
        """The trace of :meth:`as_dict` (as stored); KeyError or ValueError if malformed."""
        return PathTrace(
            str(d["prefix"]),
            str(d["provider"]),
            str(d["target"]),
            float(d["time"]),
            tuple(TraceHop.from_dict(h) for h in d["hops"]),
            bool(d["reached"]),
        )

    def asns(self) -> tuple[int, ...]:
        """The ASes the path crosses, in order, each once."""
        out: list[int] = []
        for h in self.hops:
            if h.asn is not None and h.asn not in out:
                out.append(h.asn)
        return tuple(out)


TRACES_KEPT = 10
"""Traces kept per (prefix, provider): at least the last ten minutes of a path traced
at ``diagnose.trace_every_s``'s shortest default spacing (60 s)."""


class Tracer:
    """Runs traceroutes through the providers, a few at a time, and keeps the newest."""

    def __init__(
        self,
        providers: Sequence[tuple[str, Steering]],
        asn_of: Callable[[str], int | None],
        *,
        max_hops: int = 16,
        per_hop: int = 2,
        timeout_s: float = 1.0,
        concurrency: int = 4,
        clock: Callable[[], float] = time.time,
        trace_fn: TraceFn | None = None,
    ) -> None:
        self.steering = dict(providers)
        self.asn_of = asn_of
        self.max_hops = max_hops
        self.per_hop = per_hop
        self.timeout_s = timeout_s
        self.clock = clock
        self._trace_fn = trace_fn or _kernel_trace
        self._slots = asyncio.Semaphore(concurrency)
        self.latest: dict[tuple[str, str], PathTrace] = {}
        self.history: dict[tuple[str, str], deque[PathTrace]] = {}
        """The newest ``TRACES_KEPT`` traces per (prefix, provider), oldest first."""
        self.running: set[tuple[str, str]] = set()
        self.traces_total = 0
        self.errors_total = 0

    @staticmethod
    def of_providers(providers: Sequence[ProviderConfig]) -> list[tuple[str, Steering]]:
        from routepilot.probe.component import steering_of

        return [(p.name, steering_of(p)) for p in providers]

    async def trace(self, prefix: str, provider: str, target: str) -> PathTrace | None:
        """Traces ``target`` (an address in ``prefix``) through ``provider``; None when the
        provider is unknown or the trace failed (counted, logged)."""
        steering = self.steering.get(provider)
        if steering is None:
            return None
        key = (prefix, provider)
        self.running.add(key)
        try:
            async with self._slots:
                hops = await self._trace_fn(
                    target, (provider, steering), "icmp", self.max_hops, self.per_hop,
                    self.timeout_s,
                )  # fmt: skip
        except (OSError, ValueError, ProbeSetupError) as exc:
            self.errors_total += 1
            log.warning("traceroute failed", prefix=prefix, provider=provider, error=repr(exc))
            return None
        finally:
            self.running.discard(key)
        out = PathTrace(
            prefix, provider, target, self.clock(), tuple(self._hop(h) for h in hops),
            any(h.reached for h in hops),
        )  # fmt: skip
        self.traces_total += 1
        self.latest[key] = out
        self.history.setdefault(key, deque(maxlen=TRACES_KEPT)).append(out)
        return out

    def restore(self, traces: Iterable[PathTrace]) -> None:
        """Takes back traces kept before a restart (the store's), for reading: each goes
        into its (prefix, provider)'s history, in time order, the newest ``TRACES_KEPT``
        kept. ``latest`` stays for the traces run since: the diagnosis reads what the
        paths cross now, not what they crossed before the restart."""
        by: dict[tuple[str, str], list[PathTrace]] = {}
        for t in traces:
            by.setdefault((t.prefix, t.provider), []).append(t)
        for key, old in by.items():
            merged = sorted([*old, *self.history.get(key, ())], key=lambda t: t.time)
            self.history[key] = deque(merged, maxlen=TRACES_KEPT)

    def traces(self, prefix: str, provider: str | None = None) -> list[PathTrace]:
        """The kept traces of ``prefix`` (through ``provider`` only, when given), newest
        first: what its paths crossed, and when."""
        out = [
            t
            for (p, k), kept in self.history.items()
            if p == prefix and (provider is None or k == provider)
            for t in kept
        ]
        return sorted(out, key=lambda t: -t.time)

    def _hop(self, h: Hop) -> TraceHop:
        rtt = sum(h.rtts_ms) / len(h.rtts_ms) if h.rtts_ms else None
        loss = 1.0 - min(1.0, len(h.rtts_ms) / self.per_hop)
        asn = self.asn_of(h.responder) if h.responder else None
        return TraceHop(
            h.ttl, h.responder, asn, None if rtt is None or math.isnan(rtt) else round(rtt, 3), loss
        )


async def _kernel_trace(
    target: str,
    provider: tuple[str, Steering],
    kind: str,
    max_hops: int,
    per_hop: int,
    timeout_s: float,
) -> list[Hop]:
    return await traceroute(target, provider, kind, max_hops, per_hop, timeout_s)
