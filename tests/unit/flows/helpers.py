"""Small builders shared by the flows unit tests."""

from __future__ import annotations

import ipaddress
import struct

import numpy as np
from tests import flowenc as encode

from routepilot.flows.config import FlowsConfig
from routepilot.flows.decoder import FlowDecoder
from routepilot.flows.metrics import FlowMetrics


def ip4(text: str) -> int:
    return int(ipaddress.IPv4Address(text))


def decoder(**config) -> FlowDecoder:
    return FlowDecoder(FlowsConfig(**config), FlowMetrics())


def v4_records(dsts: list[str], nbytes: list[int], out_if: int = 1, nh: str = "0.0.0.0"):
    rec = np.zeros(len(dsts), dtype=encode.record_dtype(encode.IPV4_FIELDS))
    rec["ie12"] = [ip4(d) for d in dsts]
    rec["ie1"] = nbytes
    rec["ie2"] = 1
    rec["ie14"] = out_if
    rec["ie18"] = ip4(nh)
    return rec


def ipfix_template(tid: int = 256, fields=encode.IPV4_FIELDS) -> bytes:
    return encode.flow_set(2, encode.template_record(tid, fields))


def ipv4_udp(payload: bytes, flags_frag: int = 0) -> bytes:
    """An IPv4/UDP packet from 100.64.0.1:5000 to 127.0.0.1:2055."""
    udp = struct.pack(">HHHH", 5000, 2055, 8 + len(payload), 0) + payload
    return struct.pack(">BBHHHBBHII", 0x45, 0, 20 + len(udp), 1, flags_frag, 64, 17, 0,
                       0x64400001, 0x7F000001) + udp  # fmt: skip


# pcapng (draft-ietf-opsawg-pcapng), built block by block in either byte order ("<", ">").

T0 = 1_700_000_000
"""2023-11-14: a time whose double still has sub-microsecond steps (2^-22 s)."""


def pcapng_block(btype: int, body: bytes, e: str = "<") -> bytes:
    body += b"\0" * (-len(body) % 4)
    length = len(body) + 12
    return struct.pack(e + "II", btype, length) + body + struct.pack(e + "I", length)


def shb(e: str = "<") -> bytes:
    """A section header block: what follows is in byte order ``e``."""
    return pcapng_block(0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1), e)


def opt(code: int, value: bytes, e: str = "<") -> bytes:
    """A block's option: code, length, the value padded to 32 bits."""
    return struct.pack(e + "HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def idb(options: bytes = b"", e: str = "<", link: int = 101, snaplen: int = 0) -> bytes:
    """An interface description block, raw IP by default."""
    return pcapng_block(1, struct.pack(e + "HHI", link, 0, snaplen) + options, e)


def epb(ts: int, frame: bytes, e: str = "<", iface: int = 0) -> bytes:
    """An enhanced packet block: ``ts`` in the units of its interface's if_tsresol."""
    head = struct.pack(e + "IIIII", iface, ts >> 32, ts & 0xFFFFFFFF, len(frame), len(frame))
    return pcapng_block(6, head + frame, e)
