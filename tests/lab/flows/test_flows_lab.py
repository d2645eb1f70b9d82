"""Traffic from the lab's generator, through edge, exported by pmacct, collected by routepilot:
per-prefix and per-provider byte totals within 5 % of what the generator sent."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from tests.fixtures.collecting import finish, wait_collected
from tests.fixtures.netns import wait_for

from routepilot.lab.core import Lab
from routepilot.lab.netns import pid_alive
from routepilot.lab.spec import CTL_LINK
from routepilot.lab.traffic import PAYLOAD, zipf_shares

COLLECTOR = Path(__file__).parents[2] / "integration" / "flows" / "collector_script.py"
RATE_MBPS = 4.0
DURATION_S = 20.0


def test_collected_totals_match_generated_traffic(flows_lab: Lab) -> None:
    lab = flows_lab
    spec = lab.spec
    prefixes = spec.prefixes_v4_list() + spec.prefixes_v6_list()
    shares = zipf_shares(len(prefixes), spec.traffic.zipf_s)
    total_payload = RATE_MBPS * 1e6 * DURATION_S / 8
    expected: dict[str, float] = {}
    for prefix, share in zip(prefixes, shares, strict=True):
        header = 48 if ":" in prefix else 28  # the generator counts UDP payload only
        expected[prefix] = share * total_payload * (PAYLOAD + header) / PAYLOAD
    ifindexes = lab.ifindexes()
    providers = [{"name": n, "exporter": CTL_LINK[0], "ifindex": i} for n, i in ifindexes.items()]
    proc = subprocess.Popen(
        ["ip", "netns", "exec", lab.ns("ctl"), sys.executable, str(COLLECTOR),
         str(spec.export.port), str(DURATION_S + 120), CTL_LINK[1], *prefixes],
        stdout=subprocess.PIPE, text=True,
        env={**os.environ, "RP_PROVIDERS": json.dumps(providers)},
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        generator = lab.traffic_start(rate_mbps=RATE_MBPS, duration_s=DURATION_S)
        wait_for(lambda: not pid_alive(generator), DURATION_S + 30, "the traffic to end")
        # pmacctd expires flows only as packets arrive: once the traffic stops, the last
        # seconds stay in its cache until it is told to stop, when it exports them.
        _stop_exporters(lab)
        wait_collected(
            proc,
            lambda got: all(got.get(k, 0.0) >= 0.95 * v for k, v in expected.items()),
            30,
            "every prefix's exports",
        )
        result = finish(proc)
    finally:
        lab.traffic_stop()
        if proc.poll() is None:
            proc.kill()
    assert result["metrics"]["drops"] == {}
    per_provider: dict[str, float] = {}
    for prefix, want in expected.items():
        got = result["totals"].get(prefix, [0.0])[0]
        assert got == pytest.approx(want, rel=0.05), prefix
        exit_ = _exit(lab, prefix)
        per_provider[exit_] = per_provider.get(exit_, 0.0) + want
    assert result["providers"].get("unattributed", 0.0) == 0.0
    for name, want in per_provider.items():
        assert result["providers"][name] == pytest.approx(want, rel=0.05), name


def _stop_exporters(lab: Lab) -> None:
    for rec in lab.state.processes:
        if rec.role.startswith("pmacctd-"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(rec.pid, signal.SIGTERM)


def _exit(lab: Lab, prefix: str) -> str:
    """The provider edge's kernel sends this prefix to (its link is named after it)."""
    host = str(ipaddress.ip_network(prefix).network_address + 1)
    out = subprocess.run(["ip", "-n", lab.ns("edge"), "route", "get", host],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    words = out.split()
    return words[words.index("dev") + 1]
