"""Configuration of the prober (probe/)."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from routepilot.config.base import StrictModel


def _network(value: str) -> str:
    return str(ipaddress.ip_network(value, strict=True))


def _address(value: str) -> str:
    return str(ipaddress.ip_address(value))


class OnDemandConfig(StrictModel):
    """Measurements an operator asks for by hand (``POST /api/v1/probe`` and
    ``/api/v1/traceroute``, the dashboard's "Probe now" and "Traceroute" buttons).

    They are real packets, so they are held to a scope: an address inside a prefix the
    routers announced to routepilot (the learned RIB), inside ``probe.allowed_ranges`` or
    inside ``allowed``, never anything else, and never a multicast, broadcast, loopback,
    link-local, unspecified or reserved address. Their results go to the caller only, never
    into the decision loop's measurements. They need ``probe.enabled`` like every probe."""

    enabled: bool = True
    """Take on-demand measurements at all (with ``probe.enabled``)."""
    allowed: list[Annotated[str, AfterValidator(_network)]] = Field(default_factory=list)
    """Prefixes on-demand measurements may reach besides the learned RIB's (e.g. a lab
    range without routes). Empty: the learned RIB's prefixes only."""
    per_user_per_minute: int = Field(10, ge=1, le=10_000)
    """Requests one caller (user or token) may make in a minute; more are refused with
    429 and Retry-After."""
    per_minute: int = Field(30, ge=1, le=100_000)
    """Requests all callers together may make in a minute."""
    concurrent: int = Field(2, ge=1, le=64)
    """Measurements running at once; another request meanwhile is refused with 429."""
    max_count: int = Field(100, ge=1, le=100)
    """Most probes per provider a request may ask for."""
    interval_s: float = Field(0.1, gt=0, le=10)
    """Shortest gap between two probes of a request to one address through one provider;
    longer when ``per_target_rate`` needs it (every provider's probes count)."""
    timeout_s: float = Field(1.0, gt=0, le=10)
    """How long to wait for each answer."""
    max_duration_s: float = Field(30.0, ge=1, le=300)
    """Longest a probe request may take (count x pacing); a longer one is refused with the
    count that fits."""
    max_hops: int = Field(30, ge=1, le=64)
    """A traceroute's last TTL."""
    queries: int = Field(3, ge=1, le=10)
    """Probes per hop of a traceroute."""


class ProbeConfig(StrictModel):
    """How hard and how often routepilot measures. Nothing is probed unless enabled."""

    enabled: bool = False
    """Probe at all. Off by default: routepilot probes nothing until configured to."""
    process: bool = True
    """Probe from a process of its own, on another core than the daemon's event loop
    (sending and timing probes was a third of that loop's time in the soak); ``false``
    probes from the daemon's process."""
    kind: Literal["icmp", "tcp", "udp"] = "icmp"
    """Default probe kind."""
    fallback_kinds: list[Literal["icmp", "tcp", "udp"]] = Field(default_factory=list)
    """Kinds tried, in order, on a candidate target that does not answer ``kind`` (many hosts
    drop ICMP but answer a TCP SYN to ``tcp_port``); each target is then probed with the kind
    it answered."""
    tcp_port: int = Field(80, ge=1, le=65535)
    """Destination port of TCP SYN probes."""
    udp_port: int = Field(33434, ge=1, le=65535)
    """Destination port of UDP probes (a closed high port answers ICMP port unreachable)."""
    max_rate: float = Field(1000.0, gt=0, le=1_000_000)
    """Global cap on probes per second, a hard limit."""
    max_burst: float = Field(0.0, ge=0)
    """Probes the global cap lets out at once; 0 means 20 ms worth of ``max_rate``."""
    per_target_rate: float = Field(5.0, gt=0)
    """Politeness cap: probes per second to one address, all providers together."""
    per_target_burst: float = Field(10.0, ge=1)
    """Probes one address may receive back to back before the politeness cap applies."""
    interval_s: float = Field(1.0, gt=0)
    """Probe interval of the current exit of the busiest prefixes."""
    exit_interval_s: float = Field(2.0, gt=0)
    """Probe interval of the current exit of the other prefixes."""
    alternative_interval_s: float = Field(5.0, gt=0)
    """Probe interval of alternative providers."""
    vip_interval_s: float = Field(1.0, gt=0)
    """Probe interval of every provider's path to a VIP prefix (a ``vip`` rule), with or
    without traffic."""
    busy_prefixes: int = Field(100, ge=0)
    """How many of the busiest prefixes get ``interval_s`` on their current exit."""
    max_prefixes: int = Field(10_000, ge=1)
    """Prefixes measured at most, busiest first."""
    train_size: int = Field(3, ge=1, le=100)
    """Probes per round on one path, ``train_spacing_s`` apart, to estimate loss."""
    train_spacing_s: float = Field(0.05, ge=0)
    """Gap between the probes of a train."""
    jitter: float = Field(0.1, ge=0, lt=1)
    """Random spread of each interval (fraction), so probes do not arrive in lockstep."""
    class_weights: tuple[int, int, int] = (16, 4, 1)
    """Share of a saturated rate cap for busy exits, other exits and alternatives."""
    retry_losses: int = Field(1, ge=0)
    """Retry probing: this many probes lost on one path within ``retry_hold_s`` make
    routepilot probe that prefix through every provider ``retry_factor`` times as often
    (and ahead of other paths when the rate cap binds) until ``retry_hold_s`` passes
    without a loss, so that a brownout is proven or dismissed in seconds instead of
    waiting for a slow window to fill. 0 turns it off."""
    retry_factor: float = Field(16.0, ge=1)
    """How many times faster a prefix under retry is probed (the politeness cap,
    ``per_target_rate``, still applies: a high factor means "as fast as it allows")."""
    retry_hold_s: float = Field(10.0, gt=0)
    """How long retry probing lasts after the last loss that started or extended it."""
    retry_max_prefixes: int = Field(64, ge=0)
    """Prefixes under retry probing at once at most (a provider-wide event does not
    multiply the probe rate of every prefix); past it, losses are counted and skipped."""
    retry_spread_ms: float = Field(10.0, ge=0)
    """Retry on spread: a target whose RTT spread through one provider reaches this many ms
    (and ``retry_spread_ratio`` of its median RTT) puts its prefix under retry probing, with
    trains ``retry_train_factor`` times as long, and decide/ makes no loss or latency move
    on the prefix until every provider's longer train is back (an outage move never
    waits). The spread is the p90 - p10 of the target's last ``qualify_samples`` RTTs,
    estimated as 2.7 times the median difference between successive RTTs (the two agree
    for a normal or a uniform spread), so that a step in the path's delay (a reroute, a
    new impairment) is one difference and not a spread. 0 turns it off."""
    retry_spread_ratio: float = Field(0.25, ge=0)
    """The spread that starts retry probing is also at least this fraction of the
    target's median RTT (a 10 ms spread matters on a 5 ms path, not on a 300 ms one)."""
    retry_train_factor: int = Field(2, ge=1, le=10)
    """How many times longer the trains of a prefix under retry on spread are."""
    qualify: bool = True
    """Host qualification: a target that loses ``qualify_loss`` of its probes through
    every provider, or whose RTT spread is wide (``retry_spread_ms``) through every
    provider, while a sibling address of the same prefix answers well through the same
    providers, is replaced by another address (counted by cause in
    ``routepilot_probe_targets_disqualified_total``). A loss on one provider only is the
    path's, and when every address answers badly the path is bad: neither replaces a
    target."""
    qualify_samples: int = Field(20, ge=8, le=1000)
    """Results per target and provider that qualification judges (and the spread is
    taken over); a target is judged once it has this many through each provider."""
    qualify_loss: float = Field(0.2, gt=0, lt=1)
    """Loss ratio through every provider that disqualifies a target, when it is
    significantly more than a sibling's (Wilson 99% intervals over the same providers)."""
    timeout_s: float = Field(1.5, gt=0)
    """How long to wait for an answer before counting a probe lost. With the default
    interval and train, a blackhole is flagged within interval + train + timeout < 3 intervals."""
    window_s: float = Field(60.0, gt=0)
    """Window of the statistics handed to decide/."""
    rollup_s: int = Field(60, ge=1, le=60)
    """Length of the stored rollups of every path (a divisor of 60, so that a minute is
    whole rollups): the finest resolution of the charts, the measurements API and the
    report. Shorter rollups resolve a short event better and store more rows (one per
    path and rollup). A change needs a restart."""
    outage_losses: int = Field(3, ge=1)
    """Consecutive losses that flag a path as down."""
    targets_per_prefix: int = Field(3, ge=1, le=64)
    """How many live addresses are kept per prefix."""
    targets: list[Annotated[str, AfterValidator(_address)]] = Field(default_factory=list)
    """Configured targets, used in the prefix that contains each one; that prefix is
    measured through every provider with a route even when no flow shows traffic to it."""
    host_offsets: list[Annotated[int, Field(ge=1)]] = Field(default_factory=lambda: [1])
    """Host numbers tried inside a prefix when neither flows nor ``targets`` give an address
    (1 = the prefix's first address, e.g. 198.18.3.1 in 198.18.3.0/24); [] to probe only
    addresses learned from flows or listed in ``targets``."""
    retry_unprobeable_s: float = Field(600.0, gt=0)
    """How long an address that failed verification rests before it is tried again."""
    allowed_ranges: list[Annotated[str, AfterValidator(_network)]] = Field(default_factory=list)
    """Configured ranges probing may touch besides learned prefixes."""
    payload_bytes: int = Field(0, ge=0, le=1400)
    """Extra zero bytes in ICMP and UDP probes (after the 8-byte token)."""
    tick_s: float = Field(0.004, gt=0, le=0.1)
    """How often, at most, the sender wakes to send what is due: a probe leaves up to this
    long after it falls due (its RTT is timed by the kernel's stamps, and its path's cycle
    planned from when it fell due, so neither moves). Each wake costs the same whatever it
    sends: at 25k probes/s, 4 ms sends about 100 a wake, in two sendmmsg calls, at three
    quarters of the CPU of waking every millisecond (docs/performance.md)."""
    on_demand: OnDemandConfig = Field(default_factory=OnDemandConfig)
    """Measurements asked for by hand through the API and the dashboard."""

    @model_validator(mode="after")
    def _rollup(self) -> ProbeConfig:
        if 60 % self.rollup_s:
            raise ValueError(
                f"rollup_s {self.rollup_s}: expected a divisor of 60 "
                "(1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30 or 60), so a minute is whole rollups"
            )
        return self

    @model_validator(mode="after")
    def _intervals(self) -> ProbeConfig:
        if not self.interval_s <= self.exit_interval_s <= self.alternative_interval_s:
            raise ValueError(
                "expected interval_s <= exit_interval_s <= alternative_interval_s "
                "(busy exits are probed fastest)"
            )
        return self
