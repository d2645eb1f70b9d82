"""Real exporters in namespaces, our collector on their loopback: totals match what was sent."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.fixtures.netns import flow_lab

HERE = Path(__file__).parent
pytestmark = pytest.mark.skipif(shutil.which("pmacctd") is None, reason="pmacctd not installed")

PLAN = [(f"198.18.{10 + i}.1", 400 + 100 * i, 2000) for i in range(4)] + [
    ("2001:db8:77::1", 600, 2000)
]
SENT = {f"198.18.{10 + i}.0/24": 2000 * (400 + 100 * i + 28) for i in range(4)} | {
    "2001:db8:77::/48": 2000 * (600 + 48)
}


def _collect(lab, exporter_conf: str, port: int) -> dict:
    proc = subprocess.Popen(
        ["ip", "netns", "exec", lab.src, sys.executable, str(HERE / "collector_script.py"),
         str(port), "10"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    lab.procs.append(proc)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    pmacctd = lab.pmacctd(exporter_conf)
    time.sleep(2.0)
    lab.send(PLAN)
    time.sleep(3.0)
    lab.stop(pmacctd)  # pmacctd exports what it still holds when it stops
    out, _ = proc.communicate(timeout=30)
    return json.loads(out.strip().splitlines()[-1])


def test_pmacct_ipfix_totals_within_5_percent():
    with flow_lab("live1") as lab:
        result = _collect(
            lab,
            "pcap_filter: udp\nplugins: nfprobe\nnfprobe_receiver: 127.0.0.1:4739\n"
            "nfprobe_version: 10\nnfprobe_timeouts: udp=1:maxlife=2:expint=1:general=1\n",
            4739,
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
        )
    assert result["metrics"]["records"]["sflow"] > 1000
    # sFlow counts frames (Ethernet header and FCS included): 18 bytes a packet more.
    sent = sum(SENT.values()) + 10_000 * 18
    got = sum(v[0] for k, v in result["totals"].items() if k in SENT)
    assert got == pytest.approx(sent, rel=0.10)
