"""Measurements an operator asks for by hand: probe an address through the providers now,
or traceroute it through one, to check a decision (``POST /api/v1/probe``, ``/traceroute``).

They are real packets leaving the controller, so three things hold them in:

- **Scope** (the safety gate): one literal IP address (never a name, a prefix or a zone),
  inside a prefix the routers announced to routepilot (the learned RIB, by longest match)
  or a configured ``probe.on_demand.allowed`` range, and never a multicast, broadcast,
  loopback, link-local, unspecified or reserved address, nor an IPv4-mapped IPv6 one.
  Through a learned prefix, only the providers with a route for it are probed.
- **Rate**: per caller and for everyone in a sliding minute, and a few at once; beyond
  that a :class:`Refused` with status 429 and the seconds to wait.
- **Isolation**: each request runs its own engine and sockets (``probe/oneshot.py``),
  steered like the daemon's probes, and hands its numbers to the caller only. Nothing
  reaches the prober's per-path statistics, its rollups or the decision loop; the
  daemon's sockets drop the answers, whose identifier and token are not theirs.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

from routepilot.config.probe import ProbeConfig
from routepilot.log import get_logger
from routepilot.metrics import Metric, StageMetrics, counter
from routepilot.probe.oneshot import Hop, PathResult, measure, traceroute
from routepilot.probe.sockets import KINDS, ProbeSetupError, SocketOptions, Steering
from routepilot.view import ActionError

log = get_logger(__name__)

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
Route = tuple[str, tuple[str, ...]]
"""The longest learned prefix covering an address, and the providers with a path for it."""
RouteOf = Callable[[str], "Route | None"]
MeasureFn = Callable[..., Awaitable[list[PathResult]]]
"""``oneshot.measure``'s signature: (targets, providers, kind, count, interval, timeout,
options)."""
TraceFn = Callable[..., Awaitable[list[Hop]]]
"""``oneshot.traceroute``'s signature: (target, provider, kind, max hops, per hop, timeout,
options)."""

T = TypeVar("T")
WINDOW_S = 60.0
_LIMITED_BROADCAST = ipaddress.IPv4Address("255.255.255.255")


class Refused(ActionError):
    """A request refused, with the HTTP status to answer; ``retry_after_s`` for a 429."""

    def __init__(self, message: str, status: int, retry_after_s: int | None = None) -> None:
        super().__init__(message, status)
        self.retry_after_s = retry_after_s


# -- scope: the safety gate ------------------------------------------------------------------


def parse_address(raw: object) -> IP:
    """One literal IPv4 or IPv6 address; a name, a prefix, a zone or junk is refused (400)."""
    if not isinstance(raw, str) or not raw.strip() or len(raw) > 64:
        raise Refused("address: expected one IPv4 or IPv6 address such as 198.18.3.7", 400)
    text = raw.strip()
    shown = text[:64]
    if "/" in text:
        raise Refused(
            f"address {shown!r} is a prefix: give one address inside it (e.g. its first host)",
            400,
        )
    if "%" in text:
        raise Refused(f"address {shown!r} has a zone: link-local addresses are never probed", 400)
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise Refused(
            f"address {shown!r} is not an IP address: give an address, never a name "
            "(routepilot resolves no names for a probe)",
            400,
        ) from None


def forbidden(ip: IP) -> str | None:
    """Why ``ip`` is never probed, whatever the ranges say; None when it may be."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return f"an IPv4-mapped IPv6 address (probe {ip.ipv4_mapped} itself)"
    checks = (
        (ip.is_multicast, "a multicast address"),
        (ip == _LIMITED_BROADCAST, "the broadcast address"),
        (ip.is_unspecified, "the unspecified address"),
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_reserved, "a reserved address"),
    )
    return next((why for bad, why in checks if bad), None)


@dataclass(frozen=True)
class Scope:
    """Where an address is allowed: the range that covers it and the providers it may be
    probed through (None: any provider, for a configured range without a learned route)."""

    prefix: str
    source: str
    """``learned`` (a prefix in the RIB) or ``allowed`` (``probe.allowed_ranges`` or
    ``probe.on_demand.allowed``)."""
    providers: tuple[str, ...] | None


def scope_of(ip: IP, route_of: RouteOf, allowed: Sequence[str]) -> Scope:
    """The scope ``ip`` is probed in, or Refused 403 saying why it may not be."""
    why = forbidden(ip)
    if why is not None:
        raise Refused(f"{ip} is {why}: never probed", 403)
    route = route_of(f"{ip}/{ip.max_prefixlen}")
    if route is not None and route[1]:
        prefix, providers = route
        net = ipaddress.ip_network(prefix)
        if net.version == 4 and net.prefixlen <= 30 and ip == net.broadcast_address:
            raise Refused(f"{ip} is the broadcast address of {prefix}: never probed", 403)
        return Scope(prefix, "learned", providers)
    for r in allowed:
        net = ipaddress.ip_network(r)
        if ip.version == net.version and ip in net:
            if net.version == 4 and net.prefixlen <= 30 and ip == net.broadcast_address:
                raise Refused(f"{ip} is the broadcast address of {r}: never probed", 403)
            return Scope(str(net), "allowed", None)
    extra = f" or in the allowed ranges ({', '.join(allowed)})" if allowed else ""
    raise Refused(
        f"{ip} is outside what routepilot may probe: no prefix learned from the routers "
        f"covers it{extra}",
        403,
    )


# -- rate ----------------------------------------------------------------------------------


class Limiter:
    """Requests per caller and overall in a sliding minute, and how many run at once."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.by_caller: dict[str, deque[float]] = {}
        self.everyone: deque[float] = deque()
        self.running: dict[int, float] = {}
        """Ticket -> when it is expected to end."""
        self._next = 0

    def admit(
        self, caller: str, per_caller: int, overall: int, at_once: int, takes_s: float
    ) -> int:
        """A ticket for a measurement expected to take ``takes_s``; Refused 429 when over."""
        now = self.clock()
        self._forget(now)
        if len(self.running) >= at_once:
            wait = min(self.running.values()) - now
            raise Refused(
                f"{len(self.running)} on-demand measurements are running (at most {at_once} "
                "at once, probe.on_demand.concurrent): retry when one is done",
                429,
                _seconds(wait),
            )
        mine = self.by_caller.get(caller, deque())
        if len(mine) >= per_caller:
            raise Refused(
                f"{caller} made {len(mine)} on-demand requests in the last minute (at most "
                f"{per_caller}, probe.on_demand.per_user_per_minute)",
                429,
                _seconds(mine[0] + WINDOW_S - now),
            )
        if len(self.everyone) >= overall:
            raise Refused(
                f"{len(self.everyone)} on-demand requests in the last minute (at most "
                f"{overall} for everyone, probe.on_demand.per_minute)",
                429,
                _seconds(self.everyone[0] + WINDOW_S - now),
            )
        self.by_caller.setdefault(caller, mine).append(now)
        self.everyone.append(now)
        self._next += 1
        self.running[self._next] = now + takes_s
        return self._next

    def release(self, ticket: int) -> None:
        self.running.pop(ticket, None)

    def _forget(self, now: float) -> None:
        horizon = now - WINDOW_S
        while self.everyone and self.everyone[0] <= horizon:
            self.everyone.popleft()
        for who in list(self.by_caller):
            times = self.by_caller[who]
            while times and times[0] <= horizon:
                times.popleft()
            if not times:
                del self.by_caller[who]


def _seconds(s: float) -> int:
    return max(1, math.ceil(s))


# -- the service -------------------------------------------------------------------------


class OnDemandMetrics(StageMetrics):
    def __init__(self) -> None:
        self.requests: dict[tuple[str, str], int] = {}
        self.probes_sent: dict[str, int] = {}

    def count(self, what: str, outcome: str) -> None:
        self.requests[what, outcome] = self.requests.get((what, outcome), 0) + 1

    def collect(self) -> Iterator[Metric]:
        yield counter(
            "routepilot_ondemand_requests_total",
            "On-demand measurements asked for, by endpoint and outcome (ok, refused, "
            "rate_limited, failed).",
            labels=("endpoint", "outcome"),
            values=self.requests,
        )
        yield counter(
            "routepilot_ondemand_probes_sent_total",
            "Probes sent for on-demand measurements (never counted in the prober's).",
            labels=("provider",),
            values=self.probes_sent,
        )


class OnDemand:
    """Probes and traceroutes asked for by hand; see the module docstring.

    ``settings`` and ``providers`` are read at each request (a reload applies at once):
    the ``probe`` section and every provider's (name, steering), the daemon's own.
    ``route_of`` is the learned RIB's longest match, ``asn_of`` a hop's AS by it.
    """

    def __init__(
        self,
        settings: Callable[[], ProbeConfig],
        providers: Callable[[], Sequence[tuple[str, Steering]]],
        route_of: RouteOf,
        asn_of: Callable[[str], int | None],
        *,
        measure_fn: MeasureFn = measure,
        trace_fn: TraceFn = traceroute,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.providers = providers
        self.route_of = route_of
        self.asn_of = asn_of
        self.measure_fn = measure_fn
        self.trace_fn = trace_fn
        self.wall = wall
        self.limiter = Limiter(clock)
        self.metrics = OnDemandMetrics()

    # -- checks shared by both -------------------------------------------------------------

    def _config(self) -> ProbeConfig:
        cfg = self.settings()
        if not cfg.enabled:
            raise Refused("probing is disabled on this controller (probe.enabled is false)", 409)
        if not cfg.on_demand.enabled:
            raise Refused("on-demand measurements are turned off (probe.on_demand.enabled)", 409)
        return cfg

    def _paths(
        self, ip: IP, scope: Scope, names: Sequence[str] | None
    ) -> list[tuple[str, Steering]]:
        """The providers to probe through, in configuration order; Refused when one asked
        for is unknown, has no route for the address or no source of its family."""
        known = dict(self.providers())
        if names is not None:
            for n in names:
                if n not in known:
                    raise Refused(
                        f"unknown provider {n!r} (known: {', '.join(known) or 'none'})", 404
                    )
                if scope.providers is not None and n not in scope.providers:
                    raise Refused(
                        f"{n} has no route for {ip} ({scope.prefix}): probes through it would "
                        f"go nowhere (routed by: {', '.join(scope.providers)})",
                        409,
                    )
        wanted = set(names) if names is not None else set(scope.providers or known)
        out = [(n, s) for n, s in known.items() if n in wanted]
        if not out:
            raise Refused(f"no provider has a route for {ip} ({scope.prefix})", 409)
        family = 4 if ip.version == 4 else 6
        for n, s in out:
            steered = s.mark is not None or s.interface
            has_any = s.source or s.source6 or steered
            if has_any and not steered and not (s.source if family == 4 else s.source6):
                key = "probe.source" if family == 4 else "probe.source6"
                raise Refused(
                    f"{n} has no IPv{family} source address ({key}) to probe {ip} through", 409
                )
        return out

    def _check(
        self, address: object, names: Sequence[str] | None, kind: str
    ) -> tuple[ProbeConfig, IP, Scope, list[tuple[str, Steering]]]:
        cfg = self._config()
        if kind not in KINDS:
            raise Refused(f"unknown kind {kind!r} (use icmp, tcp or udp)", 400)
        ip = parse_address(address)
        # What the prober may touch (probe.allowed_ranges) and what only an operator may.
        scope = scope_of(ip, self.route_of, [*cfg.allowed_ranges, *cfg.on_demand.allowed])
        return cfg, ip, scope, self._paths(ip, scope, names)

    async def _run(self, what: str, caller: str, takes_s: float, work: Awaitable[T]) -> T:
        cfg = self.settings().on_demand
        try:
            ticket = self.limiter.admit(
                caller, cfg.per_user_per_minute, cfg.per_minute, cfg.concurrent, takes_s
            )
        except Refused:
            self.metrics.count(what, "rate_limited")
            close = getattr(work, "close", None)
            if close is not None:
                close()
            raise
        try:
            result = await work
        except ProbeSetupError as exc:
            self.metrics.count(what, "failed")
            log.error("on-demand measurement cannot start", endpoint=what, error=str(exc))
            raise Refused(f"cannot probe from this controller: {exc}", 409) from None
        finally:
            self.limiter.release(ticket)
        self.metrics.count(what, "ok")
        return result

    # -- the two requests ------------------------------------------------------------------

    async def probe(
        self,
        caller: str,
        address: object,
        providers: Sequence[str] | None = None,
        kind: str = "icmp",
        count: int = 10,
    ) -> dict:
        """``count`` probes to ``address`` through each provider, side by side."""
        try:
            cfg, ip, scope, paths = self._check(address, providers, kind)
        except Refused:
            self.metrics.count("probe", "refused")
            raise
        od = cfg.on_demand
        if not 1 <= count <= od.max_count:
            self.metrics.count("probe", "refused")
            raise Refused(f"count {count}: between 1 and {od.max_count} (on_demand.max_count)", 400)
        # Every provider's probe reaches the same address: together they stay within the
        # politeness cap, as the daemon's do.
        interval = max(od.interval_s, len(paths) / cfg.per_target_rate)
        takes = (count - 1) * interval + od.timeout_s
        if takes > od.max_duration_s:
            fits = int((od.max_duration_s - od.timeout_s) / interval) + 1
            self.metrics.count("probe", "refused")
            raise Refused(
                f"count {count} through {len(paths)} providers takes {takes:.0f} s at "
                f"{interval:.2f} s between probes (probe.per_target_rate "
                f"{cfg.per_target_rate:g}/s); at most {max(1, fits)} fit in "
                f"probe.on_demand.max_duration_s {od.max_duration_s:g}",
                400,
            )
        opts = SocketOptions(cfg.tcp_port, cfg.udp_port, cfg.payload_bytes)
        target = str(ip)
        started = self.wall()
        work = self.measure_fn([target], paths, kind, count, interval, od.timeout_s, opts)
        results = await self._run("probe", caller, takes, work)
        rows = []
        for r in results:
            s = r.summary().as_dict()
            self.metrics.probes_sent[r.provider] = (
                self.metrics.probes_sent.get(r.provider, 0) + r.sent
            )
            rows.append({
                "provider": r.provider, "sent": r.sent, "answered": s["answered"],
                "unreachable": r.unreachable, "loss": s["loss"], "loss_low": s["loss_low"],
                "loss_high": s["loss_high"], "rtt_min_ms": s["rtt_min_ms"],
                "rtt_median_ms": s["rtt_median_ms"], "rtt_p90_ms": s["rtt_p90_ms"],
                "rtt_max_ms": s["rtt_max_ms"], "jitter_ms": s["jitter_ms"],
                "responders": sorted(r.responders),
            })  # fmt: skip
        log.info("on-demand probe", caller=caller, address=target, kind=kind, count=count)
        return {
            "address": target, "kind": kind, "count": count, "interval_s": round(interval, 4),
            "prefix": scope.prefix, "scope": scope.source, "time": started, "results": rows,
        }  # fmt: skip

    async def traceroute(
        self, caller: str, address: object, provider: str, kind: str = "icmp"
    ) -> dict:
        """A traceroute to ``address`` through ``provider``, each hop with its AS."""
        try:
            cfg, ip, scope, paths = self._check(address, [provider], kind)
        except Refused:
            self.metrics.count("traceroute", "refused")
            raise
        od = cfg.on_demand
        opts = SocketOptions(cfg.tcp_port, cfg.udp_port, cfg.payload_bytes)
        target = str(ip)
        started = self.wall()
        work = self.trace_fn(target, paths[0], kind, od.max_hops, od.queries, od.timeout_s, opts)
        hops = await self._run("traceroute", caller, od.timeout_s + 1.0, work)
        out = []
        for h in hops:
            rtts = [round(r, 3) for r in h.rtts_ms]
            out.append({
                "ttl": h.ttl, "responder": h.responder,
                "asn": self.asn_of(h.responder) if h.responder else None,
                "rtts_ms": rtts, "loss": 1.0 - min(1.0, len(rtts) / od.queries),
                "reached": h.reached,
            })  # fmt: skip
        self.metrics.probes_sent[provider] = (
            self.metrics.probes_sent.get(provider, 0) + od.max_hops * od.queries
        )
        reached = any(h["reached"] for h in out)
        log.info("on-demand traceroute", caller=caller, address=target, provider=provider)
        return {
            "address": target, "provider": provider, "kind": kind, "prefix": scope.prefix,
            "scope": scope.source, "time": started, "reached": reached, "hops": out,
        }  # fmt: skip
