"""Captures from real exporters (softflowd, pmacctd) decode to their stored expectation.

The captures were made in network namespaces by tests/integration/flows/make_golden.py;
the integration tier cross-checks the same files against tshark.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from routepilot.config.models import FlowInterface, ProviderConfig
from routepilot.flows.config import FlowsConfig, SamplingOverride
from routepilot.flows.offline import decode_capture

TESTDATA = Path(__file__).parent / "testdata"
CAPTURES = sorted(p.stem for p in TESTDATA.glob("*.pcap"))

# What make_golden.py sent: per destination prefix, IP bytes and packets (UDP payload + headers).
SENT = {f"198.18.{i}.0/24": (1500 * (100 + 50 * i + 28), 1500) for i in range(6)} | {
    f"2001:db8:{i + 1:x}::/48": (1500 * (200 + 100 * i + 48), 1500) for i in range(3)
}


def test_every_format_has_a_capture():
    assert {"softflowd-v5", "softflowd-v9", "softflowd-ipfix", "pmacct-v9-sampled",
            "pmacct-ipfix", "pmacct-sflow"} <= set(CAPTURES)  # fmt: skip


@pytest.mark.parametrize("name", CAPTURES)
def test_decode_matches_golden(name):
    expected = json.loads((TESTDATA / f"{name}.json").read_text())
    report = decode_capture(TESTDATA / f"{name}.pcap", max_records=200)
    report["capture"] = f"{name}.pcap"
    assert json.loads(json.dumps(report)) == expected
    assert report["drops"] == {}


def test_unsampled_export_accounts_for_every_byte_sent():
    report = decode_capture(TESTDATA / "pmacct-ipfix.pcap")
    got = {r["prefix"]: (r["bytes"], r["packets"]) for r in report["aggregate"]}
    for prefix, (nbytes, npkts) in SENT.items():
        assert got[prefix] == (nbytes, npkts)


@pytest.mark.parametrize("name", ["softflowd-v5", "softflowd-v9", "softflowd-ipfix"])
def test_softflowd_never_reports_more_than_sent(name):
    # softflowd 1.1.0 reads libpcap without immediate mode: the tail of a burst
    # can stay in the capture buffer, so its exports may fall short, never over.
    report = decode_capture(TESTDATA / f"{name}.pcap")
    rows = [r for r in report["aggregate"] if r["prefix"] in SENT]  # not neighbour discovery
    assert len(rows) >= 6
    for row in rows:
        nbytes, npkts = SENT[row["prefix"]]
        assert 0 < row["packets"] <= npkts
        assert row["bytes"] == row["packets"] * (nbytes // npkts)


def test_sampled_v9_scales_by_the_options_sampler_rate():
    report = decode_capture(TESTDATA / "pmacct-v9-sampled.pcap", max_records=50)
    assert report["exporters"][0]["samplers"] == {1: 4}
    assert {f["sampling"] for f in report["flows"]} == {4}
    total = sum(b for b, _ in SENT.values())
    assert report["total_bytes"] == pytest.approx(total, rel=0.1)


def test_sflow_estimates_within_sampling_error():
    report = decode_capture(TESTDATA / "pmacct-sflow.pcap", max_records=5)
    assert report["exporters"][0]["version"] == "sflow5"
    assert report["exporters"][0]["sampling"] == 32
    assert report["total_packets"] == pytest.approx(sum(p for _, p in SENT.values()), rel=0.15)


def test_sampling_override_replaces_exported_rate():
    cfg = FlowsConfig(sampling_overrides=[SamplingOverride(exporter="127.0.0.1", rate=1)])
    report = decode_capture(TESTDATA / "pmacct-v9-sampled.pcap", cfg, max_records=50)
    assert {f["sampling"] for f in report["flows"]} == {1}


def test_attribution_by_configured_interface():
    provider = ProviderConfig(
        name="isp1", asn=65001, next_hops=["100.64.250.2"], capacity_mbps=100,
        flow_interfaces=[FlowInterface(exporter="127.0.0.1", ifindex=0)],
    )  # fmt: skip
    report = decode_capture(TESTDATA / "softflowd-ipfix.pcap", providers=[provider])
    assert report["unattributed_records"] == 0
    assert {r["provider"] for r in report["aggregate"]} == {"isp1"}


def test_configured_prefixes_aggregate_by_longest_match():
    report = decode_capture(
        TESTDATA / "pmacct-ipfix.pcap", prefixes=["198.18.0.0/22", "198.18.4.0/23", "2001:db8::/32"]
    )
    got = {r["prefix"]: r["bytes"] for r in report["aggregate"]}
    assert set(got) == {"198.18.0.0/22", "198.18.4.0/23", "2001:db8::/32"}
    assert got["198.18.4.0/23"] == sum(SENT[f"198.18.{i}.0/24"][0] for i in (4, 5))
