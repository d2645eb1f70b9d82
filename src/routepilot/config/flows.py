"""Configuration of the flow collector (flows/)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Annotated

from pydantic import AfterValidator, Field

from routepilot.config.base import StrictModel


def _ip(value: str) -> str:
    return str(ipaddress.ip_address(value))


def _network(value: str) -> str:
    return str(ipaddress.ip_network(value, strict=False))


class SamplingOverride(StrictModel):
    """A fixed sampling rate for one exporter, for routers that do not export it."""

    exporter: Annotated[str, AfterValidator(_ip)]
    """Source address of the exporter's datagrams."""
    rate: int = Field(ge=1, le=2**31)
    """1-in-N packet sampling rate; volumes from this exporter are multiplied by it."""


class SynHintsConfig(StrictModel):
    """Hints from traffic: TCP connection attempts that were never answered.

    A flow record whose TCP flags (every packet of the flow ORed) have SYN and neither
    ACK nor RST is a connection attempt that never completed. Counted per destination
    prefix and provider (the provider the record left through), in unsampled records
    only: a sampled record holds some of a flow's packets, and its SYN alone says
    nothing. sFlow is sampled by design and never counts; a NetFlow/IPFIX exporter that
    samples without saying so needs its rate in ``flows.sampling_overrides``.

    A prefix is *hinted* through a provider when, over the current and the previous
    ``window_s``, its unanswered attempts through that provider reach ``min_syns``, come
    from at least ``min_sources`` distinct source addresses (so that one host's scan of
    closed ports, whose RSTs the export of that direction never sees, cannot do it), and
    are at least ``min_share`` of its attempts through that provider. A hinted prefix's
    paths through every provider with a route are probed first, at the busiest exits'
    interval, for ``hold_s``. A hint never moves anything by itself: decisions see the
    measurements the probes bring, never the hint.
    """

    enabled: bool = True
    """Count unanswered SYNs and hint prefixes."""
    window_s: float = Field(30.0, gt=0, le=3600)
    """Counting window; a hint weighs the current and the previous one."""
    min_syns: int = Field(20, ge=1)
    """Unanswered attempts (flow records) to the prefix through one provider."""
    min_sources: int = Field(3, ge=1, le=1000)
    """Distinct source addresses among those attempts."""
    min_share: float = Field(0.5, ge=0, le=1)
    """Share of the prefix's attempts (records with SYN) through that provider that
    went unanswered, counted from its first unanswered attempt in the windows on."""
    hold_s: float = Field(300.0, gt=0, le=86400)
    """How long a hinted prefix stays first in the probing order; a new hint extends it."""
    max_hinted: int = Field(100, ge=0)
    """(prefix, provider) hints in force at once at most; past it new ones are counted
    (``routepilot_flow_syn_hints_skipped_total``) and not raised."""
    max_keys: int = Field(100_000, ge=1)
    """(prefix, provider) pairs counted per window at most; beyond it the ones with the
    fewest unanswered attempts are forgotten (a SYN flood to random destinations must
    not grow memory)."""


class FlowsConfig(StrictModel):
    """Where the collector listens and how it aggregates."""

    enabled: bool = True
    """Run the collector. Without it, decisions have no traffic to weigh."""
    listen_address: str = "::"
    """Address to bind; '::' accepts IPv4 and IPv6 exports."""
    netflow_port: int = Field(2055, ge=0, le=65535)
    """UDP port for NetFlow v5/v9 (0: any free port). Every port accepts every format."""
    ipfix_port: int = Field(4739, ge=0, le=65535)
    """UDP port for IPFIX."""
    sflow_port: int = Field(6343, ge=0, le=65535)
    """UDP port for sFlow v5."""
    receive_buffer_bytes: int = Field(32 * 1024 * 1024, ge=65536)
    """Socket receive buffer; kernel drops beyond it are counted."""
    ipv4_granularity: int = Field(24, ge=8, le=32)
    """Aggregation length for IPv4 destinations when no routing table is known."""
    ipv6_granularity: int = Field(48, ge=16, le=56)
    """Aggregation length for IPv6 destinations when no routing table is known
    (at most /56: the internet filters routes longer than /48 anyway)."""
    top_n: int = Field(1000, ge=1)
    """How many busiest prefixes the snapshot carries."""
    sampling_overrides: list[SamplingOverride] = Field(default_factory=list)
    """Per-exporter sampling rates that replace whatever the export says."""
    window_s: float = Field(10.0, gt=0, le=300)
    """Aggregation window: rates are computed and smoothed once per window."""
    smoothing_s: float = Field(60.0, gt=0, le=3600)
    """Time constant of the exponential smoothing of per-prefix rates."""
    active_timeout_s: float = Field(60.0, gt=0, le=3600)
    """The exporters' active timeout: how often they report a long-lived flow. After a
    (re)start the live view is whole only once every flow has been reported, one active
    timeout and one window after the first record; until then the last stored minute of
    traffic stands in (``controller.warm_start_s``), as the first records hold some
    flows and not others, and some with the bytes of before a move."""
    batch_records: int = Field(65536, ge=1, le=4_000_000)
    """Records decoded together before aggregation (bigger is faster, later)."""
    flush_interval_s: float = Field(0.2, gt=0, le=10)
    """Longest a received datagram waits before its batch is decoded."""
    max_prefixes: int = Field(1_000_000, ge=1)
    """Cap on tracked (prefix, provider) pairs; the least busy are evicted beyond it."""
    max_exporters: int = Field(1024, ge=1)
    """Cap on distinct exporters; datagrams from more are dropped and counted."""
    max_templates: int = Field(256, ge=1)
    """Cap on templates per (exporter, observation domain); more are dropped
    (``template_cache_full``)."""
    max_templates_per_exporter: int = Field(1024, ge=1)
    """Cap on templates of one exporter over all its domains, per format; more are
    dropped (``template_cache_full``)."""
    max_templates_total: int = Field(16384, ge=1)
    """Cap on templates of every exporter together, per format; more are dropped
    (``template_cache_full``)."""
    max_domains: int = Field(4096, ge=1)
    """Cap on (exporter, observation domain) template caches, and on sFlow agents, per
    format. When it is reached, the least recently seen domain that never stored a valid
    template (an agent that never sent a readable sample) gives way; when every domain
    has one, the new domain is dropped (``domain_cache_full``)."""
    max_domains_per_exporter: int = Field(64, ge=1)
    """Cap on one exporter's domains (or sFlow agents), per format: past it, that
    exporter's own least recently seen domain without a valid template gives way, else
    the new domain is dropped (``domain_quota_full``). One source can thus fill only its
    own share of ``max_domains``."""
    exporters: list[Annotated[str, AfterValidator(_network)]] = Field(default_factory=list)
    """Networks (CIDR) allowed to send exports; datagrams from any other source are
    dropped before decoding (``not_allowed``). Empty: every source is accepted."""
    template_timeout_s: float = Field(3600.0, gt=0)
    """A template not refreshed for this long is forgotten (NetFlow v9 has no withdrawal)."""
    pending_hold_s: float = Field(10.0, ge=0, le=600)
    """How long data sets that arrive before their template (or records before their
    sampler's rate) are held; then they are counted as lost records."""
    max_pending_sets: int = Field(256, ge=0)
    """Cap on data sets held per (exporter, observation domain) while awaiting templates;
    more are dropped (``pending_cache_full``)."""
    max_pending_sets_per_exporter: int = Field(1024, ge=0)
    """Cap on data sets held for one exporter over all its domains, per format."""
    max_pending_sets_total: int = Field(16384, ge=0)
    """Cap on data sets held for every exporter together, per format."""
    max_pending_bytes: int = Field(16 * 1024 * 1024, ge=0)
    """Cap on bytes held, over all exporters of a format, while awaiting templates."""
    max_pending_bytes_per_exporter: int = Field(4 * 1024 * 1024, ge=0)
    """Cap on bytes held for one exporter, per format, while awaiting templates."""
    max_record_bytes: int = Field(2**48, ge=1)
    """A record claiming more bytes than this (after sampling) is an overflow and dropped."""
    rollup_top_n: int = Field(10000, ge=1)
    """Per-minute (prefix, provider) rows written to the store, busiest first."""
    billing_samples: int = Field(31 * 24 * 12, ge=1)
    """5-minute samples kept per provider (a 31-day billing month by default)."""
    syn_hints: SynHintsConfig = Field(default_factory=SynHintsConfig)
    """Unanswered TCP SYNs raise a prefix's probing priority (never a move by itself)."""

    def warnings(self, exporters_in_use: Sequence[str] = ()) -> list[str]:
        """What `config check` points out without refusing the configuration;
        ``exporters_in_use`` are exporter addresses named elsewhere (providers'
        flow interfaces), whose exports the allowlist must not drop."""
        if not self.enabled:
            return []
        if not self.exporters:
            if _loopback(self.listen_address):
                return []
            return [
                f"flows.exporters is empty while the collector listens on "
                f"{self.listen_address}: any host that reaches the flow ports can send "
                f"exports; list your routers' networks there"
            ]
        networks = [ipaddress.ip_network(n) for n in self.exporters]
        named = [*exporters_in_use, *(o.exporter for o in self.sampling_overrides)]
        return [
            f"exporter {address} is not in flows.exporters: its exports will be dropped"
            for address in dict.fromkeys(named)
            if not any(ipaddress.ip_address(address) in net for net in networks)
        ]


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False
