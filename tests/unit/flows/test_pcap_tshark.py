"""Captures written by real tools read at the times tshark reads them.

editcap turns a nanosecond pcap into a pcapng whose interface says if_tsresol 9,
as tcpdump, dumpcap and tshark write at nanosecond precision; tcpdump writes
classic pcap in nanoseconds and in microseconds. tshark (Wireshark's own reader,
an independent one) is the reference for every time, and for pcapng files built
by hand too: 2^-n resolutions, offsets, big-endian sections.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from routepilot.flows.pcap import read_datagrams

from .helpers import T0, epb, idb, ipv4_udp, opt, shb

pytestmark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")

# Nanoseconds a microsecond reader would lose, and both ends of a second.
TIMES = [(T0, 123_456_789), (T0 + 1, 999_999_999), (T0 + 2, 1), (T0 + 3, 500_000_500)]


def _nanosecond_pcap(path: Path) -> None:
    """A classic pcap in nanoseconds (magic 0xA1B23C4D): an Ethernet frame per time."""
    eth = b"\x02" * 12 + b"\x08\x00" + ipv4_udp(b"ipfix")
    out = struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 1)
    for sec, ns in TIMES:
        out += struct.pack("<IIII", sec, ns, len(eth), len(eth)) + eth
    path.write_bytes(out)


def _tshark_times(path: Path) -> list[str]:
    cmd = ["tshark", "-r", str(path), "-T", "fields", "-e", "frame.time_epoch"]
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split()


def _our_times(path: Path) -> list[float]:
    return [d.time for d in read_datagrams(path)]


@pytest.mark.skipif(shutil.which("editcap") is None, reason="editcap not installed")
def test_editcap_nanosecond_pcapng(tmp_path):
    _nanosecond_pcap(tmp_path / "ns.pcap")
    ng = tmp_path / "ns.pcapng"
    subprocess.run(["editcap", "-F", "pcapng", str(tmp_path / "ns.pcap"), str(ng)],
                   check=True, capture_output=True)  # fmt: skip
    # The interface says nanoseconds (if_tsresol 9) in whichever byte order editcap used.
    data = ng.read_bytes()
    assert struct.pack("<HHB", 9, 1, 9) in data or struct.pack(">HHB", 9, 1, 9) in data
    theirs = _tshark_times(ng)
    assert theirs == [f"{sec}.{ns:09d}" for sec, ns in TIMES]
    # Both are the double nearest the same decimal: equal, not merely close.
    assert _our_times(ng) == [float(t) for t in theirs]


@pytest.mark.skipif(shutil.which("tcpdump") is None, reason="tcpdump not installed")
@pytest.mark.parametrize("precision", ["nano", "micro"])
def test_tcpdump_pcap(tmp_path, precision):
    _nanosecond_pcap(tmp_path / "ns.pcap")
    # Written to stdout: run as root, tcpdump switches to its own user, which may not be
    # allowed to create a file in pytest's directory.
    cmd = ["tcpdump", "-r", str(tmp_path / "ns.pcap"), "--time-stamp-precision", precision,
           "-w", "-"]  # fmt: skip
    out = tmp_path / "tcpdump.pcap"
    out.write_bytes(subprocess.run(cmd, capture_output=True, check=True).stdout)
    theirs = _tshark_times(out)
    assert len(theirs) == len(TIMES)
    assert any(not t.endswith("000") for t in theirs) == (precision == "nano")
    assert _our_times(out) == [float(t) for t in theirs]


def _q(seconds: int, e: str = "<") -> bytes:
    return struct.pack(e + "q", seconds)


FRAME = ipv4_udp(b"ipfix")
BUILT = {
    "10^-9, an offset": shb() + idb(opt(9, b"\x09") + opt(14, _q(T0))) + epb(500_000_123, FRAME),
    "microseconds": shb() + idb() + epb(T0 * 10**6 + 999_999, FRAME),
    "2^-10": shb() + idb(opt(9, b"\x8a")) + epb(T0 * 1024 + 1, FRAME),
    "2^-30, a negative offset": (shb() + idb(opt(9, b"\x9e") + opt(14, _q(-3600)))
                                 + epb((T0 << 30) + 3, FRAME)),
    "big-endian": (shb(">") + idb(opt(9, b"\x09", ">") + opt(14, _q(-5, ">"), ">"), ">")
                   + epb(T0 * 10**9 + 7, FRAME, ">")),
    "two interfaces": (shb() + idb(opt(9, b"\x03")) + idb(opt(9, b"\x09"))
                       + epb(T0 * 1000 + 1, FRAME) + epb(T0 * 10**9 + 2, FRAME, iface=1)),
}  # fmt: skip


@pytest.mark.parametrize("name", BUILT)
def test_built_pcapng(tmp_path, name):
    path = tmp_path / "built.pcapng"
    path.write_bytes(BUILT[name])
    theirs = [float(t) for t in _tshark_times(path)]
    # tshark prints nanoseconds, cutting 2^-n fractions there: within a microsecond
    # (four steps of a double near T0), where a wrong resolution is off by hours.
    assert _our_times(path) == pytest.approx(theirs, rel=0, abs=1e-6)
    assert theirs and all(abs(t - T0) < 7200 for t in theirs)
