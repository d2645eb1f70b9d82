"""State of one template-based export stream, and the buffer of records awaiting decoding.

NetFlow v5, v9 and IPFIX records all end up here: whole records of one
template, set aside as byte slices with the sampling rate each record had on
arrival, then decoded together by numpy at flush time (one ``frombuffer`` per
template per batch).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from routepilot.flows.format import DecoderContext
from routepilot.flows.records import UNTIMED, FlowBatch
from routepilot.flows.sequence import SequenceTracker
from routepilot.flows.templates import Template, extract

NO_UPTIME = -1
"""The ``uptime`` of a datagram whose header carries none (IPFIX)."""


@dataclass
class HeldSet:
    """A data set waiting for its template (RFC 7011 §8 allows that race)."""

    body: bytes
    arrived: float
    records: int = 0
    """Records it carries as the sequence numbers tell (0 until known): what is lost
    if its template never comes."""
    uptime: int = NO_UPTIME
    """Its datagram header's sysUptime (ms; NetFlow v9), to place the records' times."""


@dataclass
class HeldRecords:
    """Whole records that name a sampler whose rate is not known yet."""

    template: Template
    buf: bytes
    count: int
    arrived: float
    """When they were held (what ``pending_hold_s`` counts from)."""
    datagram_arrived: float
    """When their datagram arrived (a held set's records may be held again later)."""
    uptime: int = NO_UPTIME


@dataclass
class DomainState:
    """Templates, sampling and sequence of one (exporter, version, observation domain)."""

    exporter: int
    version: int
    domain: int
    samplers: dict[int, int] = field(default_factory=dict)
    """Sampler/selector id -> rate from options data; id 0 is the whole domain's rate.
    Kept by the format's decoder beyond this state's life (and in the store)."""
    templates: dict[int, Template] = field(default_factory=dict)
    pending: dict[int, list[HeldSet]] = field(default_factory=dict)
    """Data sets received before their template, by template id."""
    pending_count: int = 0
    held: list[HeldRecords] = field(default_factory=list)
    """Records received before their sampler's options data."""
    last_seen: float = 0.0
    sequence: SequenceTracker = field(default_factory=SequenceTracker)
    unknown_sets: list[HeldSet] = field(default_factory=list)
    """Sets held from the last message whose record count the next message's sequence
    number will tell (IPFIX)."""
    unknown_start: int = 0
    """Sequence number of the first record those sets carry."""
    records: int = 0
    """Flow records decoded from this domain so far."""

    @property
    def sampling(self) -> int:
        """The domain's rate (options data without a sampler, or the v5 header)."""
        return self.samplers.get(0, 1)


@dataclass
class _Chunks:
    template: Template
    exporter: int
    bufs: list[bytes | memoryview] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    rates: list[int | np.ndarray] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    uptimes: list[int] = field(default_factory=list)


class RecordBuffer:
    """Whole records per template, with their arrival-time rates, until :meth:`flush`."""

    def __init__(self, ctx: DecoderContext) -> None:
        self.ctx = ctx
        self._chunks: dict[int, _Chunks] = {}

    def add(
        self,
        t: Template,
        state: DomainState,
        buf: bytes | memoryview,
        n: int,
        rates: int | np.ndarray,
        arrived: float,
        uptime: int = NO_UPTIME,
    ) -> None:
        """Sets aside ``n`` whole records of ``t``; ``rates`` is one rate or one a record;
        ``arrived`` is when their datagram came and ``uptime`` its header's sysUptime."""
        chunks = self._chunks.get(id(t))
        if chunks is None:
            chunks = self._chunks[id(t)] = _Chunks(t, state.exporter)
        chunks.bufs.append(buf)
        chunks.counts.append(n)
        chunks.rates.append(rates)
        if t.timed:
            chunks.arrivals.append(arrived)
            chunks.uptimes.append(uptime)
        state.records += n
        self.ctx.buffered_records += n

    def flush(self) -> FlowBatch:
        batches: list[FlowBatch] = []
        for chunks in self._chunks.values():
            if "bytes" not in chunks.template.plan:
                # Traffic without a delta byte counter cannot be accounted (running
                # totals and templates of other kinds end here).
                self.ctx.metrics.drop("no_byte_counter", sum(chunks.counts))
                continue
            buf = b"".join(chunks.bufs)
            if all(isinstance(r, int) for r in chunks.rates):
                rates = np.repeat(np.array(chunks.rates, dtype=np.uint32), chunks.counts)
            else:
                rates = np.concatenate([
                    np.full(c, r, dtype=np.uint32) if isinstance(r, int) else r
                    for r, c in zip(chunks.rates, chunks.counts, strict=True)
                ])  # fmt: skip
            t = chunks.template
            if t.timed and self.ctx.read_times:
                batch = extract(t, buf, chunks.exporter, rates, *self._clocks(chunks))
                self._check_times(batch)
            else:
                batch = extract(t, buf, chunks.exporter, rates)
            override = self.ctx.overrides.get(chunks.exporter)
            if override is not None:
                batch.sampling[:] = override
            batches.append(batch)
        self._chunks.clear()
        return FlowBatch.concat(batches)

    @staticmethod
    def _clocks(chunks: _Chunks) -> tuple[np.ndarray, np.ndarray | None]:
        """Per record, its datagram's arrival and header uptime (None: no uptime)."""
        counts = chunks.counts
        arrival = np.repeat(np.array(chunks.arrivals), counts)
        if chunks.uptimes[0] == NO_UPTIME:
            return arrival, None
        return arrival, np.repeat(np.array(chunks.uptimes, dtype=np.int64), counts)

    def _check_times(self, batch: FlowBatch) -> None:
        """Times that cannot be (a last packet before the first) are a counted drop of the
        times, not of the record: it counts as one without times."""
        bad = batch.start > batch.end
        if bad.any():
            batch.start[bad] = batch.end[bad] = UNTIMED
            self.ctx.metrics.drop("bad_record_times", int(bad.sum()))
