"""Real exporters in namespaces, our collector on their loopback: totals match what was sent."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tests.fixtures.collecting import finish, wait_collected
from tests.fixtures.netns import flow_lab

HERE = Path(__file__).parent
pytestmark = pytest.mark.skipif(shutil.which("pmacctd") is None, reason="pmacctd not installed")

PLAN = [(f"198.18.{10 + i}.1", 400 + 100 * i, 2000) for i in range(4)] + [
    ("2001:db8:77::1", 600, 2000)
]
SENT = {f"198.18.{10 + i}.0/24": 2000 * (400 + 100 * i + 28) for i in range(4)} | {
    "2001:db8:77::/48": 2000 * (600 + 48)
}


def _collect(lab, exporter_conf: str, port: int, enough) -> dict:  # type: ignore[no-untyped-def]
    """Runs pmacctd with ``exporter_conf`` while PLAN is sent, until what the collector
    counted satisfies ``enough`` (bytes per prefix so far); then stops pmacctd (it exports
    what it still holds) and the collector, and returns the collector's count."""
    proc = subprocess.Popen(
        ["ip", "netns", "exec", lab.src, sys.executable, str(HERE / "collector_script.py"),
         str(port), "120"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    lab.procs.append(proc)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    pmacctd = lab.pmacctd(exporter_conf)  # capturing and exporting once it returns
    lab.send(PLAN)
    wait_collected(proc, enough, 60, "the exports of what was sent")
    lab.stop(pmacctd)
    return finish(proc)


def _every_prefix(share: float):  # type: ignore[no-untyped-def]
    """Every prefix sent has at least ``share`` of its bytes counted."""
    return lambda got: all(got.get(k, 0.0) >= share * v for k, v in SENT.items())


def test_pmacct_ipfix_totals_within_5_percent():
    with flow_lab("live1") as lab:
        result = _collect(
            lab,
            "pcap_filter: udp\nplugins: nfprobe\nnfprobe_receiver: 127.0.0.1:4739\n"
            "nfprobe_version: 10\nnfprobe_timeouts: udp=1:maxlife=2:expint=1:general=1\n",
            4739,
            # Flows expire 1 s after their last packet: every prefix comes whole.
            _every_prefix(0.95),
        )
    assert result["metrics"]["drops"] == {}
    for prefix, nbytes in SENT.items():
        assert result["totals"][prefix][0] == pytest.approx(nbytes, rel=0.05), prefix


def test_pmacct_sflow_sampled_totals_scale_back():
    with flow_lab("live2") as lab:
        result = _collect(
            lab,
            "pcap_filter: udp\nplugins: sfprobe\nsfprobe_receiver: 127.0.0.1:6343\n"
            "sfprobe_agentip: 100.64.250.1\nsampling_rate: 4\n",
            6343,
            # Samples go out as packets are sampled: wait for most of the scaled total.
            lambda got: sum(got.get(k, 0.0) for k in SENT) >= 0.9 * sum(SENT.values()),
        )
    assert result["metrics"]["records"]["sflow"] > 1000
    # sFlow counts frames (Ethernet header and FCS included): 18 bytes a packet more.
    sent = sum(SENT.values()) + 10_000 * 18
    got = sum(v[0] for k, v in result["totals"].items() if k in SENT)
    assert got == pytest.approx(sent, rel=0.10)
