"""Builds the device-layout golden captures in tests/unit/flows/testdata/devices/.

Each capture reproduces, from the vendor's documented export layout, one way
a real device's export once failed to decode (issue 9): Juniper's options
template with a zero-length scope field, zero-length data fields, H3C's
variable-length v9 fields, a BGP next hop of 0.0.0.0, records before their
sampler's options data, templates that never come and a cut sFlow datagram,
Palo Alto's zero padding, and reordered datagrams. Run it as a script
(``python tests/unit/flows/make_device_captures.py``) to rewrite the captures
and their expected decode (``NAME.json``, our decode: review its diff); the
tests check both against their own assertions and against tshark.
"""

from __future__ import annotations

import json
import struct
import sys
from collections.abc import Callable
from pathlib import Path

if __name__ == "__main__":  # run as a script: the repository root holds tests/
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from tests import flowenc as enc  # noqa: E402

DEVICES = Path(__file__).parent / "testdata" / "devices"
EXPORTER = 0xC0000201  # 192.0.2.1
EXPORTER_TEXT = "192.0.2.1"


def _ip(text: str) -> int:
    a, b, c, d = (int(x) for x in text.split("."))
    return (a << 24) | (b << 16) | (c << 8) | d


def _v9_template(tid: int, fields: list[tuple[int, int]]) -> bytes:
    return enc.flow_set(0, enc.template_record(tid, fields))


def _records(fields: list[tuple[int, int]], rows: list[dict[int, int | bytes]]) -> bytes:
    """Fixed-length records: each field big-endian at its length (missing fields zero)."""
    out = b""
    for row in rows:
        for ie, length in fields:
            value = row.get(ie, 0)
            out += value if isinstance(value, bytes) else value.to_bytes(length, "big")
    return out


def _rows(n: int, start: int = 0, **fixed: int) -> list[dict[int, int | bytes]]:
    """``n`` records to 198.18.k.1 (k = start..), 1000 * (k+1) bytes, k+1 packets."""
    return [
        {12: _ip(f"198.18.{k}.1"), 1: 1000 * (k + 1), 2: k + 1, 14: 3, 8: _ip("100.64.9.9"),
         **{int(ie[2:]): v for ie, v in fixed.items()}}
        for k in range(start, start + n)
    ]  # fmt: skip


# 1. Juniper (MX, inline J-Flow v9): the options template's scope is "System" (scope
# type 1) with length 0, then samplingInterval (34, 4) and samplingAlgorithm (35, 1).
JUNIPER_DATA = [(8, 4), (12, 4), (4, 1), (7, 2), (11, 2), (10, 4), (14, 4), (15, 4), (18, 4),
                (1, 8), (2, 8), (22, 4), (21, 4), (16, 4), (17, 4), (9, 1), (13, 1)]  # fmt: skip


def juniper_options_zero_scope() -> list[bytes]:
    options = enc.flow_set(1, enc.options_template_v9(512, [(1, 0)], [(34, 4), (35, 1)]))
    odata = enc.flow_set(512, struct.pack(">IB", 100, 2))
    first = enc.v9_packet(0, [_v9_template(320, JUNIPER_DATA), options, odata], 3, seq=0)
    data = enc.flow_set(320, _records(JUNIPER_DATA, _rows(4, **{"ie18": _ip("100.64.0.1")})))
    return [first, enc.v9_packet(0, [data], 4, seq=1)]


# 2. A v9 data template with zero-length fields (an exporter lists elements it has no
# value for, as some Juniper and Huawei releases do for the AS numbers and masks).
ZERO_FIELDS = [(12, 4), (16, 0), (17, 0), (1, 4), (2, 4), (9, 0), (14, 2)]


def v9_zero_length_fields() -> list[bytes]:
    data = enc.flow_set(257, _records(ZERO_FIELDS, _rows(5)))
    return [enc.v9_packet(7, [_v9_template(257, ZERO_FIELDS), data], 6, seq=0)]


# 3. H3C NetStream v9: interface names as variable-length fields (length 65535), each
# value a length byte then the bytes (RFC 7011 §7).
H3C_FIELDS = [(12, 4), (82, 65535), (1, 4), (2, 4), (14, 4), (83, 65535)]


def h3c_v9_variable_length() -> list[bytes]:
    body = b""
    for k, row in enumerate(_rows(4)):
        name = f"GigabitEthernet1/0/{k + 1}".encode()
        body += struct.pack(">I", row[12]) + bytes([len(name)]) + name
        body += struct.pack(">III", row[1], row[2], 3)
        body += b"\xff" + struct.pack(">H", 3) + b"WAN"  # the 3-byte long-length form
    data = enc.flow_set(300, body)
    return [enc.v9_packet(1, [_v9_template(300, H3C_FIELDS), data], 5, seq=0)]


# 4. Next hops: BGP next hop present but 0.0.0.0 (a route learned without BGP), IP next
# hop set; and in sFlow, extended gateway next hop 0.0.0.0 with extended router set.
NH_FIELDS = [(12, 4), (15, 4), (18, 4), (14, 4), (1, 4), (2, 4)]


def v9_bgp_next_hop_zero() -> list[bytes]:
    rows = _rows(3, **{"ie15": _ip("100.64.0.2"), "ie18": 0})
    rows += _rows(1, start=3, **{"ie15": _ip("100.64.0.2"), "ie18": _ip("100.64.0.1")})
    data = enc.flow_set(256, _records(NH_FIELDS, rows))
    return [enc.v9_packet(0, [_v9_template(256, NH_FIELDS), data], 5, seq=0)]


def _gateway(nh: int) -> bytes:
    # extended_gateway: next hop, as, src_as, src_peer_as, dst_as_path (none),
    # communities (none), localpref.
    return struct.pack(">II", 1, nh) + struct.pack(">IIIIII", 64500, 64501, 64502, 0, 0, 100)


def _router(nh: int) -> bytes:
    return struct.pack(">IIII", 1, nh, 24, 24)  # extended_router: next hop, masks


def sflow_gateway_next_hop_zero() -> list[bytes]:
    samples = []
    for k in range(4):
        frame = enc.ethernet_ipv4(_ip(f"198.18.{k}.1"), total_length=1000)
        records = [(1, enc.sflow_raw_header(frame, 1014)), (1002, _router(_ip("100.64.0.2"))),
                   (1003, _gateway(0 if k < 3 else _ip("100.64.0.1")))]  # fmt: skip
        samples.append(enc.sflow_flow_sample(512, 3, records, seq=k))
    return [enc.sflow_datagram(_ip("100.64.250.1"), samples, seq=1)]


# 5. A Cisco-style v9 export whose records name a sampler (flowSamplerId, 48) before the
# sampler's options data (samplerId 48, samplerMode 49, samplerRandomInterval 50) arrives.
SAMPLED_FIELDS = [(12, 4), (1, 4), (2, 4), (14, 4), (48, 1)]


def v9_records_before_sampler() -> list[bytes]:
    tmpl = _v9_template(260, SAMPLED_FIELDS)
    first = enc.flow_set(260, _records(SAMPLED_FIELDS, _rows(3, ie48=2)))
    options = enc.flow_set(1, enc.options_template_v9(261, [(2, 4)], [(48, 1), (49, 1),
                                                                      (50, 4)]))  # fmt: skip
    odata = enc.flow_set(261, struct.pack(">IBBI", 3, 2, 2, 2182))
    later = enc.flow_set(260, _records(SAMPLED_FIELDS, _rows(2, start=3, ie48=2)))
    return [
        enc.v9_packet(9, [tmpl, first], 4, seq=0),
        enc.v9_packet(9, [options, odata], 2, seq=1),
        enc.v9_packet(9, [later], 2, seq=2),
    ]


# 6. Data sets whose template never arrives (IPFIX; the sequence numbers tell how many
# records they carried), and an sFlow datagram cut short, losing 5 of its 8 samples.
IPFIX_FIELDS = [(12, 4), (1, 8), (2, 8), (14, 4)]


def ipfix_template_never_arrives() -> list[bytes]:
    tmpl = enc.flow_set(2, enc.template_record(256, IPFIX_FIELDS))
    known = enc.flow_set(256, _records(IPFIX_FIELDS, _rows(3)))
    orphan = enc.flow_set(400, _records(IPFIX_FIELDS, _rows(4, start=3)))
    return [
        enc.ipfix_message(5, [tmpl, known, orphan], seq=0),
        enc.ipfix_message(5, [enc.flow_set(256, _records(IPFIX_FIELDS, _rows(3)))], seq=7),
    ]


def sflow_cut_short() -> list[bytes]:
    samples = [
        enc.sflow_flow_sample(64, 1, [(1, enc.sflow_raw_header(
            enc.ethernet_ipv4(_ip(f"198.18.{k}.9")), 128))], seq=k)
        for k in range(8)
    ]  # fmt: skip
    whole = enc.sflow_datagram(_ip("100.64.250.2"), samples, seq=1)
    return [whole[: len(whole) - 5 * len(samples[0]) + 10]]


# 7. Palo Alto (PAN-OS NetFlow v9): the datagram is zero-padded after the last flowset.
def paloalto_v9_padding() -> list[bytes]:
    data = enc.flow_set(256, _records(NH_FIELDS, _rows(3, ie15=_ip("100.64.0.1"))))
    packet = enc.v9_packet(1, [_v9_template(256, NH_FIELDS), data], 4, seq=0)
    return [packet + bytes(20), enc.v9_packet(1, [data], 3, seq=1) + bytes(7)]


# 8. Reordered datagrams: 30 IPFIX messages of 5 records; 7 never arrive (35 records),
# and adjacent pairs arrive swapped.
def ipfix_reordered() -> list[bytes]:
    tmpl = enc.flow_set(2, enc.template_record(256, IPFIX_FIELDS))
    messages = []
    for i in range(30):
        sets = [tmpl] if i == 0 else []
        sets.append(enc.flow_set(256, _records(IPFIX_FIELDS, _rows(5, start=i % 50))))
        messages.append(enc.ipfix_message(3, sets, seq=5 * i))
    lost = {4, 9, 10, 17, 22, 23, 27}
    kept = [m for i, m in enumerate(messages) if i not in lost]
    for i in (2, 6, 11, 15, 19):  # swap neighbours
        kept[i], kept[i + 1] = kept[i + 1], kept[i]
    return kept


CAPTURES: dict[str, tuple[int, Callable[[], list[bytes]]]] = {
    "juniper-v9-options-zero-scope": (2055, juniper_options_zero_scope),
    "v9-zero-length-fields": (2055, v9_zero_length_fields),
    "h3c-v9-variable-length": (2055, h3c_v9_variable_length),
    "v9-bgp-next-hop-zero": (2055, v9_bgp_next_hop_zero),
    "sflow-gateway-next-hop-zero": (6343, sflow_gateway_next_hop_zero),
    "v9-records-before-sampler": (2055, v9_records_before_sampler),
    "ipfix-template-never-arrives": (4739, ipfix_template_never_arrives),
    "sflow-cut-short": (6343, sflow_cut_short),
    "paloalto-v9-padding": (2055, paloalto_v9_padding),
    "ipfix-reordered": (4739, ipfix_reordered),
}
"""name -> (UDP port, datagrams)."""


def write(name: str) -> Path:
    port, build = CAPTURES[name]
    path = DEVICES / f"{name}.pcap"
    enc.write_pcap(str(path), build(), src=EXPORTER, dst_port=port)
    return path


def main() -> None:
    from routepilot.flows.offline import decode_capture

    DEVICES.mkdir(parents=True, exist_ok=True)
    for name in CAPTURES:
        path = write(name)
        report = decode_capture(path, max_records=100)
        report["capture"] = path.name
        (DEVICES / f"{name}.json").write_text(json.dumps(report, indent=1) + "\n")
        print(name, report["records"], report["drops"], report["sequence_gaps"])


if __name__ == "__main__":
    main()
