"""The capture reader: link types, fragments, bad files, pcapng times and damage."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests import flowenc as encode

from routepilot.flows.metrics import FlowMetrics
from routepilot.flows.offline import decode_capture
from routepilot.flows.pcap import PcapError, read_datagrams

from .helpers import T0, epb, idb, ipfix_template, ipv4_udp, opt, pcapng_block, shb, v4_records


def _pcap(link: int, frames: list[bytes]) -> bytes:
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, link)
    for f in frames:
        out += struct.pack("<IIII", 1, 500000, len(f), len(f)) + f
    return out


def test_linux_cooked_and_vlan_ethernet(tmp_path):
    sll = b"\0" * 14 + b"\x08\x00" + ipv4_udp(b"abc")
    eth = b"\x02" * 12 + b"\x81\x00\x00\x0a\x08\x00" + ipv4_udp(b"def")
    (tmp_path / "sll.pcap").write_bytes(_pcap(113, [sll]))
    (tmp_path / "eth.pcap").write_bytes(_pcap(1, [eth]))
    [a] = read_datagrams(tmp_path / "sll.pcap")
    [b] = read_datagrams(tmp_path / "eth.pcap")
    assert (a.src, a.dst_port, a.payload, a.time) == ("100.64.0.1", 2055, b"abc", 1.5)
    assert b.payload == b"def"


def test_fragments_and_unknown_links_are_counted(tmp_path):
    m = FlowMetrics()
    (tmp_path / "frag.pcap").write_bytes(_pcap(101, [ipv4_udp(b"x", flags_frag=0x2000)]))
    (tmp_path / "odd.pcap").write_bytes(_pcap(147, [b"\0" * 40]))
    assert list(read_datagrams(tmp_path / "frag.pcap", m)) == []
    assert list(read_datagrams(tmp_path / "odd.pcap", m)) == []
    assert m.drops == {"pcap_fragment": 1, "pcap_unknown_link": 1}


def test_not_a_capture(tmp_path):
    (tmp_path / "x").write_bytes(b"hello world, this is not a capture")
    with pytest.raises(PcapError):
        list(read_datagrams(tmp_path / "x"))


# pcapng (draft-ietf-opsawg-pcapng): every interface's times, sections, damage.


def _times(tmp_path, data: bytes, metrics: FlowMetrics | None = None) -> list[float]:
    (tmp_path / "c.pcapng").write_bytes(data)
    return [d.time for d in read_datagrams(tmp_path / "c.pcapng", metrics)]


END = opt(0, b"")
FRAME = ipv4_udp(b"ipfix")


def test_pcapng_microseconds_when_no_resolution_is_given(tmp_path):
    named = idb(opt(2, b"eth0") + opt(9, b"\x06") + END)
    data = shb() + idb() + epb(T0 * 10**6 + 250_000, FRAME)
    data += named + epb(T0 * 10**6 + 1, FRAME, iface=1)
    assert _times(tmp_path, data) == [T0 + 0.25, T0 + 0.000001]


@pytest.mark.parametrize(
    "tsresol,ts,time",
    [(9, T0 * 10**9 + 250_000_000, T0 + 0.25),  # the previous reader: 1000x too late
     (3, T0 * 1000 + 250, T0 + 0.25),
     (0, T0, T0),
     (0x80 | 10, T0 * 1024 + 256, T0 + 0.25),
     (0x80 | 32, T0 << 32 | 1 << 30, T0 + 0.25),
     # The finest resolutions a 64-bit timestamp can use still count to a second or so.
     (19, 25 * 10**17, 0.25),
     (0x80 | 63, 1 << 61, 0.25)],
    ids=["10^-9", "10^-3", "10^0", "2^-10", "2^-32", "10^-19", "2^-63"],
)  # fmt: skip
def test_pcapng_resolution_is_the_interfaces(tmp_path, tsresol, ts, time):
    data = shb() + idb(opt(9, bytes([tsresol])) + END) + epb(ts, FRAME)
    assert _times(tmp_path, data) == [time]


def test_pcapng_nanoseconds_to_the_nearest_double(tmp_path):
    ts = T0 * 10**9 + 123_456_789
    assert _times(tmp_path, shb() + idb(opt(9, b"\x09")) + epb(ts, FRAME)) == [1700000000.123456789]


def test_pcapng_offset_is_added_to_every_timestamp(tmp_path):
    late = idb(opt(14, struct.pack("<q", T0)) + opt(9, b"\x09") + END)
    early = idb(opt(14, struct.pack("<q", -10)) + END)
    data = shb() + late + early + epb(500_000_000, FRAME) + epb(20_000_000, FRAME, iface=1)
    assert _times(tmp_path, data) == [T0 + 0.5, 10.0]


def test_pcapng_big_endian_section(tmp_path):
    options = opt(9, b"\x87", ">") + opt(14, struct.pack(">q", T0), ">") + opt(0, b"", ">")
    data = shb(">") + idb(options, ">") + epb(3 * 128 + 64, FRAME, ">")
    assert _times(tmp_path, data) == [T0 + 3.5]


def test_pcapng_each_section_has_its_own_byte_order_and_interfaces(tmp_path):
    m = FlowMetrics()
    first = shb(">") + idb(opt(9, b"\x09", ">"), ">") + epb(T0 * 10**9, FRAME, ">")
    # Interface 1 was the first section's: in the second it does not exist.
    second = shb() + idb() + epb(T0 * 10**6, FRAME) + epb(T0 * 10**6, FRAME, iface=1)
    assert _times(tmp_path, first + second, m) == [T0, T0]
    assert m.drops == {"pcapng_unknown_interface": 1}


def test_flows_decode_keeps_a_nanosecond_captures_templates(tmp_path):
    # Data 5 s after its template. Read in microseconds, the gap was 5,000 s: past the
    # template's hour, so the template expired and its records were dropped.
    template = encode.ipfix_message(1, [ipfix_template()])
    data = encode.ipfix_message(
        1, [encode.flow_set(256, v4_records(["198.18.0.1"], [1500]).tobytes())]
    )
    capture = shb() + idb(opt(9, b"\x09"))
    capture += epb(T0 * 10**9, ipv4_udp(template)) + epb((T0 + 5) * 10**9, ipv4_udp(data))
    (tmp_path / "ns.pcapng").write_bytes(capture)
    report = decode_capture(tmp_path / "ns.pcapng")
    assert (report["records"], report["drops"], report["total_bytes"]) == ({"ipfix": 1}, {}, 1500)


def test_pcapng_options_without_end_or_with_others_between(tmp_path):
    # opt_endofopt may be left out; unknown options, comments and custom ones are
    # stepped over with their padding; what follows opt_endofopt is not read.
    options = (opt(1, b"a comment") + opt(2988, b"\0\0\x7f\xff" + b"xyz") + opt(9, b"\x09")
               + END + b"\x09\x00\x01\x00\x03\x00\x00\x00")  # fmt: skip
    data = shb() + idb(options) + idb(opt(9, b"\x03")) + epb(T0 * 10**9, FRAME)
    assert _times(tmp_path, data + epb(T0 * 1000, FRAME, iface=1)) == [T0, T0]


@pytest.mark.parametrize(
    "options,reason",
    [(struct.pack("<HH", 9, 200) + b"\x09\0\0\0", "pcapng_bad_options"),  # past the block
     (opt(1, b"comment")[:-4], "pcapng_bad_options"),
     (opt(9, b"\x09\x00"), "pcapng_bad_options"),
     (opt(14, struct.pack("<i", 5)), "pcapng_bad_options"),
     (opt(9, bytes([20])), "pcapng_bad_tsresol"),
     (opt(9, bytes([0x7F])), "pcapng_bad_tsresol"),
     (opt(9, bytes([0x80 | 64])), "pcapng_bad_tsresol"),
     (opt(9, b"\xff"), "pcapng_bad_tsresol")],
    ids=["past-the-block", "cut-comment", "tsresol-of-2-bytes", "tsoffset-of-4-bytes",
         "10^-20", "10^-127", "2^-64", "2^-127"],
)  # fmt: skip
def test_pcapng_unreadable_times_are_counted_and_the_rest_reads(tmp_path, options, reason):
    # Read with the defaults, these packets' times could be wrong by orders of
    # magnitude: they are dropped, counted, and every other interface still reads.
    m = FlowMetrics()
    section = shb() + idb(options) + idb(opt(9, b"\x09"))
    data = section + epb(T0, FRAME) + epb(T0 * 10**9, FRAME, iface=1) + epb(T0, FRAME)
    assert _times(tmp_path, data + shb() + idb() + epb(T0 * 10**6, FRAME), m) == [T0, T0]
    assert m.drops == {reason: 2}


def test_pcapng_cut_short_reads_to_the_cut(tmp_path):
    whole = shb() + idb(opt(9, b"\x09")) + epb(T0 * 10**9, FRAME) + epb(T0 * 10**9, FRAME)
    for cut in range(len(whole) - len(epb(0, FRAME)), len(whole)):
        assert _times(tmp_path, whole[:cut]) == [T0]
    iface = idb(opt(9, b"\x09"))
    for cut in range(1, len(iface)):
        assert _times(tmp_path, shb() + iface[:cut]) == []


def test_pcapng_byte_order_magic(tmp_path):
    bad = pcapng_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4E, 1, 0, -1))
    with pytest.raises(PcapError, match="byte-order magic"):
        _times(tmp_path, bad + idb() + epb(T0 * 10**6, FRAME))
    # A later section in no known byte order ends the reading, not the file's first one.
    assert _times(tmp_path, shb() + idb() + epb(T0 * 10**6, FRAME) + bad + idb()) == [T0]


def test_pcapng_simple_packets(tmp_path):
    # No timestamp (time 0) and interface 0's link. The packet is its original length
    # up to the interface's snap length: the padding after a cut is no payload.
    frame = ipv4_udp(b"abcde")
    eth = b"\x02" * 12 + b"\x08\x00" + frame
    spb = pcapng_block(3, struct.pack("<I", len(frame)) + frame)
    cut = pcapng_block(3, struct.pack("<I", len(eth)) + eth[:-2])
    (tmp_path / "a.pcapng").write_bytes(shb() + idb(opt(9, b"\x09")) + spb)
    (tmp_path / "b.pcapng").write_bytes(shb() + idb(link=1, snaplen=len(eth) - 2) + cut)
    [a] = read_datagrams(tmp_path / "a.pcapng")
    [b] = read_datagrams(tmp_path / "b.pcapng")
    assert (a.time, a.src, a.payload) == (0.0, "100.64.0.1", b"abcde")
    assert (b.time, b.payload) == (0.0, b"abc")


SAMPLE = (shb() + idb(opt(2, b"eth0") + opt(9, b"\x09") + opt(14, struct.pack("<q", 5)) + END)
          + epb(T0 * 10**9, FRAME) + pcapng_block(3, struct.pack("<I", len(FRAME)) + FRAME)
          + shb(">") + idb(opt(9, b"\x8a", ">"), ">") + epb(T0 << 10, FRAME, ">"))  # fmt: skip


@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(st.lists(st.tuples(st.integers(0, len(SAMPLE) - 1), st.integers(0, 255)), max_size=6),
       st.integers(0, len(SAMPLE)))  # fmt: skip
def test_pcapng_damage_is_never_an_exception(tmp_path, flips, cut):
    data = bytearray(SAMPLE)
    for pos, value in flips:
        data[pos] = value
    m = FlowMetrics()
    try:
        times = _times(tmp_path, bytes(data[:cut]), m)
    except PcapError:
        return
    assert all(isinstance(t, float) for t in times)
    assert set(m.drops) <= {"pcap_truncated", "pcap_fragment", "pcap_unknown_link",
                            "pcapng_unknown_interface", "pcapng_bad_options",
                            "pcapng_bad_tsresol"}  # fmt: skip
