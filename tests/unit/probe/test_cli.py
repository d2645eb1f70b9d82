"""Bad input on the probe commands: one clear line, no traceback, no packet sent."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from routepilot.cli.main import app

CONFIG = """
providers:
  - name: isp1
    asn: 64501
    next_hops: [100.64.1.1]
    capacity_mbps: 1000
    probe: {source: 100.67.0.1}
  - name: isp2
    asn: 64502
    next_hops: [100.64.2.1]
    capacity_mbps: 1000
    probe: {source: 100.67.0.2, source6: "2001:db8:ff67::2"}
"""


@pytest.fixture
def cfg(tmp_path):
    p = tmp_path / "rp.yaml"
    p.write_text(CONFIG)
    return str(p)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["probe", "not-an-ip"], "'not-an-ip' is not an IP address"),
        (["probe", "198.18.0.1", "--kind", "sctp"], "unknown probe kind 'sctp'"),
        (["probe", "198.18.0.1", "--provider", "isp1"], "--provider needs -c FILE"),
        (["probe", "198.18.0.1", "--source", "nope"], "--source 'nope' is not an IP address"),
        (["traceroute", "198.18.0.1", "-c", "{cfg}"], "give --provider NAME"),
    ],
)
def test_bad_input_gives_one_line(args, message, cfg):
    result = CliRunner().invoke(app, [a.replace("{cfg}", cfg) for a in args])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert "Traceback" not in result.output


def test_unknown_provider_names_the_known_ones(cfg):
    result = CliRunner().invoke(app, ["probe", "198.18.0.1", "-c", cfg, "--provider", "isp9"])
    assert result.exit_code == 2
    assert "unknown provider 'isp9' (known: isp1, isp2)" in result.output


def test_ipv6_target_through_a_provider_without_ipv6_source(cfg):
    result = CliRunner().invoke(app, ["probe", "2001:db8:1001::1", "-c", cfg])
    assert result.exit_code == 2
    assert "provider isp1 has no IPv6 (probe.source6) source address" in result.output


def test_interval_above_politeness_cap_is_refused(cfg):
    result = CliRunner().invoke(app, ["probe", "198.18.0.1", "-c", cfg, "--interval", "0.1"])
    assert result.exit_code == 2
    assert "above probe.per_target_rate" in result.output


def test_bad_config_file_names_the_line(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("providers:\n  - name: isp1\n    colour: red\n")
    result = CliRunner().invoke(app, ["probe", "198.18.0.1", "-c", str(p)])
    assert result.exit_code == 2
    assert f"{p}:" in result.output and "Traceback" not in result.output
