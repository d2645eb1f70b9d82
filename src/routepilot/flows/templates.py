"""NetFlow v9 / IPFIX templates compiled to numpy structured dtypes.

A template (RFC 3954 §5.2, RFC 7011 §3.4.1) lists fields and their lengths.
We compile it once into a dtype that names only the fields routepilot uses, at
their offsets, with the record length as itemsize: ``np.frombuffer`` then
reads every record of a batch in one call, big-endian as on the wire, and
``astype`` converts a column to native order in one copy. Fields of any other
length are reduced-size encodings (RFC 7011 §6.2) and are read byte-wise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from routepilot.flows.records import COLUMNS, UNTIMED, FlowBatch

VARIABLE = 65535
"""IPFIX variable-length field marker (RFC 7011 §7)."""

# Information elements (IANA IPFIX registry; NetFlow v9 uses the same numbers).
IE_OCTETS = 1
IE_PACKETS = 2
IE_PROTOCOL = 4
IE_TCP_FLAGS = 6
IE_SRC4 = 8
IE_IN_IF = 10
IE_DST4 = 12
IE_OUT_IF = 14
IE_NEXTHOP4 = 15
IE_BGP_NEXTHOP4 = 18
IE_LAST_SWITCHED = 21
IE_FIRST_SWITCHED = 22
IE_POST_OCTETS = 23
IE_POST_PACKETS = 24
IE_SRC6 = 27
IE_DST6 = 28
IE_SAMPLING_INTERVAL = 34
IE_SAMPLING_ALGORITHM = 35
IE_SAMPLER_ID = 48
IE_SAMPLER_RANDOM_INTERVAL = 50
IE_IP_VERSION = 60
IE_NEXTHOP6 = 62
IE_BGP_NEXTHOP6 = 63
IE_OCTETS_TOTAL = 85
IE_PACKETS_TOTAL = 86
IE_FLOW_START_SECONDS = 150
IE_FLOW_END_SECONDS = 151
IE_FLOW_START_MS = 152
IE_FLOW_END_MS = 153
IE_SELECTOR_ID = 302
IE_SAMPLING_PACKET_INTERVAL = 305
IE_SAMPLING_PACKET_SPACE = 306

# Which information elements feed which batch column, best first.
_SCALARS: dict[str, tuple[int, ...]] = {
    # Delta counters only: octetTotalCount/packetTotalCount (85/86) are running totals
    # of a flow, which summed export after export would count its traffic many times.
    "bytes": (IE_OCTETS, IE_POST_OCTETS),
    "packets": (IE_PACKETS, IE_POST_PACKETS),
    "out_if": (IE_OUT_IF,),
    "dst4": (IE_DST4,),
    # The BGP next hop first; a record whose BGP next hop is 0.0.0.0 (present but
    # unset, as routers export it for locally resolved routes) falls back to the IP one.
    "nh4": (IE_BGP_NEXTHOP4,),
    "nh4_ip": (IE_NEXTHOP4,),
    "sampling": (IE_SAMPLING_INTERVAL, IE_SAMPLER_RANDOM_INTERVAL),
    "sampler": (IE_SAMPLER_ID, IE_SELECTOR_ID),
    "packet_interval": (IE_SAMPLING_PACKET_INTERVAL,),
    "packet_space": (IE_SAMPLING_PACKET_SPACE,),
    "ip_version": (IE_IP_VERSION,),
    "proto": (IE_PROTOCOL,),
    # tcpControlBits: one byte in NetFlow v9 and v5, two in IPFIX (RFC 7125); the flags
    # of every packet of the flow ORed together.
    "tcp_flags": (IE_TCP_FLAGS,),
    "src4": (IE_SRC4,),
    # When the record's packets were seen. NetFlow v5/v9 FIRST_SWITCHED/LAST_SWITCHED are
    # the exporter's uptime in ms (RFC 3954 §8), read against the header's sysUptime;
    # IPFIX flowStart/EndMilliseconds and Seconds are absolute (RFC 7011 §6.1.7-8). IPFIX's
    # flowStart/EndSysUpTime (22/21) count from a systemInitTimeMilliseconds that only
    # options data carries, and are not read.
    "up_first": (IE_FIRST_SWITCHED,),
    "up_last": (IE_LAST_SWITCHED,),
    "ms_first": (IE_FLOW_START_MS,),
    "ms_last": (IE_FLOW_END_MS,),
    "s_first": (IE_FLOW_START_SECONDS,),
    "s_last": (IE_FLOW_END_SECONDS,),
}
_ADDR6: dict[str, tuple[int, ...]] = {
    "src6": (IE_SRC6,),
    "dst6": (IE_DST6,),
    "nh6": (IE_BGP_NEXTHOP6,),
    "nh6_ip": (IE_NEXTHOP6,),
}


_IPV4 = ("dst4", "nh4", "nh4_ip", "src4")
_EXACT = {"up_first": 4, "up_last": 4, "ms_first": 8, "ms_last": 8, "s_first": 4, "s_last": 4}
"""Time fields are read only at their own size (no reduced-size encoding for them)."""


@dataclass(frozen=True)
class TemplateField:
    ie: int
    length: int
    enterprise: int = 0


@dataclass
class Template:
    """One compiled template of one (exporter, observation domain)."""

    template_id: int
    fields: tuple[TemplateField, ...]
    scope_count: int = 0
    """Options templates only: how many leading fields are scope fields."""
    options: bool = False
    """An options template (RFC 3954 §6.1, RFC 7011 §3.4.2.2): its records describe the
    exporter (sampling), not traffic."""
    last_seen: float = 0.0
    record_length: int = 0
    """Bytes per record; 0 when a field is variable-length."""
    dtype: np.dtype | None = None
    plan: dict[str, tuple[str, int]] = field(default_factory=dict)
    """Column -> (dtype field name, wire length) for the fields routepilot reads."""
    fixed_fields: tuple[int, ...] = ()
    """Variable-length templates: indexes of the fields kept when normalising records."""

    @property
    def variable(self) -> bool:
        return self.record_length == 0

    timed: bool = False
    """Whether its records carry first and last packet times routepilot reads."""


def compile_template(template_id: int, tfields: list[TemplateField]) -> Template:
    """Compiles a data template; raises ValueError for an unusable one."""
    return _compile(Template(template_id, tuple(tfields)))


def compile_options_template(
    template_id: int, tfields: list[TemplateField], scope_count: int
) -> Template:
    """Compiles an options template, whose first ``scope_count`` fields are its scope."""
    return _compile(Template(template_id, tuple(tfields), scope_count, options=True))


def _compile(t: Template) -> Template:
    """Builds the dtype and extraction plan of ``t``.

    Zero-length fields (NetFlow v9 exporters send them, as Juniper's options scope)
    carry nothing and take no room; a template whose records take no room at all
    cannot delimit records and is unusable.
    """
    tfields = list(t.fields)
    if not tfields:
        raise ValueError("template without fields")
    variable = any(f.length == VARIABLE for f in tfields)
    # A variable-length template is decoded after normalisation: each record's
    # fixed-length fields are copied into a fixed layout (see normalise()), so
    # the dtype below describes that layout, not the wire.
    kept = [i for i, f in enumerate(tfields) if f.length != VARIABLE]
    t.fixed_fields = tuple(kept) if variable else ()
    layout = [tfields[i] for i in kept] if variable else list(tfields)
    names: list[str] = []
    formats: list[object] = []
    offsets: list[int] = []
    plan: dict[str, tuple[str, int]] = {}
    offset = 0
    by_ie: dict[int, tuple[int, int]] = {}
    for f in layout:
        if f.enterprise == 0 and f.ie not in by_ie and f.length:
            by_ie[f.ie] = (offset, f.length)
        offset += f.length
    size = offset

    def add(column: str, ies: tuple[int, ...], wanted: tuple[int, ...]) -> None:
        for ie in ies:
            if ie in by_ie and by_ie[ie][1] in wanted:
                off, length = by_ie[ie]
                name = f"c_{column}"
                names.append(name)
                formats.append(f">u{length}" if length in (1, 2, 4, 8) else ("u1", (length,)))
                offsets.append(off)
                plan[column] = (name, length)
                return

    for column, ies in _SCALARS.items():
        # Addresses must be exactly 4 bytes; counters and ids may use reduced-size encoding.
        if column in _EXACT:
            add(column, ies, (_EXACT[column],))
        else:
            add(column, ies, (4,) if column in _IPV4 else (1, 2, 3, 4, 5, 6, 7, 8))
    for column, ies in _ADDR6.items():
        for ie in ies:
            if ie in by_ie and by_ie[ie][1] == 16:
                off = by_ie[ie][0]
                names += [f"c_{column}_hi", f"c_{column}_lo"]
                formats += [">u8", ">u8"]
                offsets += [off, off + 8]
                plan[column] = (f"c_{column}", 16)
                break
    if size == 0 and not variable:
        raise ValueError("records of zero length")
    t.record_length = 0 if variable else size
    t.dtype = np.dtype(
        {"names": names, "formats": formats, "offsets": offsets, "itemsize": max(size, 1)}
    )
    t.plan = plan
    t.timed = any(
        first in plan and last in plan
        for first, last in (("up_first", "up_last"), ("ms_first", "ms_last"), ("s_first", "s_last"))
    )
    return t


def _column(arr: np.ndarray, name: str, length: int, out: type) -> np.ndarray:
    if length in (1, 2, 4, 8):
        return arr[name].astype(out)
    raw = arr[name]
    value = np.zeros(len(arr), dtype=np.uint64)
    for i in range(length - 8 if length > 8 else 0, length):
        value = (value << np.uint64(8)) | raw[:, i].astype(np.uint64)
    return value.astype(out)


def column(t: Template, arr: np.ndarray, name: str) -> np.ndarray | None:
    """One scalar column of decoded records as uint64, or None when the template lacks it."""
    if name not in t.plan:
        return None
    field_name, length = t.plan[name]
    return _column(arr, field_name, length, np.uint64)


def extract(
    t: Template,
    buf: bytes,
    exporter: int,
    sampling: np.ndarray,
    arrival: np.ndarray | None = None,
    uptime: np.ndarray | None = None,
) -> FlowBatch:
    """Decodes every record in ``buf`` (whole records of template ``t``) into a batch.

    ``sampling`` holds, per record, the rate known when it arrived (its sampler's,
    else its domain's); a rate carried in the record itself takes precedence.
    ``arrival`` and ``uptime`` hold, per record, when its datagram arrived (collector
    clock, s) and the exporter's uptime in ms that its header gave (NetFlow v5/v9; None
    for IPFIX): records' uptime stamps are placed on the collector's clock by them.
    """
    assert t.dtype is not None
    arr = np.frombuffer(buf, dtype=t.dtype)
    n = len(arr)
    cols: dict[str, np.ndarray] = {}
    for col, (name, length) in t.plan.items():
        if length == 16:
            cols[col + "_hi"] = arr[name + "_hi"].astype(np.uint64)
            cols[col + "_lo"] = arr[name + "_lo"].astype(np.uint64)
        elif col in COLUMNS:
            cols[col] = _column(arr, name, length, COLUMNS[col])
        elif col in ("nh4_ip", "src4"):
            cols[col] = _column(arr, name, length, np.uint32)
    _fall_back(cols, "nh4", "nh4_ip", ("",))
    _fall_back(cols, "nh6", "nh6_ip", ("_hi", "_lo"))
    batch = FlowBatch(
        exporter=np.full(n, exporter, dtype=np.uint32),
        family=np.zeros(n, dtype=np.uint8),
        dst4=cols.get("dst4", np.zeros(n, dtype=np.uint32)),
        dst6_hi=cols.get("dst6_hi", np.zeros(n, dtype=np.uint64)),
        dst6_lo=cols.get("dst6_lo", np.zeros(n, dtype=np.uint64)),
        nh4=cols.get("nh4", np.zeros(n, dtype=np.uint32)),
        nh6_hi=cols.get("nh6_hi", np.zeros(n, dtype=np.uint64)),
        nh6_lo=cols.get("nh6_lo", np.zeros(n, dtype=np.uint64)),
        out_if=cols.get("out_if", np.zeros(n, dtype=np.uint32)),
        bytes=cols.get("bytes", np.zeros(n, dtype=np.uint64)),
        packets=cols.get("packets", np.zeros(n, dtype=np.uint64)),
        sampling=sampling,
        proto=cols.get("proto", np.zeros(n, dtype=np.uint8)),
        tcp_flags=cols.get("tcp_flags", np.zeros(n, dtype=np.uint16)),
        src=_source(cols, n),
        start=np.full(n, UNTIMED),
        end=np.full(n, UNTIMED),
    )
    if t.timed:
        _times(t, arr, batch, arrival, uptime)
    if "dst4" in t.plan and "dst6" in t.plan:
        # One template for both families (some routers do this): ipVersion says which,
        # else whichever address is set.
        version = column(t, arr, "ip_version")
        if version is None:
            version = np.where((batch.dst6_hi | batch.dst6_lo) != 0, 6, 4)
        batch.family[:] = np.where(version == 6, 6, 4)
    elif "dst4" in t.plan:
        batch.family[:] = 4
    elif "dst6" in t.plan:
        batch.family[:] = 6
    if "sampling" in t.plan:
        own = cols["sampling"]
        batch.sampling = np.where(own > 0, own, sampling).astype(np.uint32)
    return batch


def _times(
    t: Template,
    arr: np.ndarray,
    batch: FlowBatch,
    arrival: np.ndarray | None,
    uptime: np.ndarray | None,
) -> None:
    """Fills ``batch.start`` and ``end`` from the record's own time fields.

    Absolute stamps are taken on the exporter's clock as they are (an exporter that
    stamps absolute times keeps NTP time). Uptime stamps are ages before the header's
    sysUptime, placed before the datagram's arrival: 32-bit milliseconds that wrap every
    49.7 days, so the difference is taken modulo 2^32 and read as signed (a stamp a few
    ms after the header's uptime is not 49 days old). Zero stamps (unset) stay NaN.
    """
    for unit, first, last in ((1e-3, "ms_first", "ms_last"), (1.0, "s_first", "s_last")):
        if first in t.plan and last in t.plan:
            start = arr[t.plan[first][0]].astype(np.float64)
            end = arr[t.plan[last][0]].astype(np.float64)
            start *= unit
            end *= unit
            unset = (start <= 0) | (end <= 0)
            if unset.any():
                start[unset] = end[unset] = UNTIMED
            batch.start, batch.end = start, end
            return
    if arrival is None or uptime is None or "up_first" not in t.plan or "up_last" not in t.plan:
        return
    up = uptime.astype(np.uint32)
    for name, out in (("up_first", "start"), ("up_last", "end")):
        age = (up - arr[t.plan[name][0]].astype(np.uint32)).view(np.int32)
        setattr(batch, out, arrival - age * 1e-3)


def _source(cols: dict[str, np.ndarray], n: int) -> np.ndarray:
    """The source key column (see :class:`FlowBatch`): the IPv4 source where the record
    has one set, else the IPv6 source's halves XORed."""
    src = cols.get("src4")
    if "src6_hi" not in cols:
        return np.zeros(n, dtype=np.uint64) if src is None else src.astype(np.uint64)
    six = cols["src6_hi"] ^ cols["src6_lo"]
    return six if src is None else np.where(src != 0, src.astype(np.uint64), six)


def _fall_back(cols: dict[str, np.ndarray], best: str, other: str, parts: tuple[str, ...]) -> None:
    """Fills a next hop that is absent or all zero from the other next-hop field."""
    if other + parts[0] not in cols:
        return
    if best + parts[0] not in cols:
        for p in parts:
            cols[best + p] = cols[other + p]
        return
    unset = np.ones(len(cols[best + parts[0]]), dtype=bool)
    for p in parts:
        unset &= cols[best + p] == 0
    for p in parts:
        cols[best + p] = np.where(unset, cols[other + p], cols[best + p])


def sampler_rates(
    t: Template, buf: bytes | memoryview, samplers: dict[int, int]
) -> np.ndarray | None:
    """Per record of ``buf``, the rate of the sampler it names (id 0: the domain's rate,
    ``samplers[0]``, 1 if unknown); None when a record names a sampler not known yet."""
    assert t.dtype is not None
    ids = column(t, np.frombuffer(buf, dtype=t.dtype), "sampler")
    assert ids is not None
    unique, inverse = np.unique(ids, return_inverse=True)
    rates = []
    for sid in unique.tolist():
        rate = samplers.get(sid, 1 if sid == 0 else None)
        if rate is None:
            return None
        rates.append(rate)
    return np.array(rates, dtype=np.uint32)[inverse]


def normalise(t: Template, data: memoryview, count_limit: int) -> tuple[bytes, int, int]:
    """Copies the fixed fields of variable-length records into the compiled layout.

    Returns (normalised bytes, records, leftover bytes). Stops at the first
    record that would run past the end (the caller counts it as a drop when the
    leftover is more than padding).
    """
    out = bytearray()
    pos = 0
    end = len(data)
    n = 0
    keep = set(t.fixed_fields)
    while pos < end and n < count_limit:
        start = pos
        pieces: list[memoryview] = []
        ok = True
        for i, f in enumerate(t.fields):
            length = f.length
            if length == VARIABLE:
                if pos >= end:
                    ok = False
                    break
                length = data[pos]
                pos += 1
                if length == 255:
                    if pos + 2 > end:
                        ok = False
                        break
                    length = (data[pos] << 8) | data[pos + 1]
                    pos += 2
            if pos + length > end:
                ok = False
                break
            if i in keep:
                pieces.append(data[pos : pos + length])
            pos += length
        if not ok:
            return bytes(out), n, end - start
        for p in pieces:
            out += p
        n += 1
    return bytes(out), n, end - pos
