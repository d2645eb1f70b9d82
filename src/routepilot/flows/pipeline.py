"""Decode, attribute, look up and aggregate: the collector's synchronous core.

No sockets and no clock of its own (time is passed in), so the same object
serves the UDP collector, `flows decode` on a capture and the tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

import numpy as np

from routepilot.config.models import ProviderConfig
from routepilot.flows.aggregate import Aggregator, BatchKeys
from routepilot.flows.attribution import ProviderMap
from routepilot.flows.config import FlowsConfig
from routepilot.flows.decoder import FlowDecoder
from routepilot.flows.destinations import DestinationSampler
from routepilot.flows.lpm import PrefixTable, remap
from routepilot.flows.metrics import FlowMetrics
from routepilot.flows.prefixes import PrefixMapper
from routepilot.flows.records import FlowBatch
from routepilot.flows.sink import RollupSink, SamplerRateSink
from routepilot.flows.snapshot import SamplerRate, TrafficSnapshot
from routepilot.flows.synhints import SynHints
from routepilot.log import get_logger

log = get_logger(__name__)

EXPIRE_EVERY_S = 1.0


class FlowPipeline:
    """Datagrams in (:meth:`feed`), a :class:`TrafficSnapshot` and rollups out."""

    def __init__(
        self,
        config: FlowsConfig,
        providers: Sequence[ProviderConfig] = (),
        prefixes: Iterable[str] | PrefixTable = (),
        sink: RollupSink | None = None,
        metrics: FlowMetrics | None = None,
        start: float | None = None,
        rates: SamplerRateSink | None = None,
    ) -> None:
        self.config = config
        self.metrics = metrics or FlowMetrics()
        self.decoder = FlowDecoder(config, self.metrics)
        self.rates = rates
        """Where sampler rates are kept across restarts (None: nowhere)."""
        self.providers = ProviderMap(providers, self.decoder.exporter_id)
        self.mapper = PrefixMapper(
            _table(prefixes), config.ipv4_granularity, config.ipv6_granularity
        )
        self.aggregator = Aggregator(
            providers=self.providers.names,
            window_s=config.window_s,
            smoothing_s=config.smoothing_s,
            max_keys=config.max_prefixes,
            billing_samples=config.billing_samples,
            rollup_top_n=config.rollup_top_n,
            start=start,
            sink=sink,
        )
        self._last_expire = start or 0.0
        self._first_fed: float | None = None
        self.first_record: float | None = None
        """When the first records were aggregated (None: none yet)."""
        self.hints = SynHints(config.syn_hints, self.providers.names, self.metrics)
        """Prefixes hinted for probing by unanswered TCP SYNs."""
        self.destinations = DestinationSampler()
        """Destination addresses seen, for the prober's targets."""
        self.bytes_total = 0.0
        self.packets_total = 0.0

    def feed(self, datagram: bytes, exporter: str, now: float) -> None:
        """One export datagram; decoding of its records waits for :meth:`process`."""
        if self._first_fed is None:
            self._first_fed = now
        self.decoder.feed(datagram, exporter, now)

    @property
    def buffered_records(self) -> int:
        return self.decoder.buffered_records

    def process(self, now: float) -> int:
        """Decodes and aggregates what was fed, then closes due windows; returns records."""
        # Buckets that ended before this batch began are closed first, so that records
        # land in the bucket they arrived in (to within one flush interval).
        if self._first_fed is not None:
            self.aggregator.advance(self._first_fed, self.mapper.text)
            self._first_fed = None
        try:
            batch = self.decoder.flush()
            n = len(batch)
            if n:
                self.ingest(batch, now)
                if self.first_record is None:
                    self.first_record = now
        except Exception as exc:  # a bug in one batch must not stop the collector
            self.metrics.drop("pipeline_error")
            log.error("batch processing failed", error=repr(exc))
            n = 0
        if now - self._last_expire >= EXPIRE_EVERY_S:
            self.decoder.expire(now)
            self._last_expire = now
        self.save_rates()
        self.aggregator.advance(now, self.mapper.text)
        self.metrics.aggregation_keys = len(self.aggregator.smooth) + len(self.aggregator.window)
        warm = self.aggregator.warm
        if warm is not None:
            self.metrics.warm_up_untracked_records = warm.untracked
        self.decoder.ctx.read_times = warm is not None
        self.hints.expire(now)
        self.metrics.syn_hinted = len(self.hints.hints)
        return n

    def finish(self, now: float) -> int:
        """The input ended (collector stopped, capture read): everything decodable is
        processed, then what is still held is counted as lost."""
        n = self.process(now)
        self.decoder.finish()
        return n

    def restore_rates(self, rows: Sequence[SamplerRate]) -> None:
        """Sampling rates kept before a restart: records are scaled at once instead of
        counted unsampled until each exporter resends its sampler table."""
        self.decoder.restore_rates(rows)

    def save_rates(self) -> None:
        """Keeps newly learned sampler rates in the store, so a restart knows them."""
        changes = self.decoder.take_rate_changes()
        if changes and self.rates is not None:
            try:
                self.rates.write_sampler_rates(changes)
            except Exception as exc:  # the store's trouble must not stop collection
                self.metrics.drop("rate_store_error", len(changes))
                log.warning("sampler rates not saved", error=repr(exc))

    def ingest(self, batch: FlowBatch, now: float = 0.0) -> None:
        """Aggregates decoded records (scaled for sampling) and counts unanswered SYNs."""
        kept, codes, slots, nbytes, npkts = self.prepare_batch(batch)
        if len(codes):
            keys = BatchKeys(codes, slots)
            self.aggregator.add_keyed(keys, slots, nbytes, npkts, kept.start, kept.end)
            self.hints.add(kept, keys, slots, now, self.mapper.text)
        self.destinations.add(batch)

    def prepare(self, batch: FlowBatch) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Drops unusable records, scales for sampling, attributes and maps prefixes.

        Returns prefix codes, provider slots, bytes and packets, one entry per kept record.
        """
        return self.prepare_batch(batch)[1:]

    def prepare_batch(
        self, batch: FlowBatch
    ) -> tuple[FlowBatch, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`prepare`, with the records kept first (what the daemon aggregates)."""
        routable = (batch.family == 4) | (batch.family == 6)
        if not routable.all():
            self.metrics.drop("no_destination", int((~routable).sum()))
            batch = batch.select(routable)
        scale = batch.sampling.astype(np.float64)
        nbytes = batch.bytes.astype(np.float64) * scale
        npkts = batch.packets.astype(np.float64) * scale
        sane = (nbytes <= self.config.max_record_bytes) & (npkts <= self.config.max_record_bytes)
        if not sane.all():
            self.metrics.drop("counter_overflow", int((~sane).sum()))
            batch, nbytes, npkts = batch.select(sane), nbytes[sane], npkts[sane]
        slots = self.providers.attribute(batch)
        self.metrics.unattributed_records += int((slots == self.providers.unattributed).sum())
        codes, missed = self.mapper.codes(batch)
        self.metrics.unrouted_records += missed
        self.bytes_total += float(nbytes.sum())
        self.packets_total += float(npkts.sum())
        return batch, codes, slots, nbytes, npkts

    def set_routes(self, prefixes: Iterable[str] | PrefixTable) -> None:
        """Replaces the routing table (rib/ calls this); tracked prefixes are carried over.

        A :class:`PrefixTable` built elsewhere (off the event loop: a million prefixes
        take seconds) is taken as it is.
        """
        old = self.mapper.table
        new = _table(prefixes)
        if old is not None:
            self.aggregator.remap(remap(old, new), len(old))
        self.hints.forget_counts()
        self.mapper = PrefixMapper(new, self.config.ipv4_granularity, self.config.ipv6_granularity)

    def whole(self, now: float) -> bool:
        """Has every flow been reported since the first record? An exporter reports a
        long flow once per active timeout (``flows.active_timeout_s``), so the first
        records hold some flows and not others, and some with the bytes of long before;
        one active timeout after the first record all have been, and one window later
        the rates are over windows that hold them all."""
        return (
            self.first_record is not None
            and now - self.first_record >= self.config.active_timeout_s + self.config.window_s
        )

    def snapshot(self, now: float) -> TrafficSnapshot:
        snap = self.aggregator.snapshot(now, self.config.top_n, self.mapper.text)
        return replace(snap, whole=self.whole(now))


def _table(prefixes: Iterable[str] | PrefixTable) -> PrefixTable:
    return prefixes if isinstance(prefixes, PrefixTable) else PrefixTable(prefixes)
