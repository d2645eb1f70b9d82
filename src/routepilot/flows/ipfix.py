"""NetFlow v9 (RFC 3954) and IPFIX (RFC 7011): the template-based formats' decoder.

Only headers, set headers and templates are parsed here, in Python; data
records are set aside as byte slices and decoded in bulk at flush time. Every
malformed piece is a counted drop with a reason and never an exception. One
:class:`TemplateDecoder` serves one version; the two differ only in wire
constants (set ids, field-spec layout, what the sequence number counts).
"""

from __future__ import annotations

import struct
from typing import Any

from routepilot.flows.config import FlowsConfig
from routepilot.flows.domains import NO_UPTIME, DomainState, HeldRecords, HeldSet, RecordBuffer
from routepilot.flows.format import DecoderContext
from routepilot.flows.options import learn_rates
from routepilot.flows.quota import Limits, QuotaTable, UsageLedger
from routepilot.flows.records import FlowBatch
from routepilot.flows.sequence import MASK, MAX_GAP
from routepilot.flows.templates import (
    Template,
    TemplateField,
    compile_options_template,
    compile_template,
    normalise,
    sampler_rates,
)

_V9_HEADER = struct.Struct(">HHIIII")  # RFC 3954 §5.1: version, count, uptime, secs, seq, source id
_IPFIX_HEADER = struct.Struct(">HHIII")  # RFC 7011 §3.1: version, length, time, seq, domain
_SET = struct.Struct(">HH")
_HH = struct.Struct(">HH")
_HHH = struct.Struct(">HHH")
_I = struct.Struct(">I")

V9_TEMPLATE_SET = 0
V9_OPTIONS_SET = 1
IPFIX_TEMPLATE_SET = 2
IPFIX_OPTIONS_SET = 3
MIN_DATA_SET = 256
MAX_SAMPLERS = 256
"""Samplers remembered per (exporter, domain)."""


class _Message:
    """What one message's sets held: decoded data records, template records, held sets;
    and when it arrived, with its header's sysUptime (NetFlow v9), which place its
    records' times."""

    __slots__ = ("records", "templates", "held", "arrived", "uptime")

    def __init__(self, arrived: float, uptime: int = NO_UPTIME) -> None:
        self.records = 0
        self.templates = 0
        self.held: list[HeldSet] = []
        self.arrived = arrived
        self.uptime = uptime


class TemplateDecoder:
    """Decodes NetFlow v9 (``version`` 9) or IPFIX (10) messages, per exporter and domain."""

    def __init__(self, ctx: DecoderContext, version: int) -> None:
        self.ctx = ctx
        self.version = version
        self.ipfix = version == 10
        self.protocol = "ipfix" if self.ipfix else "netflow9"
        self._template_set = IPFIX_TEMPLATE_SET if self.ipfix else V9_TEMPLATE_SET
        self._options_set = IPFIX_OPTIONS_SET if self.ipfix else V9_OPTIONS_SET
        cfg = ctx.config
        self.domains: dict[tuple[int, int], DomainState] = {}
        self.quota: QuotaTable[tuple[int, int]] = QuotaTable(
            cfg.max_domains, cfg.max_domains_per_exporter
        )
        """Domains by exporter; those without a valid template are the first to go."""
        self.usage = UsageLedger(limits(cfg))
        """Templates and held data per exporter and in total, against their caps."""
        self.rates: dict[tuple[int, int], dict[int, int]] = {}
        """(exporter, domain) -> sampler -> rate; outlives the domain's templates."""
        self.buffer = RecordBuffer(ctx)

    @property
    def pending_bytes(self) -> int:
        """Bytes held, over every exporter, while awaiting templates or sampler rates."""
        return self.usage.total.pending_bytes

    # -- state ---------------------------------------------------------------------

    def restore_rate(self, exporter: int, domain: int, sampler: int, rate: int) -> None:
        """A rate remembered from before a restart (the store's sampler table)."""
        samplers = self._samplers(exporter, domain)
        if len(samplers) < MAX_SAMPLERS or sampler in samplers:
            samplers[sampler] = rate

    def _samplers(self, exporter: int, domain: int) -> dict[int, int]:
        key = (exporter, domain)
        samplers = self.rates.get(key)
        if samplers is None:
            samplers = {}
            if len(self.rates) < self.ctx.config.max_domains:
                self.rates[key] = samplers
        return samplers

    def _domain(self, exporter: int, domain: int, now: float) -> DomainState | None:
        key = (exporter, domain)
        state = self.domains.get(key)
        if state is None:
            admission = self.quota.admit(exporter)
            if not admission.ok:
                self.ctx.metrics.drop(admission.reason)
                return None
            if admission.evict is not None:
                self._evict(admission.evict)
            state = DomainState(exporter, self.version, domain, self._samplers(exporter, domain))
            self.domains[key] = state
            self.quota.add(key, exporter)
        else:
            self.quota.touch(key)
        state.last_seen = now
        return state

    def _evict(self, key: tuple[int, int]) -> None:
        """Forgets a domain that never stored a valid template, to make room for another;
        what it held is counted as lost."""
        state = self.domains.pop(key)
        self._give_up(state, lambda arrived: True)
        self.usage.templates(state.exporter, -len(state.templates))
        self.quota.remove(key, state.exporter)
        if not self.rates.get(key):
            # Its place among the remembered sampler tables too, unless it taught one.
            self.rates.pop(key, None)
        self.ctx.metrics.drop("domain_evicted")

    # -- messages --------------------------------------------------------------------

    def decode(self, data: bytes, exporter: int, now: float) -> None:
        # Sets are handed on as slices of one view of the datagram: no copies.
        if self.ipfix:
            self._ipfix(memoryview(data), exporter, now)
        else:
            self._v9(memoryview(data), exporter, now)

    def _v9(self, data: memoryview, exporter: int, now: float) -> None:
        if len(data) < _V9_HEADER.size:
            self.ctx.metrics.drop("truncated_header")
            return
        _, count, uptime, _, seq, source_id = _V9_HEADER.unpack_from(data)
        state = self._domain(exporter, source_id, now)
        if state is None:
            return
        self.ctx.metrics.datagrams["netflow9"] += 1
        msg = _Message(now, uptime)
        self._walk_sets(state, data, _V9_HEADER.size, len(data), now, msg)
        # RFC 3954 §5.1: the count is of every record in the packet, templates included;
        # what the decoded ones leave is what the held sets carry.
        _spread(msg.held, count - msg.templates - msg.records)
        # The sequence number counts export packets of the source id.
        self._gaps(state.sequence.observe(seq, 1))

    def _ipfix(self, data: memoryview, exporter: int, now: float) -> None:
        if len(data) < _IPFIX_HEADER.size:
            self.ctx.metrics.drop("truncated_header")
            return
        _, length, _, seq, domain = _IPFIX_HEADER.unpack_from(data)
        if length < _IPFIX_HEADER.size or length > len(data):
            self.ctx.metrics.drop("bad_message_length")
            return
        state = self._domain(exporter, domain, now)
        if state is None:
            return
        self.ctx.metrics.datagrams["ipfix"] += 1
        # RFC 7011 §3.1: the sequence number counts data records of the domain, so the
        # previous message's held sets carried what this one's number says it skipped.
        tracker = state.sequence
        if state.unknown_sets and tracker.next is None:
            _spread(state.unknown_sets, (seq - state.unknown_start) & MASK)
            state.unknown_sets = []
        msg = _Message(now)
        self._walk_sets(state, data, _IPFIX_HEADER.size, length, now, msg)
        if msg.held:
            state.unknown_sets = msg.held
            state.unknown_start = (seq + msg.records) & MASK
            self._gaps(tracker.observe(seq, -1))
        else:
            self._gaps(tracker.observe(seq, msg.records))

    def _gaps(self, lost: int) -> None:
        if lost:
            self.ctx.metrics.sequence_gaps[self.protocol] += lost

    def _walk_sets(
        self, state: DomainState, data: memoryview, pos: int, end: int, now: float, msg: _Message
    ) -> None:
        metrics = self.ctx.metrics
        while pos < end:
            if end - pos < _SET.size:
                if any(data[pos:end]):
                    metrics.drop("truncated_set")
                return
            set_id, set_len = _SET.unpack_from(data, pos)
            if set_len < _SET.size or pos + set_len > end:
                # Exporters may pad the datagram after the last set (Palo Alto does):
                # zeros to the end are padding, anything else a broken set.
                if any(data[pos:end]):
                    metrics.drop("bad_set_length")
                return
            body = data[pos + _SET.size : pos + set_len]
            pos += set_len
            if set_id >= MIN_DATA_SET:
                self._data_set(state, set_id, body, now, msg)
            elif set_id == self._template_set:
                msg.templates += self._template_set_body(state, body, now)
            elif set_id == self._options_set:
                msg.templates += self._options_set_body(state, body, now)
            else:
                metrics.drop("unknown_set_id")

    # -- templates ---------------------------------------------------------------------

    def _read_fields(
        self, body: memoryview, pos: int, count: int
    ) -> tuple[list[TemplateField], int] | None:
        fields: list[TemplateField] = []
        end = len(body)
        for _ in range(count):
            if pos + 4 > end:
                self.ctx.metrics.drop("truncated_template")
                return None
            ie, length = _HH.unpack_from(body, pos)
            pos += 4
            enterprise = 0
            if self.ipfix and ie & 0x8000:
                # RFC 7011 §3.2: an enterprise-specific element carries its PEN after
                # the length.
                if pos + 4 > end:
                    self.ctx.metrics.drop("truncated_template")
                    return None
                enterprise = _I.unpack_from(body, pos)[0]
                ie &= 0x7FFF
                pos += 4
            if length == 0 and self.ipfix:
                self.ctx.metrics.drop("bad_field_length")
                return None
            # NetFlow v9 exporters send zero-length fields (Juniper's options scope) and
            # length 65535 (H3C): the latter is read as IPFIX variable-length encoding
            # (RFC 7011 §7), as Wireshark does.
            fields.append(TemplateField(ie, length, enterprise))
        return fields, pos

    def _template_set_body(self, state: DomainState, body: memoryview, now: float) -> int:
        """Stores a template set's templates; returns how many records it held."""
        pos = 0
        n = 0
        while len(body) - pos >= 4:
            tid, count = _HH.unpack_from(body, pos)
            pos += 4
            n += 1
            if count == 0 and self.ipfix:
                self.usage.templates(state.exporter, -_withdraw(state, tid, IPFIX_TEMPLATE_SET))
                continue
            if tid < MIN_DATA_SET:
                self.ctx.metrics.drop("bad_template_id")
                return n
            parsed = self._read_fields(body, pos, count)
            if parsed is None:
                return n
            fields, pos = parsed
            self._store(state, tid, fields, None, now)
        return n

    def _options_set_body(self, state: DomainState, body: memoryview, now: float) -> int:
        pos = 0
        n = 0
        while len(body) - pos >= 4:
            if self.ipfix:
                # RFC 7011 §3.4.2.2: template id, field count, scope field count; a
                # withdrawal (§8.1) is only the first two.
                tid, count = _HH.unpack_from(body, pos)
                n += 1
                if count == 0:
                    self.usage.templates(state.exporter, -_withdraw(state, tid, IPFIX_OPTIONS_SET))
                    pos += 4
                    continue
                if len(body) - pos < 6:
                    self.ctx.metrics.drop("truncated_template")
                    return n
                scope = _HHH.unpack_from(body, pos)[2]
                pos += 6
                if scope == 0 or scope > count:
                    self.ctx.metrics.drop("bad_options_template")
                    return n
            else:
                # RFC 3954 §6.1: template id, scope length, option length (both in bytes).
                if len(body) - pos < 6:
                    return n  # padding
                tid, scope_len, option_len = _HHH.unpack_from(body, pos)
                pos += 6
                n += 1
                if scope_len % 4 or option_len % 4:
                    self.ctx.metrics.drop("bad_options_template")
                    return n
                scope, count = scope_len // 4, (scope_len + option_len) // 4
            if tid < MIN_DATA_SET:
                self.ctx.metrics.drop("bad_template_id")
                return n
            parsed = self._read_fields(body, pos, count)
            if parsed is None:
                return n
            fields, pos = parsed
            self._store(state, tid, fields, scope, now)
        return n

    def _store(
        self,
        state: DomainState,
        tid: int,
        fields: list[TemplateField],
        scope: int | None,
        now: float,
    ) -> None:
        """Keeps a template (``scope`` None: a data template) and decodes what waited."""
        options = scope is not None
        old = state.templates.get(tid)
        if old is not None and old.fields == tuple(fields) and old.options == options:
            old.last_seen = now  # a refresh, the common case: no recompilation
            return
        if old is None and (
            len(state.templates) >= self.ctx.config.max_templates
            or not self.usage.template_room(state.exporter)
        ):
            self.ctx.metrics.drop("template_cache_full")
            return
        try:
            if scope is None:
                t = compile_template(tid, fields)
            else:
                t = compile_options_template(tid, fields, scope)
        except ValueError:
            self.ctx.metrics.drop("bad_template")
            return
        t.last_seen = now
        state.templates[tid] = t
        if old is None:
            self.usage.templates(state.exporter, 1)
        # A valid template proves the domain is a real exporter's: it is no longer the
        # first to give way when junk fills the cache.
        self.quota.prove((state.exporter, state.domain))
        held = state.pending.pop(tid, None)
        for h in held or ():
            self._release(state, len(h.body))
            self._data_set(state, tid, memoryview(h.body), now, _Message(h.arrived, h.uptime))

    # -- data ------------------------------------------------------------------------

    def _data_set(
        self, state: DomainState, tid: int, body: memoryview, now: float, msg: _Message
    ) -> None:
        t = state.templates.get(tid)
        if t is None:
            held = self._hold(state, tid, body, now, msg.uptime)
            if held is not None:
                msg.held.append(held)
            return
        buf: bytes | memoryview
        if t.variable:
            buf, n, left = normalise(t, body, 1 << 20)
            if left > 3:
                self.ctx.metrics.drop("truncated_record")
        else:
            n = len(body) // t.record_length
            buf = body[: n * t.record_length]
            if n == 0 and len(body) > 3:
                # More than padding yet less than one record: the template claims absurd
                # lengths, or the set was cut.
                self.ctx.metrics.drop("short_data_set")
        msg.records += n
        if n == 0:
            return
        if t.options:
            self._options_data(t, state, bytes(buf), now)
            return
        self._records(t, state, buf, n, now, msg)

    def _records(
        self,
        t: Template,
        state: DomainState,
        buf: bytes | memoryview,
        n: int,
        now: float,
        msg: _Message,
    ) -> None:
        """Hands records to the buffer with their rates, or holds them while a sampler
        they name has no known rate (the daemon and `flows decode` then agree)."""
        rates: Any = state.sampling
        if "sampler" in t.plan and state.exporter not in self.ctx.overrides:
            rates = sampler_rates(t, buf, state.samplers)
            if rates is None:
                if self._room(state, len(buf)):
                    state.held.append(HeldRecords(t, bytes(buf), n, now, msg.arrived, msg.uptime))
                    self._keep(state, len(buf))
                return
        self.ctx.metrics.records[self.protocol] += n
        self.buffer.add(t, state, buf, n, rates, msg.arrived, msg.uptime)

    def _options_data(self, t: Template, state: DomainState, buf: bytes, now: float) -> None:
        """Options records carry sampling (RFC 3954 §6.1, RFC 7011 §4.1); kept per domain."""
        exporter = self.ctx.exporter_names[state.exporter]
        learned = learn_rates(t, buf, state.samplers, MAX_SAMPLERS, self.ctx.metrics)
        for sampler, rate in learned:
            self.ctx.learned_rate(exporter, self.version, state.domain, sampler, rate, now)
        if learned and state.held:
            held, state.held = state.held, []
            for h in held:
                self._release(state, len(h.buf))
                clock = _Message(h.datagram_arrived, h.uptime)
                self._records(h.template, state, h.buf, h.count, h.arrived, clock)

    def _room(self, state: DomainState, size: int) -> bool:
        """Whether ``size`` more bytes may be held: within the domain's, the exporter's
        and the format's caps."""
        if state.pending_count >= self.ctx.config.max_pending_sets or not (
            self.usage.pending_room(state.exporter, size)
        ):
            self.ctx.metrics.drop("pending_cache_full")
            return False
        return True

    def _keep(self, state: DomainState, size: int) -> None:
        state.pending_count += 1
        self.usage.pending(state.exporter, 1, size)

    def _release(self, state: DomainState, size: int) -> None:
        state.pending_count -= 1
        self.usage.pending(state.exporter, -1, -size)

    def _hold(
        self, state: DomainState, tid: int, body: memoryview, now: float, uptime: int
    ) -> HeldSet | None:
        """Keeps a data set whose template has not arrived yet (RFC 7011 §8 allows it)."""
        if not self._room(state, len(body)):
            return None
        held = HeldSet(bytes(body), now, uptime=uptime)
        state.pending.setdefault(tid, []).append(held)
        self._keep(state, len(body))
        return held

    # -- housekeeping -----------------------------------------------------------------

    def flush(self) -> FlowBatch:
        return self.buffer.flush()

    def expire(self, now: float) -> None:
        """Forgets stale templates and gives up on data held too long."""
        timeout = self.ctx.config.template_timeout_s
        hold = self.ctx.config.pending_hold_s
        for state in self.domains.values():
            for tid in [k for k, t in state.templates.items() if now - t.last_seen > timeout]:
                del state.templates[tid]
                self.usage.templates(state.exporter, -1)
                self.ctx.metrics.drop("template_expired")
            self._give_up(state, lambda arrived: now - arrived > hold)
        # A domain with nothing left that has been silent as long is forgotten, so that
        # the cap on domains is about live exporters, not every one ever seen.
        for key in [
            k for k, st in self.domains.items()
            if not st.templates and not st.pending_count and now - st.last_seen > timeout
        ]:  # fmt: skip
            self._gaps(self.domains.pop(key).sequence.finish())
            self.quota.remove(key, key[0])

    def finish(self) -> None:
        for state in self.domains.values():
            self._give_up(state, lambda arrived: True)
            self._gaps(state.sequence.finish())

    def _give_up(self, state: DomainState, due: Any) -> None:
        """Counts held data that is due as lost records (not as one drop per set)."""
        metrics = self.ctx.metrics
        for tid in list(state.pending):
            kept = []
            for h in state.pending[tid]:
                if due(h.arrived):
                    metrics.drop("no_template", max(h.records, 1))
                    self._release(state, len(h.body))
                else:
                    kept.append(h)
            if kept:
                state.pending[tid] = kept
            else:
                del state.pending[tid]
        kept_records = []
        for r in state.held:
            if due(r.arrived):
                metrics.drop("no_sampler_rate", r.count)
                self._release(state, len(r.buf))
            else:
                kept_records.append(r)
        state.held = kept_records

    def templates(self) -> int:
        return sum(len(s.templates) for s in self.domains.values())

    def pending_sets(self) -> int:
        return sum(s.pending_count for s in self.domains.values())

    def summary(self) -> list[tuple[tuple[int, int, int], dict[str, Any]]]:
        out = []
        names = self.ctx.exporter_names
        for (eid, domain), state in sorted(self.domains.items()):
            out.append(((eid, self.version, domain), {
                "exporter": names[eid],
                "version": self.version,
                "domain": domain,
                "records": state.records,
                "sampling": self.ctx.overrides.get(eid, state.sampling),
                "samplers": {k: v for k, v in sorted(state.samplers.items()) if k},
                "templates": [
                    {"id": t.template_id, "options": t.options, "fields": len(t.fields),
                     "record_length": t.record_length or None}
                    for _, t in sorted(state.templates.items())
                ],
                "pending_sets": state.pending_count,
            }))  # fmt: skip
        return out


def _spread(held: list[HeldSet], records: int) -> None:
    """Shares a number of records out among held sets (what is lost if they stay held)."""
    if not held or records <= 0 or records >= MAX_GAP:
        return
    each, extra = divmod(records, len(held))
    for i, h in enumerate(held):
        h.records = each + (1 if i < extra else 0)


def limits(cfg: FlowsConfig) -> Limits:
    """The caps on templates and held data, per exporter and per format."""
    return Limits(
        templates=cfg.max_templates_total,
        templates_per_exporter=cfg.max_templates_per_exporter,
        pending_sets=cfg.max_pending_sets_total,
        pending_sets_per_exporter=cfg.max_pending_sets_per_exporter,
        pending_bytes=cfg.max_pending_bytes,
        pending_bytes_per_exporter=cfg.max_pending_bytes_per_exporter,
    )


def _withdraw(state: DomainState, tid: int, set_id: int) -> int:
    """RFC 7011 §8.1: field count 0 withdraws a template; the id of the set it came in
    (template or options template set) withdraws every template of that kind. Returns
    how many templates went."""
    if tid in (IPFIX_TEMPLATE_SET, IPFIX_OPTIONS_SET):
        options = set_id == IPFIX_OPTIONS_SET
        gone = [k for k, t in state.templates.items() if t.options == options]
        for t_id in gone:
            del state.templates[t_id]
        return len(gone)
    return 0 if state.templates.pop(tid, None) is None else 1
