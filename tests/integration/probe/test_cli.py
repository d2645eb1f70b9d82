"""`routepilot probe` and `routepilot traceroute` run for real inside the prober namespace."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from tests.fixtures.delays import check_held_delay
from tests.fixtures.netns import destination, destination6

CONFIG = """
providers:
{providers}
probe:
  per_target_rate: 50
"""
PROVIDER = """  - name: isp{i}
    asn: 6450{i}
    next_hops: [100.64.{i}.1]
    capacity_mbps: 1000
    probe: {{source: 100.67.0.{i}, source6: "2001:db8:ff67::{i}"}}
"""


@pytest.fixture
def config(tmp_path: Path) -> str:
    p = tmp_path / "routepilot.yaml"
    p.write_text(CONFIG.format(providers="".join(PROVIDER.format(i=i) for i in (1, 2, 3))))
    return str(p)


def cli(bed, *args: str, user: str | None = None) -> subprocess.CompletedProcess:
    cmd = ["ip", "netns", "exec", bed.p]
    if user:
        cmd += [
            "setpriv",
            f"--reuid={user}",
            f"--regid={user}",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
        ]
    cmd += [sys.executable, "-m", "routepilot.cli.main", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def test_probe_json_side_by_side(bed, config):
    bed.delay(2, 20.0)
    t0 = time.monotonic()
    out = cli(
        bed, "probe", destination(9, 1), destination6(9, 1), "-c", config, "--json", "--count", "10"
    )
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert [(r["address"], r["provider"]) for r in rows][:3] == [
        (destination(9, 1), "isp1"),
        (destination(9, 1), "isp2"),
        (destination(9, 1), "isp3"),
    ]
    by = {(r["address"], r["provider"]): r for r in rows}
    isp2 = by[destination(9, 1), "isp2"]["rtt_median_ms"]
    check_held_delay(lambda: bed.held(2), destination(9, 1), t0, isp2, 20.0)
    assert by[destination(9, 1), "isp1"]["rtt_median_ms"] < 1.0
    assert all(r["answered"] >= 9 for r in rows)  # a user-space delayer on a shared machine
    keys = {
        "address",
        "provider",
        "kind",
        "sent",
        "answered",
        "unreachable",
        "loss",
        "loss_low",
        "loss_high",
        "rtt_min_ms",
        "rtt_median_ms",
        "rtt_p90_ms",
        "rtt_max_ms",
        "jitter_ms",
        "responders",
    }
    assert set(rows[0]) == keys


def test_probe_table_with_provider_filter_and_kind(bed, config):
    out = cli(
        bed,
        "probe",
        destination(9, 2),
        "-c",
        config,
        "--provider",
        "isp3",
        "--kind",
        "tcp",
        "-n",
        "3",
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0].startswith("ADDRESS") and len(lines) == 2
    assert "isp3" in lines[1] and "tcp" in lines[1] and "0.0%" in lines[1]


def test_ad_hoc_source_without_config(bed):
    out = cli(bed, "probe", destination(9, 3), "--source", "100.67.0.2", "-n", "2", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)[0]["provider"] == "src:100.67.0.2"


def test_traceroute(bed, config):
    out = cli(bed, "traceroute", destination(9, 4), "-c", config, "--provider", "isp1")
    assert out.returncode == 0, out.stderr
    assert f"  1  {destination(9, 4)}" in out.stdout


def test_source_not_on_this_host_is_one_line(bed):
    out = cli(bed, "probe", destination(9, 5), "--source", "100.67.0.99")
    assert out.returncode == 2
    assert out.stderr.strip() == "error: source address 100.67.0.99 is not configured on this host"


@pytest.mark.skipif(not shutil.which("setpriv"), reason="needs setpriv")
def test_missing_privileges_is_one_line(bed):
    out = cli(bed, "probe", destination(9, 6), user="65534")
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().splitlines() == [
        "error: raw sockets need CAP_NET_RAW: run as root or grant the capability"
    ]


@pytest.mark.skipif(not shutil.which("setpriv"), reason="needs setpriv")
def test_mark_without_cap_net_admin_is_one_line(bed):
    # Readable by the unprivileged user (pytest's own temporary directories are not).
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", dir="/tmp") as f:
        f.write(
            "providers:\n  - name: isp1\n    asn: 64501\n    next_hops: [100.64.1.1]\n"
            "    capacity_mbps: 1000\n    probe: {mark: 1}\n"
        )
        f.flush()
        Path(f.name).chmod(0o644)
        # UDP needs no raw socket: the first privilege missing is CAP_NET_ADMIN for SO_MARK.
        out = cli(bed, "probe", destination(9, 7), "-c", f.name, "--kind", "udp", user="65534")
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().splitlines() == ["error: socket marks (SO_MARK) need CAP_NET_ADMIN"]
