"""Reading export datagrams out of packet captures (pcap and pcapng).

Only what `flows decode` and the tests need: Ethernet (with VLAN tags), Linux
cooked v1/v2, raw IP and BSD loopback link types, IPv4/IPv6, UDP. Fragments
and anything unreadable are counted, never raised.

Times are the capture's own, to the double nearest what the file holds: classic
pcap in microseconds or nanoseconds (by its magic), pcapng in each interface's
resolution and offset (``if_tsresol``, ``if_tsoffset``). Offline replays compute
rates from them, so a packet whose time cannot be known is dropped and counted,
never given a guessed one.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from routepilot.flows.metrics import FlowMetrics

LINK_NULL = 0
LINK_ETHERNET = 1
LINK_RAW = 101
LINK_SLL = 113
LINK_RAW4 = 228
LINK_RAW6 = 229
LINK_SLL2 = 276

# pcapng (draft-ietf-opsawg-pcapng): the section header's block type reads the same in
# either byte order, and the interface description options this reader uses.
SHB_TYPE = b"\x0a\x0d\x0d\x0a"
OPT_ENDOFOPT = 0
OPT_IF_TSRESOL = 9
OPT_IF_TSOFFSET = 14


@dataclass(frozen=True)
class Datagram:
    time: float
    src: str
    src_port: int
    dst_port: int
    payload: bytes


class PcapError(ValueError):
    """The file is not a capture this reader understands."""


def read_datagrams(path: Path, metrics: FlowMetrics | None = None) -> Iterator[Datagram]:
    """Every UDP datagram of a capture, in file order."""
    metrics = metrics or FlowMetrics()
    data = Path(path).read_bytes()
    if len(data) < 24:
        raise PcapError("file too short for a capture header")
    frames = _pcapng(data, metrics) if data[:4] == SHB_TYPE else _pcap(data)
    for ts, link, frame in frames:
        d = _udp(link, frame, ts, metrics)
        if d is not None:
            yield d


def _pcap(data: bytes) -> Iterator[tuple[float, int, bytes]]:
    magic = struct.unpack("<I", data[:4])[0]
    if magic in (0xA1B2C3D4, 0xA1B23C4D):
        e = "<"
    elif magic in (0xD4C3B2A1, 0x4D3CB2A1):
        e = ">"
        magic = struct.unpack(">I", data[:4])[0]
    else:
        raise PcapError("not a pcap or pcapng file")
    scale = 1e-9 if magic == 0xA1B23C4D else 1e-6
    link = struct.unpack_from(e + "I", data, 20)[0] & 0xFFFF
    pos = 24
    rec = struct.Struct(e + "IIII")
    while pos + 16 <= len(data):
        sec, frac, caplen, _ = rec.unpack_from(data, pos)
        pos += 16
        if pos + caplen > len(data):
            return
        yield sec + frac * scale, link, data[pos : pos + caplen]
        pos += caplen


def _pcapng(data: bytes, metrics: FlowMetrics) -> Iterator[tuple[float, int, bytes]]:
    """The frames of a pcapng file (draft-ietf-opsawg-pcapng), section after section."""
    pos = 0
    e = "<"
    interfaces: list[_Interface] = []
    while pos + 12 <= len(data):
        if data[pos : pos + 4] == SHB_TYPE:
            # §4.1: the byte-order magic says how every number of the section is written.
            if data[pos + 8 : pos + 12] == b"\x4d\x3c\x2b\x1a":
                e = "<"
            elif data[pos + 8 : pos + 12] == b"\x1a\x2b\x3c\x4d":
                e = ">"
            elif pos == 0:
                raise PcapError("pcapng section header without its byte-order magic")
            else:
                return  # Block lengths cannot be read in a section of unknown byte order.
            interfaces = []  # §4.2: interface numbers start again in each section.
        btype, blen = struct.unpack_from(e + "II", data, pos)
        if blen < 12 or pos + blen > len(data):
            return
        body = data[pos + 8 : pos + blen - 4]
        if btype == 1 and len(body) >= 8:  # §4.2 interface description
            interfaces.append(_interface(body, e))
        elif btype == 6 and len(body) >= 20:  # §4.3 enhanced packet
            index, hi, lo, caplen, _ = struct.unpack_from(e + "IIIII", body)
            iface = interfaces[index] if index < len(interfaces) else None
            if iface is None:
                metrics.drop("pcapng_unknown_interface")
            elif iface.unreadable:
                metrics.drop(iface.unreadable)
            else:
                # One division of integers: the double nearest the time the file
                # holds, whatever the resolution (as tshark prints it).
                ts = (((hi << 32) | lo) + iface.offset * iface.units) / iface.units
                yield ts, iface.link, body[20 : 20 + caplen]
        elif btype == 3 and len(body) >= 4 and interfaces:  # §4.4 simple packet
            # No timestamp, interface 0, and as many bytes as the packet had, up to the
            # interface's snap length (0 is none): what follows is padding.
            length = struct.unpack_from(e + "I", body)[0]
            if interfaces[0].snaplen:
                length = min(length, interfaces[0].snaplen)
            yield 0.0, interfaces[0].link, body[4 : 4 + length]
        pos += blen


@dataclass(frozen=True)
class _Interface:
    """What a pcapng interface description says about the packets that name it."""

    link: int
    snaplen: int
    units: int = 1_000_000
    """Timestamp units in a second (``if_tsresol``; a microsecond when absent)."""
    offset: int = 0
    """Seconds added to every timestamp (``if_tsoffset``)."""
    unreadable: str = ""
    """The drop reason of every packet on this interface when its times cannot be known."""


def _interface(body: bytes, e: str) -> _Interface:
    """An interface description block's body (§4.2): link type, snap length, options."""
    link, _, snaplen = struct.unpack_from(e + "HHI", body)
    options = _options(body[8:], e)
    if options is None:
        # The list runs past its block: an if_tsresol or if_tsoffset may have been lost,
        # and a time read with the defaults could be wrong by orders of magnitude.
        return _Interface(link, snaplen, unreadable="pcapng_bad_options")
    resol = options.get(OPT_IF_TSRESOL, b"\x06")
    offset = options.get(OPT_IF_TSOFFSET, bytes(8))
    if len(resol) != 1 or len(offset) != 8:
        return _Interface(link, snaplen, unreadable="pcapng_bad_options")
    units = _units(resol[0])
    if units is None:
        return _Interface(link, snaplen, unreadable="pcapng_bad_tsresol")
    return _Interface(link, snaplen, units, struct.unpack(e + "q", offset)[0])


def _units(tsresol: int) -> int | None:
    """Timestamp units in a second for an if_tsresol byte (§4.2): the high bit clear,
    10 to the power of the rest; set, 2 to that power. None past 64 bits: a 64-bit
    timestamp in such units could not count to one second, so the file is broken,
    not precise."""
    exponent = tsresol & 0x7F
    units = 1 << exponent if tsresol & 0x80 else 10**exponent
    return units if units < 1 << 64 else None


def _options(data: bytes, e: str) -> dict[int, bytes] | None:
    """A block's options by code, the first of each (§3.5: code and length, 16 bits each,
    then the value padded to 32 bits, until opt_endofopt or the block's end); None when
    an option runs past the block."""
    found: dict[int, bytes] = {}
    pos = 0
    while pos + 4 <= len(data):
        code, length = struct.unpack_from(e + "HH", data, pos)
        if code == OPT_ENDOFOPT:
            break
        end = pos + 4 + length
        if end > len(data):
            return None
        found.setdefault(code, data[pos + 4 : end])
        pos = end + (-length % 4)
    return found


def _udp(link: int, frame: bytes, ts: float, metrics: FlowMetrics) -> Datagram | None:
    pos = 0
    ethertype = 0
    if link == LINK_ETHERNET:
        pos, ethertype = 14, _u16(frame, 12)
        while ethertype in (0x8100, 0x88A8) and len(frame) >= pos + 4:
            ethertype = _u16(frame, pos + 2)
            pos += 4
    elif link == LINK_SLL:
        pos, ethertype = 16, _u16(frame, 14)
    elif link == LINK_SLL2:
        pos, ethertype = 20, _u16(frame, 0)
    elif link == LINK_NULL:
        pos = 4
        family = struct.unpack_from("<I", frame)[0] if len(frame) >= 4 else 0
        ethertype = 0x0800 if family == 2 else 0x86DD
    elif link in (LINK_RAW, LINK_RAW4, LINK_RAW6):
        ethertype = 0x0800 if frame and frame[0] >> 4 == 4 else 0x86DD
    else:
        metrics.drop("pcap_unknown_link")
        return None
    if len(frame) < pos + 20:
        metrics.drop("pcap_truncated")
        return None
    if ethertype == 0x0800:
        ihl = (frame[pos] & 0x0F) * 4
        total = _u16(frame, pos + 2)
        if _u16(frame, pos + 6) & 0x3FFF:
            metrics.drop("pcap_fragment")
            return None
        if frame[pos + 9] != 17:
            return None
        src = str(ipaddress.IPv4Address(frame[pos + 12 : pos + 16]))
        end = min(len(frame), pos + total)
        pos += ihl
    elif ethertype == 0x86DD:
        if len(frame) < pos + 48 or frame[pos + 6] != 17:
            return None
        src = str(ipaddress.IPv6Address(frame[pos + 8 : pos + 24]))
        end = min(len(frame), pos + 40 + _u16(frame, pos + 4))
        pos += 40
    else:
        return None
    if end < pos + 8:
        metrics.drop("pcap_truncated")
        return None
    sport, dport, ulen = struct.unpack_from(">HHH", frame, pos)
    payload = frame[pos + 8 : min(end, pos + ulen)]
    return Datagram(ts, src, sport, dport, payload)


def _u16(b: bytes, pos: int) -> int:
    return (b[pos] << 8) | b[pos + 1] if len(b) >= pos + 2 else 0
