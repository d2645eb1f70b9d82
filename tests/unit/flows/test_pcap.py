"""The capture reader: link types, fragments, bad files."""

from __future__ import annotations

import struct

import pytest

from routepilot.flows.metrics import FlowMetrics
from routepilot.flows.pcap import PcapError, read_datagrams


def _ipv4_udp(payload: bytes, flags_frag: int = 0) -> bytes:
    udp = struct.pack(">HHHH", 5000, 2055, 8 + len(payload), 0) + payload
    return struct.pack(">BBHHHBBHII", 0x45, 0, 20 + len(udp), 1, flags_frag, 64, 17, 0,
                       0x64400001, 0x7F000001) + udp  # fmt: skip


def _pcap(link: int, frames: list[bytes]) -> bytes:
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, link)
    for f in frames:
        out += struct.pack("<IIII", 1, 500000, len(f), len(f)) + f
    return out


def test_linux_cooked_and_vlan_ethernet(tmp_path):
    sll = b"\0" * 14 + b"\x08\x00" + _ipv4_udp(b"abc")
    eth = b"\x02" * 12 + b"\x81\x00\x00\x0a\x08\x00" + _ipv4_udp(b"def")
    (tmp_path / "sll.pcap").write_bytes(_pcap(113, [sll]))
    (tmp_path / "eth.pcap").write_bytes(_pcap(1, [eth]))
    [a] = read_datagrams(tmp_path / "sll.pcap")
    [b] = read_datagrams(tmp_path / "eth.pcap")
    assert (a.src, a.dst_port, a.payload, a.time) == ("100.64.0.1", 2055, b"abc", 1.5)
    assert b.payload == b"def"


def test_fragments_and_unknown_links_are_counted(tmp_path):
    m = FlowMetrics()
    (tmp_path / "frag.pcap").write_bytes(_pcap(101, [_ipv4_udp(b"x", flags_frag=0x2000)]))
    (tmp_path / "odd.pcap").write_bytes(_pcap(147, [b"\0" * 40]))
    assert list(read_datagrams(tmp_path / "frag.pcap", m)) == []
    assert list(read_datagrams(tmp_path / "odd.pcap", m)) == []
    assert m.drops == {"pcap_fragment": 1, "pcap_unknown_link": 1}


def test_not_a_capture(tmp_path):
    (tmp_path / "x").write_bytes(b"hello world, this is not a capture")
    with pytest.raises(PcapError):
        list(read_datagrams(tmp_path / "x"))
