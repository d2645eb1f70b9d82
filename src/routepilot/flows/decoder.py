"""The decoder: datagrams in, column batches out, with per-exporter state.

Datagrams are parsed as they arrive only as far as their headers and set
headers (a few struct calls each); the records themselves are set aside as
byte slices per template and decoded together by numpy in :meth:`flush`, one
``frombuffer`` per template per batch. Template caches are kept per
(exporter, version, observation domain / source id), so an exporter can never
disturb another's templates, and every cache is capped.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

import numpy as np

from routepilot.flows import ipfix, netflow5, sflow
from routepilot.flows.config import FlowsConfig
from routepilot.flows.metrics import FlowMetrics
from routepilot.flows.records import FlowBatch
from routepilot.flows.templates import Template, column, extract
from routepilot.log import get_logger

log = get_logger(__name__)


@dataclass
class DomainState:
    """Templates and sampling of one (exporter, version, observation domain)."""

    exporter: int
    version: int
    domain: int
    templates: dict[int, Template] = field(default_factory=dict)
    sampling: int = 1
    """Rate from options data (or the v5 header); 1 when unknown."""
    samplers: dict[int, int] = field(default_factory=dict)
    """Sampler/selector id -> rate, from options data."""
    pending: dict[int, list[tuple[bytes, float]]] = field(default_factory=dict)
    """Data sets received before their template: template id -> [(set body, arrival)]."""
    pending_count: int = 0
    last_seen: float = 0.0
    next_seq: int | None = None
    """Sequence number the next message should carry (None: unknown)."""
    records: int = 0
    """Flow records decoded from this domain so far."""


@dataclass
class _Chunks:
    template: Template
    exporter: int
    samplers: dict[int, int]
    bufs: list[bytes | memoryview] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    rates: list[int] = field(default_factory=list)


class FlowDecoder:
    """Decodes NetFlow v5, v9, IPFIX and sFlow v5 datagrams into :class:`FlowBatch`es."""

    def __init__(self, config: FlowsConfig, metrics: FlowMetrics) -> None:
        self.config = config
        self.metrics = metrics
        self.exporter_ids: dict[str, int] = {}
        self.exporter_names: list[str] = []
        self.domains: dict[tuple[int, int, int], DomainState] = {}
        self.overrides = {o.exporter: o.rate for o in config.sampling_overrides}
        self._override_by_id: dict[int, int] = {}
        self._chunks: dict[int, _Chunks] = {}
        self.sflow = sflow.SflowColumns()
        self.buffered_records = 0
        self.pending_bytes = 0
        self.interface_counters: dict[tuple[int, int], sflow.InterfaceCounters] = {}
        self.sflow_agents: dict[tuple[int, int, int, int, int], list[int]] = {}
        """(exporter, agent family, agent address halves, sub-agent) ->
        [datagrams, last rate, next sequence number (-1: unknown), flow samples]."""

    # -- exporters and domains -------------------------------------------------

    def exporter_id(self, address: str) -> int | None:
        """A small integer for an exporter address; None once the cap is reached."""
        eid = self.exporter_ids.get(address)
        if eid is not None:
            return eid
        if len(self.exporter_names) >= self.config.max_exporters:
            return None
        eid = len(self.exporter_names)
        self.exporter_ids[address] = eid
        self.exporter_names.append(address)
        if address in self.overrides:
            self._override_by_id[eid] = self.overrides[address]
        self.metrics.exporters = len(self.exporter_names)
        return eid

    def domain(self, exporter: int, version: int, domain: int, now: float) -> DomainState | None:
        key = (exporter, version, domain)
        state = self.domains.get(key)
        if state is None:
            if len(self.domains) >= self.config.max_domains:
                self.metrics.drop("domain_cache_full")
                return None
            state = DomainState(exporter, version, domain)
            self.domains[key] = state
        state.last_seen = now
        return state

    # -- input -------------------------------------------------------------------

    def feed(self, data: bytes, exporter: str, now: float) -> None:
        """Parses one datagram from ``exporter``; never raises."""
        eid = self.exporter_id(exporter)
        if eid is None:
            self.metrics.drop("exporter_cache_full")
            return
        try:
            self._dispatch(memoryview(data), eid, now)
        except Exception as exc:  # a decoder bug must cost one datagram, not the collector
            self.metrics.drop("decoder_error")
            log.debug("datagram decode failed", exporter=exporter, error=repr(exc))

    def _dispatch(self, data: memoryview, eid: int, now: float) -> None:
        if len(data) < 4:
            self.metrics.drop("truncated_header")
            return
        version = (data[0] << 8) | data[1]
        if version == 10:
            ipfix.parse_ipfix(self, data, eid, now)
        elif version == 9:
            ipfix.parse_v9(self, data, eid, now)
        elif version == 5:
            netflow5.parse_v5(self, data, eid, now)
        elif version == 0 and data[2] == 0 and data[3] == 5:
            sflow.parse_sflow(self, data, eid)
        else:
            self.metrics.drop("unknown_version")

    def add_chunk(self, t: Template, state: DomainState, buf: bytes | memoryview, n: int) -> None:
        """Sets aside ``n`` whole records of template ``t`` for the next flush."""
        chunks = self._chunks.get(id(t))
        if chunks is None:
            chunks = _Chunks(t, state.exporter, state.samplers)
            self._chunks[id(t)] = chunks
        chunks.bufs.append(buf)
        chunks.counts.append(n)
        chunks.rates.append(state.sampling)
        state.records += n
        self.buffered_records += n

    def options_data(self, t: Template, state: DomainState, buf: bytes) -> None:
        """Options records carry sampling (RFC 3954 §6.1, RFC 7011 §4.1); kept per domain."""
        assert t.dtype is not None
        arr = np.frombuffer(buf, dtype=t.dtype)
        rate = column(t, arr, "sampling")
        interval = column(t, arr, "packet_interval")
        space = column(t, arr, "packet_space")
        sampler = column(t, arr, "sampler")
        if rate is None and interval is not None:
            space = space if space is not None else np.zeros_like(interval)
            safe = np.maximum(interval, 1)
            rate = np.where(interval > 0, (interval + space) // safe, 0)
        if rate is None:
            return
        for i in range(len(arr)):
            r = int(rate[i])
            if r <= 0 or r > 2**31:
                continue
            if sampler is not None and int(sampler[i]) != 0:
                if len(state.samplers) < 256 or int(sampler[i]) in state.samplers:
                    state.samplers[int(sampler[i])] = r
                else:
                    self.metrics.drop("sampler_cache_full")
            else:
                state.sampling = r

    # -- output ------------------------------------------------------------------

    def flush(self) -> FlowBatch:
        """Decodes everything set aside since the last flush."""
        batches: list[FlowBatch] = []
        for chunks in self._chunks.values():
            if "bytes" not in chunks.template.plan:
                # Traffic without a delta byte counter cannot be accounted (running
                # totals and templates of other kinds end here).
                self.metrics.drop("no_byte_counter", sum(chunks.counts))
                continue
            buf = b"".join(chunks.bufs)
            rates = np.repeat(np.array(chunks.rates, dtype=np.uint32), chunks.counts)
            batch = extract(chunks.template, buf, chunks.exporter, rates, chunks.samplers)
            override = self._override_by_id.get(chunks.exporter)
            if override is not None:
                batch.sampling[:] = override
            batches.append(batch)
        self._chunks.clear()
        if self.sflow.count:
            batch = self.sflow.batch()
            for eid, rate in self._override_by_id.items():
                batch.sampling[batch.exporter == eid] = rate
            batches.append(batch)
        self.buffered_records = 0
        return FlowBatch.concat(batches)

    def expire(self, now: float) -> None:
        """Forgets stale templates and gives up on data sets held too long."""
        timeout = self.config.template_timeout_s
        hold = self.config.pending_hold_s
        ntemplates = 0
        npending = 0
        for state in self.domains.values():
            stale = [tid for tid, t in state.templates.items() if now - t.last_seen > timeout]
            for tid in stale:
                del state.templates[tid]
                self.metrics.drop("template_expired")
            ntemplates += len(state.templates)
            for tid in list(state.pending):
                kept = []
                for body, arrived in state.pending[tid]:
                    if now - arrived > hold:
                        self.metrics.drop("no_template")
                        self.pending_bytes -= len(body)
                        state.pending_count -= 1
                    else:
                        kept.append((body, arrived))
                if kept:
                    state.pending[tid] = kept
                else:
                    del state.pending[tid]
            npending += state.pending_count
        # A domain with nothing left that has been silent as long is forgotten, so that
        # the cap on domains is about live exporters, not every one ever seen.
        for key in [
            k
            for k, st in self.domains.items()
            if not st.templates and not st.pending and now - st.last_seen > timeout
        ]:
            del self.domains[key]  # fmt: skip
        self.metrics.templates = ntemplates
        self.metrics.pending_sets = npending

    def summary(self) -> list[dict[str, object]]:
        """Per exporter and domain: templates, sampling (for `flows decode`)."""
        out: list[dict[str, object]] = []
        for (eid, version, domain), state in sorted(self.domains.items()):
            out.append(
                {
                    "exporter": self.exporter_names[eid],
                    "version": version,
                    "domain": domain,
                    "records": state.records,
                    "sampling": self.overrides.get(self.exporter_names[eid], state.sampling),
                    "samplers": dict(sorted(state.samplers.items())),
                    "templates": [
                        {
                            "id": t.template_id,
                            "options": t.options,
                            "fields": len(t.fields),
                            "record_length": t.record_length or None,
                        }
                        for _, t in sorted(state.templates.items())
                    ],
                    "pending_sets": state.pending_count,
                }
            )
        for (eid, family, hi, lo, sub), (datagrams, rate, _, samples) in sorted(
            self.sflow_agents.items()
        ):
            agent = (
                ipaddress.IPv4Address(hi) if family == 4 else ipaddress.IPv6Address(hi << 64 | lo)
            )
            out.append(
                {
                    "exporter": self.exporter_names[eid],
                    "version": "sflow5",
                    "agent": str(agent),
                    "sub_agent": sub,
                    "datagrams": datagrams,
                    "records": samples,
                    "sampling": self.overrides.get(self.exporter_names[eid], rate),
                    "interfaces": sorted(i for e, i in self.interface_counters if e == eid),
                }
            )
        return out


def format_exporter(address: str) -> str:
    """Normalises an exporter address (IPv4-mapped IPv6 becomes IPv4)."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        return str(ip.ipv4_mapped)
    return str(ip)
