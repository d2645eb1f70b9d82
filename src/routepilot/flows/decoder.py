"""The decoder: datagrams in, column batches out, one format's decoder per version.

:class:`FlowDecoder` reads a datagram's version field and hands it to the
decoder of that format (:mod:`~routepilot.flows.netflow5`,
:mod:`~routepilot.flows.ipfix` for v9 and IPFIX, :mod:`~routepilot.flows.sflow`),
each of which owns its state behind the :class:`~routepilot.flows.format.FormatDecoder`
interface. Their state is kept per exporter (and observation domain, source id
or agent), so an exporter can never disturb another's, and every cache is capped.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from routepilot.flows.config import FlowsConfig
from routepilot.flows.format import DecoderContext, FormatDecoder
from routepilot.flows.ipfix import TemplateDecoder
from routepilot.flows.metrics import FlowMetrics
from routepilot.flows.netflow5 import NetflowV5Decoder
from routepilot.flows.records import FlowBatch
from routepilot.flows.sflow import SflowDecoder
from routepilot.flows.sink import SamplerRate
from routepilot.log import get_logger

log = get_logger(__name__)

MAX_VERDICTS = 65536
"""Sources whose allowlist verdict is remembered; more are checked datagram by datagram."""


class FlowDecoder:
    """Decodes NetFlow v5, v9, IPFIX and sFlow v5 datagrams into :class:`FlowBatch`es."""

    def __init__(self, config: FlowsConfig, metrics: FlowMetrics) -> None:
        self.config = config
        self.metrics = metrics
        self.ctx = DecoderContext(config, metrics)
        self.exporter_ids: dict[str, int] = {}
        self.overrides = {o.exporter: o.rate for o in config.sampling_overrides}
        self.allowed = [ipaddress.ip_network(n) for n in config.exporters] or None
        """Networks exports may come from (``flows.exporters``); None: any source."""
        self._verdicts: dict[str, bool] = {}
        self.v5 = NetflowV5Decoder(self.ctx)
        self.v9 = TemplateDecoder(self.ctx, 9)
        self.ipfix = TemplateDecoder(self.ctx, 10)
        self.sflow = SflowDecoder(self.ctx)
        self.formats: tuple[FormatDecoder, ...] = (self.v5, self.v9, self.ipfix, self.sflow)
        self._by_version: dict[bytes, FormatDecoder] = {
            b"\0\x05": self.v5, b"\0\x09": self.v9, b"\0\x0a": self.ipfix,
        }  # fmt: skip

    @property
    def exporter_names(self) -> list[str]:
        return self.ctx.exporter_names

    @property
    def buffered_records(self) -> int:
        return self.ctx.buffered_records

    def exporter_id(self, address: str) -> int | None:
        """A small integer for an exporter address; None once the cap is reached."""
        eid = self.exporter_ids.get(address)
        if eid is not None:
            return eid
        names = self.ctx.exporter_names
        if len(names) >= self.config.max_exporters:
            return None
        eid = len(names)
        self.exporter_ids[address] = eid
        names.append(address)
        if address in self.overrides:
            self.ctx.overrides[eid] = self.overrides[address]
        self.metrics.exporters = len(names)
        return eid

    def restore_rates(self, rows: Iterable[SamplerRate]) -> None:
        """Sampling rates known before a restart (see :class:`SamplerRate`)."""
        for row in rows:
            decoder = {9: self.v9, 10: self.ipfix}.get(row.version)
            eid = self.exporter_id(row.exporter)
            if decoder is not None and eid is not None:
                decoder.restore_rate(eid, row.domain, row.sampler, row.rate)

    def take_rate_changes(self) -> list[SamplerRate]:
        """Rates learned since the last call (for the store)."""
        changes, self.ctx.rate_changes = self.ctx.rate_changes, []
        return changes

    def is_allowed(self, exporter: str) -> bool:
        """Whether ``exporter`` may send exports (``flows.exporters``)."""
        if self.allowed is None:
            return True
        verdict = self._verdicts.get(exporter)
        if verdict is None:
            try:
                address = ipaddress.ip_address(exporter)
            except ValueError:
                return False
            verdict = any(address in net for net in self.allowed)
            if len(self._verdicts) < MAX_VERDICTS:
                self._verdicts[exporter] = verdict
        return verdict

    def feed(self, data: bytes, exporter: str, now: float) -> None:
        """Parses one datagram from ``exporter``; never raises."""
        if self.allowed is not None and not self.is_allowed(exporter):
            # Before anything else: a source that is not allowed gets no exporter id,
            # no state and no decoding.
            self.metrics.drop("not_allowed")
            return
        eid = self.exporter_ids.get(exporter)
        if eid is None:
            eid = self.exporter_id(exporter)
            if eid is None:
                self.metrics.drop("exporter_cache_full")
                return
        if len(data) < 4:
            self.metrics.drop("truncated_header")
            return
        # The first two bytes are the version (5, 9, 10); sFlow's version is 32 bits (5).
        decoder = self._by_version.get(data[:2])
        if decoder is None:
            if data[:4] != b"\0\0\0\x05":
                self.metrics.drop("unknown_version")
                return
            decoder = self.sflow
        try:
            decoder.decode(data, eid, now)
        except Exception as exc:  # a decoder bug must cost one datagram, not the collector
            self.metrics.drop("decoder_error")
            log.debug("datagram decode failed", exporter=exporter, error=repr(exc))

    def flush(self) -> FlowBatch:
        """Decodes everything set aside since the last flush."""
        self.ctx.buffered_records = 0
        return FlowBatch.concat([b for b in (f.flush() for f in self.formats) if len(b)])

    def expire(self, now: float) -> None:
        """Forgets stale templates and gives up on data held too long."""
        for f in self.formats:
            f.expire(now)
        self._gauges()

    def finish(self) -> None:
        """The input ended (call after the last :meth:`flush`): held data and missing
        sequence numbers are counted as lost."""
        for f in self.formats:
            f.finish()
        self._gauges()

    def _gauges(self) -> None:
        self.metrics.templates = sum(f.templates() for f in self.formats)
        self.metrics.pending_sets = sum(f.pending_sets() for f in self.formats)

    def summary(self) -> list[dict[str, object]]:
        """Per exporter and domain (or sFlow agent): templates, sampling (`flows decode`)."""
        entries = [e for f in self.formats for e in f.summary()]
        return [report for _, report in sorted(entries, key=lambda e: e[0])]


def format_exporter(address: str) -> str:
    """Normalises an exporter address (IPv4-mapped IPv6 becomes IPv4)."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        return str(ip.ipv4_mapped)
    return str(ip)
