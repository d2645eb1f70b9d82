"""What every format's decoder shares, and the one small interface they implement.

:class:`~routepilot.flows.decoder.FlowDecoder` only routes a datagram to the
decoder of its format by the version field; each format's decoder (NetFlow v5,
NetFlow v9, IPFIX, sFlow v5) owns its own state (templates, samplers, agents,
sequence numbers) and hands back decoded records as a :class:`FlowBatch`.
The shared :class:`DecoderContext` holds only what is common to all of them:
configuration, counters, exporter names and sampling overrides.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from routepilot.flows.config import FlowsConfig
from routepilot.flows.metrics import FlowMetrics
from routepilot.flows.records import FlowBatch
from routepilot.flows.sink import SamplerRate

MAX_RATE_CHANGES = 65536
"""Rate changes kept between two saves; a flood of them beyond is not kept."""


@dataclass
class DecoderContext:
    """Configuration, counters and the exporter table, shared by every format's decoder."""

    config: FlowsConfig
    metrics: FlowMetrics
    exporter_names: list[str] = field(default_factory=list)
    """Exporter id -> address."""
    overrides: dict[int, int] = field(default_factory=dict)
    """Exporter id -> configured sampling rate (replaces whatever the export says)."""
    buffered_records: int = 0
    """Records (an upper bound for sFlow) set aside by every format since the last flush."""
    rate_changes: list[SamplerRate] = field(default_factory=list)
    """Sampling rates learned since the pipeline last saved them (to the store)."""
    read_times: bool = True
    """Whether records' first and last packet times are decoded: only the rates' warm-up
    reads them (flows/warmup.py), and decoding them costs about a tenth of the decoder's
    time, so the pipeline turns this off once the warm-up has ended."""

    def learned_rate(
        self, exporter: str, version: int, domain: int, sampler: int, rate: int, now: float
    ) -> None:
        """Notes a rate an exporter announced, for the pipeline to keep in the store."""
        if len(self.rate_changes) < MAX_RATE_CHANGES:
            self.rate_changes.append(SamplerRate(exporter, version, domain, sampler, rate, now))


class FormatDecoder(Protocol):
    """One export format's decoder: datagrams in, a column batch out."""

    def decode(self, data: bytes, exporter: int, now: float) -> None:
        """Parses one datagram of this format (its version already checked); never raises
        for bad input, which is a counted drop."""

    def flush(self) -> FlowBatch:
        """Decodes everything set aside since the last flush."""

    def expire(self, now: float) -> None:
        """Forgets stale state and gives up on what was held too long."""

    def finish(self) -> None:
        """The input ended (end of a capture, collector stopped): what is still held
        will never be decoded and is counted as lost."""

    def templates(self) -> int:
        """Templates cached now (a gauge)."""

    def pending_sets(self) -> int:
        """Data sets (and sets of records) held now (a gauge)."""

    def summary(self) -> list[tuple[tuple[int, int, int], dict[str, Any]]]:
        """Per exporter and domain (or agent): ((exporter, version, domain), report)."""
