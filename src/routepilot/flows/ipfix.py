"""NetFlow v9 (RFC 3954) and IPFIX (RFC 7011) message parsing.

Only headers, set headers and templates are parsed here, in Python; data
records are handed to the decoder as byte slices and decoded in bulk later.
Every malformed piece is a counted drop with a reason and never an exception.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from routepilot.flows.templates import (
    VARIABLE,
    TemplateField,
    compile_template,
    normalise,
)

if TYPE_CHECKING:
    from routepilot.flows.decoder import DomainState, FlowDecoder

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
MAX_SEQUENCE_GAP = 1 << 20
"""A bigger jump is an exporter restart or reordering, not loss."""


def parse_v9(dec: FlowDecoder, data: memoryview, eid: int, now: float) -> None:
    if len(data) < _V9_HEADER.size:
        dec.metrics.drop("truncated_header")
        return
    _, _, _, _, seq, source_id = _V9_HEADER.unpack_from(data)
    state = dec.domain(eid, 9, source_id, now)
    if state is None:
        return
    dec.metrics.datagrams["netflow9"] += 1
    # RFC 3954 §5.1: the sequence number counts export packets of the source id.
    _sequence(dec, state, seq, "netflow9")
    _walk_sets(dec, state, data, _V9_HEADER.size, len(data), now, "netflow9")
    state.next_seq = (seq + 1) & 0xFFFFFFFF


def parse_ipfix(dec: FlowDecoder, data: memoryview, eid: int, now: float) -> None:
    if len(data) < _IPFIX_HEADER.size:
        dec.metrics.drop("truncated_header")
        return
    _, length, _, seq, domain = _IPFIX_HEADER.unpack_from(data)
    if length < _IPFIX_HEADER.size or length > len(data):
        dec.metrics.drop("bad_message_length")
        return
    state = dec.domain(eid, 10, domain, now)
    if state is None:
        return
    dec.metrics.datagrams["ipfix"] += 1
    # RFC 7011 §3.1: the sequence number counts data records of the domain, so the
    # next message's is this one's plus the records in it (unknown while any is held).
    _sequence(dec, state, seq, "ipfix")
    records = _walk_sets(dec, state, data, _IPFIX_HEADER.size, length, now, "ipfix")
    state.next_seq = (seq + records) & 0xFFFFFFFF if records >= 0 else None


def _sequence(dec: FlowDecoder, state: DomainState, seq: int, protocol: str) -> None:
    """Counts what the exporter sent that never arrived; reordering and restarts are not."""
    if state.next_seq is not None and seq != state.next_seq:
        gap = (seq - state.next_seq) & 0xFFFFFFFF
        if gap < MAX_SEQUENCE_GAP:
            dec.metrics.sequence_gaps[protocol] += gap


def _walk_sets(
    dec: FlowDecoder,
    state: DomainState,
    data: memoryview,
    pos: int,
    end: int,
    now: float,
    protocol: str,
) -> int:
    """Walks the sets of one message; returns its data records, -1 if some were held."""
    v9 = state.version == 9
    records = 0
    while pos < end:
        if end - pos < _SET.size:
            # NetFlow v9 exporters may pad the datagram after the last set.
            if any(data[pos:end]):
                dec.metrics.drop("truncated_set")
            return -1
        set_id, set_len = _SET.unpack_from(data, pos)
        if set_len < _SET.size or pos + set_len > end:
            dec.metrics.drop("bad_set_length")
            return -1
        body = data[pos + _SET.size : pos + set_len]
        pos += set_len
        if set_id >= MIN_DATA_SET:
            n = _data_set(dec, state, set_id, body, now, protocol)
            records = -1 if n < 0 or records < 0 else records + n
        elif set_id == (V9_TEMPLATE_SET if v9 else IPFIX_TEMPLATE_SET):
            _template_set(dec, state, body, now)
        elif set_id == (V9_OPTIONS_SET if v9 else IPFIX_OPTIONS_SET):
            _options_set(dec, state, body, now)
        else:
            dec.metrics.drop("unknown_set_id")
    return records


def _read_fields(
    dec: FlowDecoder, body: memoryview, pos: int, count: int, ipfix: bool
) -> tuple[list[TemplateField], int] | None:
    fields: list[TemplateField] = []
    end = len(body)
    for _ in range(count):
        if pos + 4 > end:
            dec.metrics.drop("truncated_template")
            return None
        ie, length = _HH.unpack_from(body, pos)
        pos += 4
        enterprise = 0
        if ipfix and ie & 0x8000:
            # RFC 7011 §3.2: an enterprise-specific element carries its PEN after the length.
            if pos + 4 > end:
                dec.metrics.drop("truncated_template")
                return None
            enterprise = _I.unpack_from(body, pos)[0]
            ie &= 0x7FFF
            pos += 4
        if length == 0 or (length == VARIABLE and not ipfix):
            dec.metrics.drop("bad_field_length")
            return None
        fields.append(TemplateField(ie, length, enterprise))
    return fields, pos


def _template_set(dec: FlowDecoder, state: DomainState, body: memoryview, now: float) -> None:
    ipfix = state.version == 10
    pos = 0
    while len(body) - pos >= 4:
        tid, count = _HH.unpack_from(body, pos)
        pos += 4
        if count == 0 and ipfix:
            _withdraw(dec, state, tid, options=False)
            continue
        pos = _template_record(dec, state, body, pos, tid, count, 0, now)
        if pos is None:
            return


def _options_set(dec: FlowDecoder, state: DomainState, body: memoryview, now: float) -> None:
    ipfix = state.version == 10
    pos = 0
    while len(body) - pos >= 4:
        if ipfix:
            # RFC 7011 §3.4.2.2: template id, field count, scope field count; a withdrawal
            # (§8.1) is only the first two.
            tid, count = _HH.unpack_from(body, pos)
            if count == 0:
                _withdraw(dec, state, tid, options=True)
                pos += 4
                continue
            if len(body) - pos < 6:
                dec.metrics.drop("truncated_template")
                return
            scope = _HHH.unpack_from(body, pos)[2]
            pos += 6
            if scope == 0 or scope > count:
                dec.metrics.drop("bad_options_template")
                return
        else:
            # RFC 3954 §6.1: template id, scope length, option length (both in bytes).
            if len(body) - pos < 6:
                return  # padding
            tid, scope_len, option_len = _HHH.unpack_from(body, pos)
            pos += 6
            if scope_len % 4 or option_len % 4:
                dec.metrics.drop("bad_options_template")
                return
            scope, count = scope_len // 4, (scope_len + option_len) // 4
        pos = _template_record(dec, state, body, pos, tid, count, scope, now, options=True)
        if pos is None:
            return


def _template_record(
    dec: FlowDecoder,
    state: DomainState,
    body: memoryview,
    pos: int,
    tid: int,
    count: int,
    scope: int,
    now: float,
    options: bool = False,
) -> int | None:
    """Reads and stores one (options) template record; returns where the next begins,
    None when the rest of the set cannot be trusted."""
    if tid < MIN_DATA_SET:
        dec.metrics.drop("bad_template_id")
        return None
    parsed = _read_fields(dec, body, pos, count, state.version == 10)
    if parsed is None:
        return None
    fields, pos = parsed
    _store(dec, state, tid, fields, scope, options, now)
    return pos


def _withdraw(dec: FlowDecoder, state: DomainState, tid: int, options: bool) -> None:
    """RFC 7011 §8.1: field count 0 withdraws a template; the set id withdraws all."""
    if tid in (IPFIX_TEMPLATE_SET, IPFIX_OPTIONS_SET):
        for t_id in [k for k, t in state.templates.items() if t.options == options]:
            del state.templates[t_id]
    else:
        state.templates.pop(tid, None)


def _store(
    dec: FlowDecoder,
    state: DomainState,
    tid: int,
    fields: list[TemplateField],
    scope: int,
    options: bool,
    now: float,
) -> None:
    old = state.templates.get(tid)
    if old is not None and old.fields == tuple(fields) and old.options == options:
        old.last_seen = now  # a refresh, the common case: no recompilation
        return
    if old is None and len(state.templates) >= dec.config.max_templates:
        dec.metrics.drop("template_cache_full")
        return
    try:
        t = compile_template(tid, fields, scope, options)
    except ValueError:
        dec.metrics.drop("bad_template")
        return
    t.last_seen = now
    state.templates[tid] = t
    held = state.pending.pop(tid, None)
    if held:
        protocol = "ipfix" if state.version == 10 else "netflow9"
        for body, _ in held:
            state.pending_count -= 1
            dec.pending_bytes -= len(body)
            _data_set(dec, state, tid, memoryview(body), now, protocol)


def _data_set(
    dec: FlowDecoder,
    state: DomainState,
    tid: int,
    body: memoryview,
    now: float,
    protocol: str,
) -> int:
    """Hands a data set's records to the decoder; returns how many, -1 when it is held."""
    t = state.templates.get(tid)
    if t is None:
        _hold(dec, state, tid, body, now)
        return -1
    if t.variable:
        buf, n, left = normalise(t, body, 1 << 20)
        if left > 3:
            dec.metrics.drop("truncated_record")
    else:
        n = len(body) // t.record_length
        buf = body[: n * t.record_length]
        if n == 0 and len(body) > 3:
            # More than padding yet less than one record: the template claims absurd
            # lengths, or the set was cut.
            dec.metrics.drop("short_data_set")
    if n == 0:
        return 0
    if t.options:
        dec.options_data(t, state, bytes(buf))
        return n
    dec.metrics.records[protocol] += n
    dec.add_chunk(t, state, buf, n)
    return n


def _hold(dec: FlowDecoder, state: DomainState, tid: int, body: memoryview, now: float) -> None:
    """Keeps a data set whose template has not arrived yet (RFC 7011 §8 allows the race)."""
    cfg = dec.config
    if state.pending_count >= cfg.max_pending_sets:
        dec.metrics.drop("pending_cache_full")
        return
    if dec.pending_bytes + len(body) > cfg.max_pending_bytes:
        dec.metrics.drop("pending_cache_full")
        return
    state.pending.setdefault(tid, []).append((bytes(body), now))
    state.pending_count += 1
    dec.pending_bytes += len(body)
