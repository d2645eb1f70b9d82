"""Every device golden capture, dissected by tshark (-T json), agrees with our decode.

tshark is an independent implementation of the same RFCs: records, destinations,
counters, sampling rates, next hops and sequence numbers are compared field by
field. Where tshark stops (a template that never came, a datagram cut short) we
must stop at the same record.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import Counter
from typing import Any

import pytest

from routepilot.flows.offline import decode_capture

from .make_device_captures import CAPTURES, DEVICES

pytestmark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")


def _tshark(name: str) -> list[dict[str, Any]]:
    port = CAPTURES[name][0]
    proto = "sflow" if port == 6343 else "cflow"
    out = subprocess.run(
        ["tshark", "-r", str(DEVICES / f"{name}.pcap"), "-d", f"udp.port=={port},{proto}",
         "-T", "json", "--no-duplicate-keys"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return [p["_source"]["layers"][proto] for p in json.loads(out)]


def _values(value: Any) -> list[str]:
    return value if isinstance(value, list) else [value]


def _objects(tree: Any, key: str) -> list[dict[str, Any]]:
    """Every object in ``tree`` that has ``key`` itself (a record, a sample)."""
    found = []
    if isinstance(tree, dict):
        if key in tree:
            found.append(tree)
        for value in tree.values():
            found += _objects(value, key)
    elif isinstance(tree, list):
        for value in tree:
            found += _objects(value, key)
    return found


def _first(tree: Any, key: str) -> list[str]:
    """The values of ``key`` anywhere under ``tree``, in document order."""
    out: list[str] = []
    for obj in _objects(tree, key):
        out += _values(obj[key])
    return out


def _cflow_records(packets: list[dict[str, Any]]) -> list[dict[str, str]]:
    """One dict per data record tshark decoded (a destination address is what makes one)."""
    records = []
    for packet in packets:
        for obj in _objects(packet, "cflow.dstaddr"):
            columns = {k: _values(v) for k, v in obj.items() if k.startswith("cflow.")}
            for i in range(len(columns["cflow.dstaddr"])):
                records.append({k: v[i] for k, v in columns.items() if i < len(v)})
    return records


def _ours(name: str) -> dict[str, Any]:
    return decode_capture(DEVICES / f"{name}.pcap", max_records=1000)


CFLOW = [n for n, (port, _) in CAPTURES.items() if port != 6343]
SFLOW = [n for n, (port, _) in CAPTURES.items() if port == 6343]


@pytest.mark.parametrize("name", CFLOW)
def test_netflow_records_match_tshark(name):
    theirs = _cflow_records(_tshark(name))
    ours = _ours(name)["flows"]
    assert theirs, "tshark decoded no record"
    assert Counter(r["cflow.dstaddr"] for r in theirs) == Counter(f["dst"] for f in ours)
    assert Counter((int(r["cflow.octets"]), int(r["cflow.packets"])) for r in theirs) == Counter(
        (f["bytes"], f["packets"]) for f in ours
    )
    # The next hop: the BGP one unless it is 0.0.0.0, then the IP one.
    expected_nh = []
    for r in theirs:
        bgp, ip = r.get("cflow.bgpnexthop", "0.0.0.0"), r.get("cflow.nexthop", "0.0.0.0")
        nh = bgp if bgp != "0.0.0.0" else ip
        expected_nh.append(None if nh == "0.0.0.0" else nh)
    assert Counter(expected_nh) == Counter(f["next_hop"] for f in ours)


@pytest.mark.parametrize("name", CFLOW)
def test_sampling_rates_match_tshark(name):
    packets = _tshark(name)
    interval = {int(v) for v in _first(packets, "cflow.sampling_interval")}
    random = {int(v) for v in _first(packets, "cflow.sampler_random_interval")}
    rates = {f["sampling"] for f in _ours(name)["flows"]}
    # Every record is scaled by the rate its exporter announced, or 1 without one.
    assert rates == (interval | random or {1})


@pytest.mark.parametrize("name", CFLOW)
def test_sequence_gaps_match_tshark(name):
    packets = _tshark(name)
    report = _ours(name)
    seqs = [int(_values(p["cflow.sequence"])[0]) for p in packets]
    if packets[0]["cflow.version"] == "10":
        # IPFIX counts data records: each message covers its number plus the records
        # tshark decoded in it. A record the numbers say was sent is either decoded,
        # counted lost for want of its template, or a sequence gap.
        per_message = [len(_cflow_records([p])) for p in packets]
        covered = {s + i for s, n in zip(seqs, per_message, strict=True) for i in range(n)}
        span = range(min(seqs), max(seqs) + per_message[seqs.index(max(seqs))])
        missing = len([s for s in span if s not in covered])
        lost = report["sequence_gaps"].get("ipfix", 0) + report["drops"].get("no_template", 0)
        assert lost == missing
    else:
        missing = len(set(range(min(seqs), max(seqs) + 1)) - set(seqs))
        assert report["sequence_gaps"].get("netflow9", 0) == missing


@pytest.mark.parametrize("name", SFLOW)
def test_sflow_samples_match_tshark(name):
    packets = _tshark(name)
    samples = [s for p in packets for s in _objects(p, "sflow.flow_sample.sampling_rate")]
    report = _ours(name)
    ours = report["flows"]
    assert len(samples) == len(ours)
    assert [_first(s, "ip.dst")[-1] for s in samples] == [f["dst"] for f in ours]
    assert [int(_first(s, "sflow_245.header.frame_length")[0]) for s in samples] == [
        f["bytes"] for f in ours
    ]
    assert [int(s["sflow.flow_sample.sampling_rate"]) for s in samples] == [
        f["sampling"] for f in ours
    ]
    for sample, flow in zip(samples, ours, strict=True):
        hops = {}
        for record in _objects(sample, "sflow_245.flow_record_format"):
            if "sflow_245.nexthop" in record:
                hops[record["sflow_245.flow_record_format"]] = record["sflow_245.nexthop"]
        # Gateway (1003) is the BGP next hop; 0.0.0.0 there falls back to router (1002).
        gateway, router = hops.get("1003", "0.0.0.0"), hops.get("1002", "0.0.0.0")
        nh = gateway if gateway != "0.0.0.0" else router
        assert flow["next_hop"] == (None if nh == "0.0.0.0" else nh)
    # What tshark could not dissect of the announced samples is what we count lost.
    announced = sum(int(_values(p["sflow_245.numsamples"])[0]) for p in packets)
    assert report["drops"].get("sflow_truncated_sample", 0) == announced - len(samples)
