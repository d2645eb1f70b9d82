"""Our decode of the golden captures agrees with Wireshark's dissectors, record for record."""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from routepilot.flows.offline import decode_capture

TESTDATA = Path(__file__).parents[2] / "unit" / "flows" / "testdata"
pytestmark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")


def _tshark(pcap: Path, port: int, proto: str, fields: list[str]) -> list[list[list[str]]]:
    cmd = ["tshark", "-r", str(pcap), "-d", f"udp.port=={port},{proto}", "-T", "fields",
           "-E", "occurrence=a", "-E", "aggregator=;"]  # fmt: skip
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return [[col.split(";") if col else [] for col in row.split("\t")] for row in out.splitlines()]


@pytest.mark.parametrize(
    "name,port",
    [("softflowd-v5", 2055), ("softflowd-v9", 2055), ("softflowd-ipfix", 4739),
     ("pmacct-v9-sampled", 2055), ("pmacct-ipfix", 4739)],
)  # fmt: skip
def test_netflow_ipfix_records_match_tshark(name, port):
    fields = ["cflow.dstaddr", "cflow.dstaddrv6", "cflow.octets", "cflow.packets"]
    rows = _tshark(TESTDATA / f"{name}.pcap", port, "cflow", fields)
    # tshark prints a datagram's IPv4 and IPv6 destinations as two lists, so records
    # cannot be paired across families: compare destinations and counters as multisets.
    their_dsts: Counter = Counter()
    their_counts: Counter = Counter()
    for v4, v6, octets, packets in rows:
        their_dsts.update(v4 + v6)
        their_counts.update(zip(map(int, octets), map(int, packets), strict=True))
    report = decode_capture(TESTDATA / f"{name}.pcap", max_records=10_000)
    our_dsts = Counter(f["dst"] for f in report["flows"])
    our_counts = Counter((f["bytes"], f["packets"]) for f in report["flows"])
    if name.startswith("softflowd"):
        # softflowd may send data sets before their template; we hold and decode them
        # once it arrives (RFC 7011 §8), tshark does not: ours is then a superset.
        assert their_dsts and not their_dsts - our_dsts
        assert not their_counts - our_counts
    else:
        assert (our_dsts, our_counts) == (their_dsts, their_counts)


def test_sflow_samples_match_tshark():
    rows = _tshark(TESTDATA / "pmacct-sflow.pcap", 6343, "sflow",
                   ["ip.dst", "ipv6.dst", "sflow_245.header.frame_length",
                    "sflow.flow_sample.sampling_rate"])  # fmt: skip
    dsts: Counter = Counter()
    lengths: Counter = Counter()
    rates: set[int] = set()
    for ip_dst, ip6_dst, frame_lengths, sampling in rows:
        dsts.update(ip_dst[1:] + ip6_dst)  # the first ip.dst is the datagram's own header
        lengths.update(map(int, frame_lengths))
        rates.update(map(int, sampling))
    report = decode_capture(TESTDATA / "pmacct-sflow.pcap", max_records=10_000)
    assert Counter(f["dst"] for f in report["flows"]) == dsts
    assert Counter(f["bytes"] for f in report["flows"]) == lengths
    assert {f["sampling"] for f in report["flows"]} == rates


@pytest.mark.skipif(shutil.which("editcap") is None, reason="editcap not installed")
def test_pcapng_reads_like_pcap(tmp_path):
    ng = tmp_path / "capture.pcapng"
    subprocess.run(["editcap", "-F", "pcapng", str(TESTDATA / "pmacct-ipfix.pcap"), str(ng)],
                   check=True, capture_output=True)  # fmt: skip
    a = decode_capture(TESTDATA / "pmacct-ipfix.pcap")
    b = decode_capture(ng)
    a.pop("capture")
    b.pop("capture")
    assert a == b
