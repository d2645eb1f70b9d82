"""sFlow v5 flow samples decoded in bulk with numpy (sflow.org/sflow_version_5.txt).

sFlow's samples and records are variable-length and nested, so they cannot be
read with one structured dtype as NetFlow records are. Instead every datagram
of a batch is walked at once: step k reads the k-th sample of every datagram
that has one (a handful of steps for a whole batch), then step r reads the
r-th record of every flow sample, and the sampled packet headers are parsed
as columns. Python does a few numpy calls per step, never work per sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from routepilot.flows.metrics import FlowMetrics

FLOW_SAMPLE = 1
COUNTER_SAMPLE = 2
EXPANDED_FLOW_SAMPLE = 3
EXPANDED_COUNTER_SAMPLE = 4
RECORD_RAW_HEADER = 1
RECORD_IPV4 = 3
RECORD_IPV6 = 4
RECORD_EXT_ROUTER = 1002
RECORD_EXT_GATEWAY = 1003
HEADER_ETHERNET = 1
HEADER_IPV4 = 11
HEADER_IPV6 = 12
PAD = 64
"""Zero bytes after the joined datagrams, so that clipped reads stay in the buffer."""

_VLAN_TAGS = np.array([0x8100, 0x88A8, 0x9100])


class Wire:
    """Big-endian reads at many offsets at once from one byte buffer.

    Each width is a view of the buffer with a stride of one byte, so that element
    ``i`` is the value starting at byte ``i``: a read at N offsets is one gather.
    Offsets past the end (from malformed lengths) are clipped into the zero padding,
    and whatever they read is discarded by the caller's bounds checks.
    """

    def __init__(self, parts: list[bytes]) -> None:
        self.buf = np.frombuffer(b"".join([*parts, bytes(PAD)]), dtype=np.uint8)
        self.limit = len(self.buf) - 8
        n = self.limit + 1
        # Gathered in native order and byte-swapped after: numpy gathers native
        # integers about twice as fast as big-endian ones.
        self._u16 = np.ndarray((n,), dtype="=u2", buffer=self.buf, strides=(1,))
        self._u32 = np.ndarray((n,), dtype="=u4", buffer=self.buf, strides=(1,))
        self._u64 = np.ndarray((n,), dtype="=u8", buffer=self.buf, strides=(1,))
        self._swap = np.little_endian

    def _get(self, view: np.ndarray, off: np.ndarray) -> np.ndarray:
        out = view[np.minimum(off, self.limit)]
        return out.byteswap(inplace=True) if self._swap else out

    def u8(self, off: np.ndarray) -> np.ndarray:
        return self.buf[np.minimum(off, self.limit)].astype(np.int64)

    def u16(self, off: np.ndarray) -> np.ndarray:
        return self._get(self._u16, off).astype(np.int64)

    def u32(self, off: np.ndarray) -> np.ndarray:
        return self._get(self._u32, off).astype(np.int64)

    def u64(self, off: np.ndarray) -> np.ndarray:
        return self._get(self._u64, off)

    def pair(self, off: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Two consecutive 32-bit fields (one read)."""
        x = self._get(self._u64, off)
        return (x >> np.uint64(32)).astype(np.int64), (x & np.uint64(0xFFFFFFFF)).astype(np.int64)


@dataclass
class Samples:
    """Every sample of a batch of datagrams, in arrival order."""

    datagram: np.ndarray
    """Index of its datagram in the batch."""
    fmt: np.ndarray
    body: np.ndarray
    """Offset of its body in the joined buffer."""
    length: np.ndarray


def walk_samples(
    wire: Wire, start: np.ndarray, end: np.ndarray, count: np.ndarray, metrics: FlowMetrics
) -> Samples:
    """Splits datagrams (first sample at ``start``, ``count`` samples) into samples.

    Step k reads the k-th sample of every datagram that has one and stores it in its
    arrival-order slot (its datagram's first slot plus k). A sample that runs past its
    datagram's end loses it and every sample after it, each counted as a drop.
    """
    total = int(count.sum())
    slot0 = np.cumsum(count) - count
    datagram = np.repeat(np.arange(len(count)), count)
    fmt = np.zeros(total, dtype=np.int64)
    body = np.zeros(total, dtype=np.int64)
    length = np.zeros(total, dtype=np.int64)
    filled = np.ones(total, dtype=bool)
    pos = start.copy()
    active = np.flatnonzero(count > 0)
    k = 0
    every = len(count)
    while active.size:
        dense = active.size == every  # every datagram still has samples: no gathers
        p = pos if dense else pos[active]
        last = end if dense else end[active]
        f, n = wire.pair(p)
        ok = (p + 8 + n <= last) & (p + 8 <= last)
        if not ok.all():
            cut = active[~ok]
            metrics.drop("sflow_truncated_sample", int((count[cut] - k).sum()))
            for d in cut.tolist():  # rare: a datagram cut short
                filled[slot0[d] + k : slot0[d] + count[d]] = False
            active, p, f, n = active[ok], p[ok], f[ok], n[ok]
            dense = False
        slots = (slot0 if dense else slot0[active]) + k
        fmt[slots], body[slots], length[slots] = f, p + 8, n
        if dense:
            pos = p + 8 + n
        else:
            pos[active] = p + 8 + n
        k += 1
        active = np.flatnonzero(count > k) if dense else active[count[active] > k]
    if not filled.all():
        datagram, fmt, body, length = datagram[filled], fmt[filled], body[filled], length[filled]
    return Samples(datagram, fmt, body, length)


@dataclass
class FlowColumns:
    """Decoded flow samples, one entry each, in arrival order."""

    datagram: np.ndarray
    family: np.ndarray
    dst_hi: np.ndarray
    dst_lo: np.ndarray
    nh_family: np.ndarray
    nh_hi: np.ndarray
    nh_lo: np.ndarray
    out_if: np.ndarray
    length: np.ndarray
    rate: np.ndarray


class _RecordState(dict):
    """What the records of each flow sample said, by name; the next-hop columns are
    made only when a batch has extended router or gateway records."""

    _HOPS = ("gw_fam", "gw_hi", "gw_lo", "rt_fam", "rt_hi", "rt_lo")

    def __init__(self, n: int) -> None:
        super().__init__((k, np.zeros(n, dtype=np.uint64)) for k in ("dst_hi", "dst_lo", "len"))
        self.n = n
        self.hops = False

    def __missing__(self, key: str) -> np.ndarray:
        if key not in self._HOPS:
            raise KeyError(key)
        self.hops = True
        for k in self._HOPS:
            self.setdefault(k, np.zeros(self.n, dtype=np.int64 if "fam" in k else np.uint64))
        return self[key]


class _Drops:
    """Samples found malformed while reading their records, one drop reason each."""

    def __init__(self, n: int, metrics: FlowMetrics) -> None:
        self.dead = np.zeros(n, dtype=bool)
        self.metrics = metrics

    def kill(self, rows: np.ndarray, mask: np.ndarray, reason: str) -> np.ndarray:
        """Drops ``rows[mask]``; returns the mask of the rows that live on."""
        if mask.any():
            self.dead[rows[mask]] = True
            self.metrics.drop(reason, int(mask.sum()))
        return ~mask


def flow_samples(wire: Wire, s: Samples, metrics: FlowMetrics) -> tuple[FlowColumns, np.ndarray]:
    """Decodes the flow samples among ``s``; returns them and, per sample kept or not,
    whether its header was readable (for the agent's last known rate)."""
    compact = s.fmt == FLOW_SAMPLE
    flows = compact | (s.fmt == EXPANDED_FLOW_SAMPLE)
    sel = np.flatnonzero(flows)
    if len(sel) == len(flows):  # only flow samples, the usual case: no copies
        body, length, datagram = s.body, s.length, s.datagram
    else:
        body, length, datagram = s.body[sel], s.length[sel], s.datagram[sel]
        compact = compact[sel]
    # flow_sample: seq, source, rate, pool, drops, input, output, records (32 bytes);
    # flow_sample_expanded: seq, source type and index, rate, pool, drops, input and
    # output as (format, value) pairs, records (44 bytes).
    head = 32 if compact.all() else np.where(compact, 32, 44)
    drops = _Drops(len(sel), metrics)
    rows = np.arange(len(sel))
    drops.kill(rows, length < head, "sflow_truncated_sample")
    if compact.all():
        rate = wire.u32(body + 8)
        output, nrec = wire.pair(body + 24)
        # Output: top two bits 0 for an ifIndex (1 a discard reason, 2 several).
        out_if = np.where(output >> 30 == 0, output & 0x3FFFFFFF, 0)
    else:
        rate = wire.u32(body + np.where(compact, 8, 12))
        output = wire.u32(body + 24)
        out_fmt, out_value = wire.u32(body + 32), wire.u32(body + 36)
        out_if = np.where(
            compact,
            np.where(output >> 30 == 0, output & 0x3FFFFFFF, 0),
            np.where(out_fmt == 0, out_value, 0),
        )
        nrec = wire.u32(body + np.where(compact, 28, 40))
    live = ~drops.dead
    drops.kill(rows, live & (nrec > (length - head) // 8), "sflow_bad_record_count")
    readable = ~drops.dead
    n = len(sel)
    st = _RecordState(n)
    fam = np.zeros(n, dtype=np.int64)
    pos = body + head
    end = body + length
    r = 0
    active = np.flatnonzero(readable & (nrec > 0))
    while active.size:
        dense = active.size == n  # every sample still reading: no gathers
        p = pos if dense else pos[active]
        keep = drops.kill(active, p + 8 > (end if dense else end[active]), "sflow_truncated_sample")
        rfmt, rlen = wire.pair(p)
        rec = p + 8
        keep &= drops.kill(active, keep & (rec + rlen > (end if dense else end[active])),
                           "sflow_truncated_record")  # fmt: skip
        if not keep.all():
            active, rfmt, rlen, rec = active[keep], rfmt[keep], rlen[keep], rec[keep]
            dense = False
        if dense:
            pos = rec + rlen
        else:
            pos[active] = rec + rlen
        one = rfmt[0] if len(rfmt) and (rfmt == rfmt[0]).all() else None
        for kind, parse in _RECORD_PARSERS:
            if one is not None:  # one record format in this step, the usual case
                if one == kind:
                    parse(wire, drops, active, rec, rlen, fam, st)
                continue
            m = rfmt == kind
            if m.any():
                parse(wire, drops, active[m], rec[m], rlen[m], fam, st)
        r += 1
        if active.size == n:
            active = np.flatnonzero(~drops.dead & (nrec > r))
        else:
            active = active[~drops.dead[active] & (nrec[active] > r)]
    keep = ~drops.dead
    drops.kill(rows, keep & (fam == 0), "sflow_no_destination")
    keep = ~drops.dead
    # The gateway record's next hop is the BGP one, the router record's the IP one; a
    # BGP next hop of 0.0.0.0 or :: (a route without one) falls back to the IP next hop.
    if st.hops:
        gw_fam, rt_fam = st["gw_fam"], st["rt_fam"]
        gw_set = (gw_fam != 0) & ((st["gw_hi"] | st["gw_lo"]) != 0)
        nh_fam = np.where(gw_set, gw_fam, rt_fam)
        nh_hi = np.where(gw_set, st["gw_hi"], st["rt_hi"])
        nh_lo = np.where(gw_set, st["gw_lo"], st["rt_lo"])
    else:
        nh_fam = np.zeros(n, dtype=np.int64)
        nh_hi = nh_lo = np.zeros(n, dtype=np.uint64)
    every = keep.all()

    def kept(a: np.ndarray) -> np.ndarray:
        return a if every else a[keep]

    cols = FlowColumns(
        datagram=kept(datagram), family=kept(fam), dst_hi=kept(st["dst_hi"]),
        dst_lo=kept(st["dst_lo"]), nh_family=kept(nh_fam), nh_hi=kept(nh_hi),
        nh_lo=kept(nh_lo), out_if=kept(out_if), length=kept(st["len"]),
        rate=np.maximum(kept(rate), 1),
    )  # fmt: skip
    if len(sel) == len(s.fmt):
        return cols, readable
    readable_rows = np.zeros(len(s.fmt), dtype=bool)
    readable_rows[sel[readable]] = True
    return cols, readable_rows


def _raw_header(wire: Wire, drops: _Drops, rows: np.ndarray, rec: np.ndarray, rlen: np.ndarray,
                fam: np.ndarray, st: dict[str, np.ndarray]) -> None:  # fmt: skip
    """``sampled_header``: protocol, frame length, stripped, header length, header."""
    if not rows.size:
        return
    keep = drops.kill(rows, rlen < 16, "sflow_truncated_sample")
    if not keep.all():
        rows, rec, rlen = rows[keep], rec[keep], rlen[keep]
    hlen = wire.u32(rec + 12)
    keep = drops.kill(rows, 16 + hlen > rlen, "sflow_truncated_record")
    if not keep.all():
        rows, rec, hlen = rows[keep], rec[keep], hlen[keep]
    proto, frame_length = wire.pair(rec)
    f, hi, lo = packet_destinations(wire, proto, rec + 16, hlen)
    bad = f == 0
    if bad.any():
        drops.metrics.drop("sflow_undecodable_header", int(bad.sum()))
    if not bad.any() and len(rows) == len(fam):  # every sample, in order: plain copies
        fam[:], st["dst_hi"][:], st["dst_lo"][:], st["len"][:] = f, hi, lo, frame_length
        return
    ok = ~bad
    rows = rows[ok]
    fam[rows] = f[ok]
    st["dst_hi"][rows] = hi[ok]
    st["dst_lo"][rows] = lo[ok]
    st["len"][rows] = frame_length[ok]


def _sampled_ipv4(
    wire: Wire,
    drops: _Drops,
    rows: np.ndarray,
    rec: np.ndarray,
    rlen: np.ndarray,
    fam: np.ndarray,
    st: dict[str, np.ndarray],
) -> None:
    """``sampled_ipv4``: used when no header gave a destination."""
    v4 = (rlen >= 32) & (fam[rows] == 0)
    r, o = rows[v4], rec[v4]
    fam[r] = 4
    st["len"][r] = wire.u32(o)
    st["dst_hi"][r] = wire.u32(o + 12)
    st["dst_lo"][r] = 0


def _sampled_ipv6(
    wire: Wire,
    drops: _Drops,
    rows: np.ndarray,
    rec: np.ndarray,
    rlen: np.ndarray,
    fam: np.ndarray,
    st: dict[str, np.ndarray],
) -> None:
    """``sampled_ipv6``: used when no header gave a destination."""
    v6 = (rlen >= 40) & (fam[rows] == 0)
    r, o = rows[v6], rec[v6]
    fam[r] = 6
    st["len"][r] = wire.u32(o)
    st["dst_hi"][r] = wire.u64(o + 24)
    st["dst_lo"][r] = wire.u64(o + 32)


def _gateway(wire: Wire, drops: _Drops, rows: np.ndarray, rec: np.ndarray, rlen: np.ndarray,
             fam: np.ndarray, st: dict[str, np.ndarray]) -> None:  # fmt: skip
    """``extended_gateway``: its next hop is the BGP next hop."""
    _next_hop(wire, drops, rows, rec, rlen, st["gw_fam"], st["gw_hi"], st["gw_lo"])


def _router(wire: Wire, drops: _Drops, rows: np.ndarray, rec: np.ndarray, rlen: np.ndarray,
            fam: np.ndarray, st: dict[str, np.ndarray]) -> None:  # fmt: skip
    """``extended_router``: its next hop is the IP next hop."""
    _next_hop(wire, drops, rows, rec, rlen, st["rt_fam"], st["rt_hi"], st["rt_lo"])


def _next_hop(wire: Wire, drops: _Drops, rows: np.ndarray, rec: np.ndarray, rlen: np.ndarray,
              fams: np.ndarray, hi: np.ndarray, lo: np.ndarray) -> None:  # fmt: skip
    """An ``address`` at the start of an extended router/gateway record."""
    keep = drops.kill(rows, rlen < 4, "sflow_truncated_sample")
    rows, rec, rlen = rows[keep], rec[keep], rlen[keep]
    kind = wire.u32(rec)
    keep = drops.kill(rows, (kind > 2), "sflow_bad_address_type")
    rows, rec, rlen, kind = rows[keep], rec[keep], rlen[keep], kind[keep]
    short = ((kind == 1) & (rlen < 8)) | ((kind == 2) & (rlen < 20))
    keep = drops.kill(rows, short, "sflow_truncated_sample")
    rows, rec, kind = rows[keep], rec[keep], kind[keep]
    fams[rows] = np.where(kind == 1, 4, np.where(kind == 2, 6, 0))
    hi[rows] = np.where(kind == 1, wire.u32(rec + 4).astype(np.uint64), wire.u64(rec + 4))
    lo[rows] = np.where(kind == 2, wire.u64(rec + 12), np.uint64(0))


_RECORD_PARSERS = (
    (RECORD_RAW_HEADER, _raw_header), (RECORD_IPV4, _sampled_ipv4),
    (RECORD_IPV6, _sampled_ipv6), (RECORD_EXT_GATEWAY, _gateway),
    (RECORD_EXT_ROUTER, _router),
)  # fmt: skip
"""Flow record format -> its parser, called with the rows whose record has it."""


def packet_destinations(
    wire: Wire, proto: np.ndarray, start: np.ndarray, length: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Destinations of sampled packet headers: Ethernet (802.1Q/802.1ad tags), IPv4 or
    IPv6. Returns (family, v4 or v6-high, v6-low), family 0 where none is found.

    One 8-byte read at the EtherType covers an untagged or once-tagged frame: the
    EtherType, the tag's inner EtherType and the IP version nibble of either case.
    Frames with more tags take the general walk.
    """
    eth = proto == HEADER_ETHERNET
    x = wire.u64(start + 12)
    outer = (x >> np.uint64(48)).astype(np.int64)
    inner = ((x >> np.uint64(16)) & np.uint64(0xFFFF)).astype(np.int64)
    tagged = eth & np.isin(outer, _VLAN_TAGS)
    etype = np.where(tagged, inner, outer)
    off = np.where(eth, np.where(tagged, 18, 14), 0)
    version = np.where(
        tagged, (x >> np.uint64(12)) & np.uint64(0xF), (x >> np.uint64(44)) & np.uint64(0xF)
    ).astype(np.int64)
    kind = np.where(eth, np.where(etype == 0x0800, HEADER_IPV4,
                    np.where(etype == 0x86DD, HEADER_IPV6, 0)), proto)  # fmt: skip
    kind[eth & (length < off)] = 0
    bare = ~eth
    if bare.any():
        version[bare] = wire.u8(start[bare]) >> 4
    family, hi, lo = _ip_destinations(wire, kind, start + off, length - off, version)
    deep = tagged & np.isin(inner, _VLAN_TAGS)
    if deep.any():
        f, h, lo_ = _tagged_destinations(wire, start[deep], length[deep])
        family[deep], hi[deep], lo[deep] = f, h, lo_
    return family, hi, lo


def _ip_destinations(wire: Wire, kind: np.ndarray, ip: np.ndarray, room: np.ndarray,
                     version: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Destination addresses of IPv4 (offset 16) and IPv6 (offset 24) headers at ``ip``."""
    n = len(kind)
    v4 = (kind == HEADER_IPV4) & (room >= 20) & (version == 4)
    v6 = (kind == HEADER_IPV6) & (room >= 40) & (version == 6)
    family = np.where(v4, 4, np.where(v6, 6, 0))
    lo = np.zeros(n, dtype=np.uint64)
    if v4.all():
        return family, wire.u32(ip + 16).astype(np.uint64), lo
    hi = np.zeros(n, dtype=np.uint64)
    hi[v4] = wire.u32(ip[v4] + 16)
    if v6.any():
        hi[v6] = wire.u64(ip[v6] + 24)
        lo[v6] = wire.u64(ip[v6] + 32)
    return family, hi, lo


def _tagged_destinations(
    wire: Wire, start: np.ndarray, length: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ethernet frames with any number of 802.1Q/802.1ad tags, one tag a step."""
    n = len(start)
    ok = length >= 14
    etype = wire.u16(start + 12)
    off = np.full(n, 14, dtype=np.int64)
    tagged = ok & np.isin(etype, _VLAN_TAGS)
    while tagged.any():
        ok &= ~(tagged & (off + 4 > length))
        tagged &= off + 4 <= length
        etype = np.where(tagged, wire.u16(start + off + 2), etype)
        off = np.where(tagged, off + 4, off)
        tagged &= np.isin(etype, _VLAN_TAGS)
    kind = np.where(ok, np.where(etype == 0x0800, HEADER_IPV4,
                    np.where(etype == 0x86DD, HEADER_IPV6, 0)), 0)  # fmt: skip
    version = wire.u8(start + off) >> 4
    return _ip_destinations(wire, kind, start + off, length - off, version)
