"""sFlow version 5 (sflow.org/sflow_version_5.txt): flow and counter samples.

sFlow carries sampled packet headers, not flows: each flow sample stands for
``sampling_rate`` packets like the one sampled. A datagram's header is read
when it arrives (agent, sequence number, sample count); its samples are
decoded with the batch's other datagrams at flush time, in bulk
(:mod:`routepilot.flows.sflow_bulk`). Counter samples, a few per interface
and minute, are read one by one.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from routepilot.flows.format import DecoderContext
from routepilot.flows.quota import QuotaTable
from routepilot.flows.records import UNTIMED, FlowBatch
from routepilot.flows.sequence import SequenceTracker
from routepilot.flows.sflow_bulk import (
    COUNTER_SAMPLE,
    EXPANDED_COUNTER_SAMPLE,
    Samples,
    Wire,
    flow_samples,
    packet_destinations,
    walk_samples,
)

_GENERIC_COUNTERS = struct.Struct(">IIQIIQIIIIIIQIIIIII")
_RECORD = struct.Struct(">II")
COUNTERS_GENERIC = 1
MAX_INTERFACES = 65536
MAX_INTERFACES_PER_EXPORTER = 4096
"""Interfaces whose counters are kept, in total and for one exporter (a router has a few
hundred): past either, a new interface's counters are dropped (``interface_cache_full``)."""
# Counter sample layouts: (header struct, index of the record count in it).
_COUNTER_HEADERS = {
    COUNTER_SAMPLE: (struct.Struct(">III"), 2),  # sequence, source id, records
    EXPANDED_COUNTER_SAMPLE: (struct.Struct(">IIII"), 3),  # sequence, type, index, records
}


AgentKey = tuple[int, int, int, int, int]
"""(exporter id, address family, address high and low 64 bits, sub-agent id)."""


@dataclass
class InterfaceCounters:
    """Generic interface counters of a counter sample (sFlow v5 ``if_counters``)."""

    if_speed: int
    if_status: int
    in_octets: int
    in_packets: int
    out_octets: int
    out_packets: int
    in_errors: int
    out_errors: int


@dataclass
class AgentState:
    """One (exporter, agent address, sub-agent): datagrams, last rate, sequence, samples."""

    datagrams: int = 0
    rate: int = 0
    samples: int = 0
    sequence: SequenceTracker = field(default_factory=SequenceTracker)


class SflowDecoder:
    """Decodes sFlow v5 datagrams; flow samples in bulk at :meth:`flush`."""

    def __init__(self, ctx: DecoderContext) -> None:
        self.ctx = ctx
        self.agents: dict[AgentKey, AgentState] = {}
        self._agent_list: list[AgentState] = []
        self._agent_keys: list[AgentKey] = []
        self._agent_index: dict[AgentKey, int] = {}
        self.quota: QuotaTable[AgentKey] = QuotaTable(
            ctx.config.max_domains, ctx.config.max_domains_per_exporter
        )
        """Agents by exporter; those that never sent a readable flow sample go first."""
        self.interface_counters: dict[tuple[int, int], InterfaceCounters] = {}
        self._interfaces_of: dict[int, int] = {}
        self._datagrams: list[bytes] = []
        self._exporter_of: list[int] = []

    def decode(self, data: bytes, exporter: int, now: float) -> None:
        # Only kept here: the header is read with the batch's other datagrams at flush.
        # The sample count (after a 4- or 16-byte agent address) bounds the batch size.
        size = len(data)
        at = 36 if size > 7 and data[7] == 2 else 24
        count = int.from_bytes(data[at : at + 4], "big") if size >= at + 4 else 0
        self._datagrams.append(data)
        self._exporter_of.append(exporter)
        self.ctx.buffered_records += count if count < size >> 3 else size >> 3

    def flush(self) -> FlowBatch:
        if not self._datagrams:
            return FlowBatch.empty()
        metrics = self.ctx.metrics
        datagrams, self._datagrams = self._datagrams, []
        exporters, self._exporter_of = self._exporter_of, []
        lengths = np.fromiter(map(len, datagrams), dtype=np.int64, count=len(datagrams))
        base = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        wire = Wire(datagrams)
        head = self._headers(wire, base, lengths, np.array(exporters, dtype=np.uint32))
        if head is None:
            return FlowBatch.empty()
        start, end, count, agent_of, exporter_of = head
        samples = walk_samples(wire, start, end, count, metrics)
        self._counter_samples(wire, samples, exporter_of)
        cols, readable = flow_samples(wire, samples, metrics)
        self._agent_rates(samples, readable, agent_of, wire)
        n = len(cols.family)
        metrics.records["sflow"] += n
        per_agent = np.bincount(agent_of[cols.datagram], minlength=len(self._agent_list))
        for index in np.flatnonzero(per_agent).tolist():
            self._agent_list[index].samples += int(per_agent[index])
            self.quota.prove(self._agent_keys[index])
        v4, v6 = cols.family == 4, cols.family == 6
        nh4, nh6 = cols.nh_family == 4, cols.nh_family == 6
        zero = np.uint64(0)
        batch = FlowBatch(
            exporter=exporter_of[cols.datagram],
            family=cols.family.astype(np.uint8),
            dst4=np.where(v4, cols.dst_hi, zero).astype(np.uint32),
            dst6_hi=np.where(v6, cols.dst_hi, zero),
            dst6_lo=np.where(v6, cols.dst_lo, zero),
            nh4=np.where(nh4, cols.nh_hi, zero).astype(np.uint32),
            nh6_hi=np.where(nh6, cols.nh_hi, zero),
            nh6_lo=np.where(nh6, cols.nh_lo, zero),
            out_if=cols.out_if.astype(np.uint32),
            bytes=cols.length.astype(np.uint64),
            packets=np.ones(n, dtype=np.uint64),
            sampling=cols.rate.astype(np.uint32),
            # A sampled header is one packet of its flow, not the flow: its TCP flags say
            # nothing of whether the connection was answered (a SYN sampled from a
            # connection that completed looks unanswered), so they are not decoded.
            proto=np.zeros(n, dtype=np.uint8),
            tcp_flags=np.zeros(n, dtype=np.uint16),
            src=np.zeros(n, dtype=np.uint64),
            # A sample is one packet, with no time of its own beyond the datagram's.
            start=np.full(n, UNTIMED),
            end=np.full(n, UNTIMED),
        )
        for eid, rate in self.ctx.overrides.items():
            batch.sampling[batch.exporter == eid] = rate
        return batch

    def _headers(
        self, wire: Wire, base: np.ndarray, lengths: np.ndarray, exporters: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """Reads every datagram's header (``sample_datagram_v5``): agent address, sub-agent,
        sequence number, sample count. Returns, per datagram kept, where its first sample
        starts, where it ends, its sample count, its agent's index and its exporter."""
        metrics = self.ctx.metrics
        kind = wire.u32(base + 4)
        v6 = kind == 2
        tail = base + np.where(v6, 24, 12)  # after version, address type and address
        bad = []
        bad.append((lengths < 8, "sflow_truncated_sample"))
        bad.append(((lengths >= 8) & (kind != 1) & ~v6, "sflow_bad_address_type"))
        fits = (kind == 1) | v6
        short = fits & (base + lengths < tail)
        bad.append((short, "sflow_truncated_sample"))
        bad.append((fits & ~short & (base + lengths < tail + 16), "truncated_header"))
        ok = fits & (base + lengths >= tail + 16) & (lengths >= 8)
        for mask, reason in bad:
            if mask.any():
                metrics.drop(reason, int(mask.sum()))
        keep = np.flatnonzero(ok)
        if not keep.size:
            return None
        base, lengths, tail, v6, exporters = (
            base[keep],
            lengths[keep],
            tail[keep],
            v6[keep],
            exporters[keep],
        )
        hi = np.where(v6, wire.u64(base + 8), wire.u32(base + 8).astype(np.uint64))
        lo = np.where(v6, wire.u64(base + 16), np.uint64(0))
        sub, seq, count = wire.u32(tail), wire.u32(tail + 4), wire.u32(tail + 12)
        agent_of, known = self._agents(exporters, v6, hi, lo, sub)
        metrics.datagrams["sflow"] += int(known.sum())
        self._sequences(agent_of[known], seq[known])
        start = tail + 16
        fine = known & (count <= (base + lengths - start) // 8)
        if (known & ~fine).any():
            metrics.drop("sflow_bad_sample_count", int((known & ~fine).sum()))
        end = base + lengths
        return start[fine], end[fine], count[fine], agent_of[fine], exporters[fine]

    def _agents(
        self,
        exporters: np.ndarray,
        v6: np.ndarray,
        hi: np.ndarray,
        lo: np.ndarray,
        sub: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each datagram's agent index, and whether it has one (the cap on agents)."""
        same = (
            (exporters == exporters[0]).all() and (v6 == v6[0]).all() and (hi == hi[0]).all()
            and (lo == lo[0]).all() and (sub == sub[0]).all()
        )  # fmt: skip
        unique: np.ndarray
        if same:  # one agent in the whole batch, the usual case
            unique = np.rec.fromarrays([exporters[:1], v6[:1], hi[:1], lo[:1], sub[:1]])
            inverse = np.zeros(len(exporters), dtype=np.int64)
        else:
            keys = np.rec.fromarrays([exporters, v6, hi, lo, sub])
            unique, inverse = np.unique(keys, return_inverse=True)
        index = np.full(len(unique), -1, dtype=np.int64)
        refused: dict[int, str] = {}
        assigned: set[int] = set()
        for i, (eid, is_v6, h, lo_, s) in enumerate(unique.tolist()):
            key = (int(eid), 6 if is_v6 else 4, int(h), int(lo_), int(s))
            at = self._agent_index.get(key)
            if at is None:
                got = self._new_agent(key, assigned)
                if isinstance(got, str):
                    refused[i] = got
                    continue
                at = got
            else:
                self.quota.touch(key)
            index[i] = at
            assigned.add(at)
        if same:
            agent_of = np.full(len(exporters), index[0], dtype=np.int64)
            if index[0] >= 0:
                self._agent_list[int(index[0])].datagrams += len(exporters)
        else:
            agent_of = index[inverse.ravel()]
            for at, n in zip(*np.unique(agent_of[agent_of >= 0], return_counts=True),
                             strict=True):  # fmt: skip
                self._agent_list[int(at)].datagrams += int(n)
        known = agent_of >= 0
        if refused:
            per_key = np.bincount(inverse.ravel(), minlength=len(unique))
            for i, reason in refused.items():
                self.ctx.metrics.drop(reason, int(per_key[i]))
        return agent_of, known

    def _new_agent(self, key: AgentKey, assigned: set[int]) -> int | str:
        """A slot for a new agent within the caps, or the drop reason. An agent that never
        sent a readable flow sample may give way (its slot is reused), unless datagrams
        of this batch were already counted against it."""
        admission = self.quota.admit(key[0])
        victim = admission.evict
        if not admission.ok or (victim is not None and self._agent_index[victim] in assigned):
            return admission.reason
        state = AgentState()
        if victim is not None:
            at = self._agent_index.pop(victim)
            del self.agents[victim]
            self.quota.remove(victim, victim[0])
            self.ctx.metrics.drop("domain_evicted")
            self._agent_list[at] = state
            self._agent_keys[at] = key
        else:
            at = len(self._agent_list)
            self._agent_list.append(state)
            self._agent_keys.append(key)
        self._agent_index[key] = at
        self.agents[key] = state
        self.quota.add(key, key[0])
        return at

    def _sequences(self, agent_of: np.ndarray, seq: np.ndarray) -> None:
        """The datagram sequence number counts datagrams per (agent, sub-agent)."""
        lost = 0
        if not len(agent_of):
            return
        one = agent_of[0] == agent_of[-1] and (agent_of == agent_of[0]).all()
        for at in [int(agent_of[0])] if one else np.unique(agent_of).tolist():
            tracker = self._agent_list[at].sequence
            seqs = seq if one else seq[agent_of == at]
            if (
                not tracker.missing and (tracker.next is None or seqs[0] == tracker.next)
                and (np.diff(seqs) == 1).all()
            ):  # fmt: skip
                tracker.next = (int(seqs[-1]) + 1) & 0xFFFFFFFF  # in order, the usual case
                continue
            for s in seqs.tolist():
                lost += tracker.observe(s, 1)
        if lost:
            self.ctx.metrics.sequence_gaps["sflow"] += lost

    def _agent_rates(
        self, s: Samples, readable: np.ndarray, agent_of: np.ndarray, wire: Wire
    ) -> None:
        """Each agent's rate is that of its last flow sample whose header was readable."""
        rows = np.flatnonzero(readable)  # in arrival order
        if not rows.size:
            return
        agents = agent_of[s.datagram[rows]][::-1]
        unique, latest = np.unique(agents, return_index=True)
        last = rows[::-1][latest]
        rates = wire.u32(s.body[last] + np.where(s.fmt[last] == 1, 8, 12))
        for a, r in zip(unique.tolist(), rates.tolist(), strict=True):
            self._agent_list[a].rate = r

    def _counter_samples(self, wire: Wire, s: Samples, exporter_of: np.ndarray) -> None:
        raw = wire.buf
        for i in np.flatnonzero((s.fmt == COUNTER_SAMPLE) | (s.fmt == EXPANDED_COUNTER_SAMPLE)):
            start, length = int(s.body[i]), int(s.length[i])
            body = memoryview(raw[start : start + length].tobytes())
            eid = int(exporter_of[s.datagram[i]])
            try:
                self._counter_sample(body, eid, _COUNTER_HEADERS[int(s.fmt[i])])
            except struct.error:
                self.ctx.metrics.drop("sflow_truncated_sample")
            except ValueError as bad:
                self.ctx.metrics.drop(str(bad))

    def _counter_sample(
        self, body: memoryview, eid: int, header: tuple[struct.Struct, int]
    ) -> None:
        layout, count_at = header
        nrecords = layout.unpack_from(body)[count_at]
        pos = layout.size
        end = len(body)
        if nrecords > (end - pos) // 8:
            raise ValueError("sflow_bad_record_count")
        for _ in range(nrecords):
            fmt, rlen = _RECORD.unpack_from(body, pos)
            pos += 8
            if pos + rlen > end:
                raise ValueError("sflow_truncated_record")
            if fmt == COUNTERS_GENERIC and rlen >= _GENERIC_COUNTERS.size:
                self._interface(eid, _GENERIC_COUNTERS.unpack_from(body, pos))
            pos += rlen
        self.ctx.metrics.records["sflow_counters"] += nrecords

    def _interface(self, eid: int, c: tuple[int, ...]) -> None:
        key = (eid, c[0])
        if key not in self.interface_counters:
            mine = self._interfaces_of.get(eid, 0)
            if len(self.interface_counters) >= MAX_INTERFACES or mine >= (
                MAX_INTERFACES_PER_EXPORTER
            ):
                self.ctx.metrics.drop("interface_cache_full")
                return
            self._interfaces_of[eid] = mine + 1
        self.interface_counters[key] = InterfaceCounters(
            if_speed=c[2], if_status=c[4], in_octets=c[5], in_packets=c[6] + c[7] + c[8],
            out_octets=c[12], out_packets=c[13] + c[14] + c[15], in_errors=c[10],
            out_errors=c[17],
        )  # fmt: skip

    def expire(self, now: float) -> None:
        """Nothing is held: every sample is complete in its datagram."""

    def finish(self) -> None:
        for agent in self.agents.values():
            lost = agent.sequence.finish()
            if lost:
                self.ctx.metrics.sequence_gaps["sflow"] += lost

    def templates(self) -> int:
        return 0

    def pending_sets(self) -> int:
        return 0

    def summary(self) -> list[tuple[tuple[int, int, int], dict[str, Any]]]:
        out = []
        names = self.ctx.exporter_names
        for (eid, family, hi, lo, sub), agent in sorted(self.agents.items()):
            address = (
                ipaddress.IPv4Address(hi) if family == 4 else ipaddress.IPv6Address(hi << 64 | lo)
            )
            out.append(((eid, 1 << 16, 0), {
                "exporter": names[eid], "version": "sflow5", "agent": str(address),
                "sub_agent": sub, "datagrams": agent.datagrams, "records": agent.samples,
                "sampling": self.ctx.overrides.get(eid, agent.rate),
                "interfaces": sorted(i for e, i in self.interface_counters if e == eid),
            }))  # fmt: skip
        return out


def parse_packet_header(proto: int, header: memoryview) -> tuple[int, int, int] | None:
    """Destination of one sampled packet header (tests and tools; decoding is in bulk)."""
    wire = Wire([bytes(header)])
    family, hi, lo = packet_destinations(
        wire, np.array([proto]), np.array([0]), np.array([len(header)])
    )
    if not family[0]:
        return None
    return int(family[0]), int(hi[0]), int(lo[0])
