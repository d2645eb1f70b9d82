"""NetFlow v5: a fixed 24-byte header and fixed 48-byte records.

v5 has no templates, so its record layout is expressed as one: its records
then go through the same bulk numpy decoding as v9/IPFIX ones.
"""

from __future__ import annotations

import struct
from dataclasses import replace
from typing import Any

from routepilot.flows.domains import DomainState, RecordBuffer
from routepilot.flows.format import DecoderContext
from routepilot.flows.quota import QuotaTable
from routepilot.flows.records import FlowBatch
from routepilot.flows.templates import TemplateField, compile_template

_HEADER = struct.Struct(">HHIIIIBBH")
RECORD_LENGTH = 48
MAX_COUNT = 30

# Cisco's v5 record, in IPFIX information element numbers (8 srcaddr, 12 dstaddr,
# 15 nexthop, 10/14 input/output, 2 dPkts, 1 dOctets, 22/21 first/last, 7/11
# ports, 210 padding, 6 flags, 4 protocol, 5 tos, 16/17 AS, 9/13 masks).
_LAYOUT = [
    (8, 4), (12, 4), (15, 4), (10, 2), (14, 2), (2, 4), (1, 4), (22, 4), (21, 4),
    (7, 2), (11, 2), (210, 1), (6, 1), (4, 1), (5, 1), (16, 2), (17, 2), (9, 1),
    (13, 1), (210, 2),
]  # fmt: skip
V5_TEMPLATE = compile_template(0, [TemplateField(ie, n) for ie, n in _LAYOUT])


class NetflowV5Decoder:
    """Decodes NetFlow v5 datagrams; one state per (exporter, engine type and id)."""

    def __init__(self, ctx: DecoderContext) -> None:
        self.ctx = ctx
        self.domains: dict[tuple[int, int], DomainState] = {}
        self.quota: QuotaTable[tuple[int, int]] = QuotaTable(
            ctx.config.max_domains, ctx.config.max_domains_per_exporter
        )
        self.buffer = RecordBuffer(ctx)

    def decode(self, data: bytes, exporter: int, now: float) -> None:
        metrics = self.ctx.metrics
        if len(data) < _HEADER.size:
            metrics.drop("truncated_header")
            return
        _, count, uptime, _, _, _, engine_type, engine_id, sampling = _HEADER.unpack_from(data)
        if count == 0 or count > MAX_COUNT:
            metrics.drop("bad_record_count")
            return
        end = _HEADER.size + count * RECORD_LENGTH
        if end > len(data):
            metrics.drop("truncated_records")
            return
        key = (exporter, (engine_type << 8) | engine_id)
        state = self.domains.get(key)
        if state is None:
            state = self._new_domain(key)
            if state is None:
                return
        else:
            self.quota.touch(key)
        state.last_seen = now
        # The low 14 bits are the interval, the top 2 the mode; 0 means unsampled.
        state.samplers[0] = max(sampling & 0x3FFF, 1)
        t = state.templates[0]
        t.last_seen = now
        metrics.datagrams["netflow5"] += 1
        metrics.records["netflow5"] += count
        self.buffer.add(
            t, state, memoryview(data)[_HEADER.size : end], count, state.sampling, now, uptime
        )

    def _new_domain(self, key: tuple[int, int]) -> DomainState | None:
        """A state for a new (exporter, engine), within the caps on domains.

        A v5 domain holds nothing that the next datagram does not bring again (the
        record layout is fixed, the sampling rate is in every header), so any may give
        way to another: the least recently seen one of the exporter over its share, or
        of anyone when the cache is full. None are ever proven useful.
        """
        admission = self.quota.admit(key[0])
        if not admission.ok:
            self.ctx.metrics.drop(admission.reason)
            return None
        if admission.evict is not None:
            del self.domains[admission.evict]
            self.quota.remove(admission.evict, admission.evict[0])
            self.ctx.metrics.drop("domain_evicted")
        state = self.domains[key] = DomainState(key[0], 5, key[1])
        state.templates[0] = replace(V5_TEMPLATE)
        self.quota.add(key, key[0])
        return state

    def flush(self) -> FlowBatch:
        return self.buffer.flush()

    def expire(self, now: float) -> None:
        timeout = self.ctx.config.template_timeout_s
        for key in [k for k, s in self.domains.items() if now - s.last_seen > timeout]:
            del self.domains[key]
            self.quota.remove(key, key[0])

    def finish(self) -> None:
        """Nothing is ever held: v5 records are complete in their datagram."""

    def templates(self) -> int:
        return len(self.domains)

    def pending_sets(self) -> int:
        return 0

    def summary(self) -> list[tuple[tuple[int, int, int], dict[str, Any]]]:
        return [
            ((eid, 5, domain), {
                "exporter": self.ctx.exporter_names[eid], "version": 5, "domain": domain,
                "records": state.records,
                "sampling": self.ctx.overrides.get(eid, state.sampling), "samplers": {},
                "templates": [{"id": 0, "options": False, "fields": len(_LAYOUT),
                               "record_length": RECORD_LENGTH}],
                "pending_sets": 0,
            })
            for (eid, domain), state in sorted(self.domains.items())
        ]  # fmt: skip
