"""The collector's configuration rejects what it cannot honour."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from routepilot.cli.main import app
from routepilot.flows.config import FlowsConfig


def test_defaults_listen_on_the_standard_ports():
    cfg = FlowsConfig()
    assert (cfg.netflow_port, cfg.ipfix_port, cfg.sflow_port) == (2055, 4739, 6343)
    assert cfg.listen_address == "::"


@pytest.mark.parametrize(
    "bad",
    [
        {"sampling_overrides": [{"exporter": "not-an-ip", "rate": 10}]},
        {"sampling_overrides": [{"exporter": "192.0.2.1", "rate": 0}]},
        {"ipv6_granularity": 64},
        {"window_s": 0},
        {"netflow_prt": 2055},
    ],
)
def test_rejects(bad):
    with pytest.raises(ValidationError):
        FlowsConfig(**bad)


def test_sampling_override_normalises_the_address():
    cfg = FlowsConfig(sampling_overrides=[{"exporter": "2001:DB8::0001", "rate": 512}])
    assert cfg.sampling_overrides[0].exporter == "2001:db8::1"


def test_exporters_are_networks():
    cfg = FlowsConfig(exporters=["192.0.2.7/24", "2001:DB8::/32", "198.51.100.1"])
    assert cfg.exporters == ["192.0.2.0/24", "2001:db8::/32", "198.51.100.1/32"]
    with pytest.raises(ValidationError, match="exporters"):
        FlowsConfig(exporters=["router-1"])


@pytest.mark.parametrize(
    ("settings", "warned"),
    [
        ({}, True),
        ({"listen_address": "0.0.0.0"}, True),
        ({"listen_address": "192.0.2.1"}, True),
        ({"listen_address": "127.0.0.1"}, False),
        ({"listen_address": "::1"}, False),
        ({"exporters": ["192.0.2.0/24"]}, False),
        ({"enabled": False}, False),
    ],
)
def test_an_open_collector_without_allowlist_is_warned_about(settings, warned):
    warnings = FlowsConfig(**settings).warnings()
    assert bool(warnings) == warned
    if warned:
        assert "flows.exporters" in warnings[0]


def test_config_check_prints_the_warning_and_still_passes(tmp_path):
    path = tmp_path / "rp.yaml"
    path.write_text("flows:\n  listen_address: '0.0.0.0'\n")
    result = CliRunner().invoke(app, ["config", "check", str(path)])
    assert result.exit_code == 0, result.output
    assert "warning: flows.exporters is empty" in result.output
    path.write_text("flows:\n  listen_address: '0.0.0.0'\n  exporters: [192.0.2.0/24]\n")
    result = CliRunner().invoke(app, ["config", "check", str(path)])
    assert result.exit_code == 0 and "warning" not in result.output


def test_an_exporter_named_elsewhere_but_outside_the_allowlist_is_warned_about():
    cfg = FlowsConfig(
        exporters=["192.0.2.0/24"],
        sampling_overrides=[{"exporter": "198.51.100.9", "rate": 100}],
    )
    assert cfg.warnings(["192.0.2.1", "203.0.113.1", "203.0.113.1"]) == [
        "exporter 203.0.113.1 is not in flows.exporters: its exports will be dropped",
        "exporter 198.51.100.9 is not in flows.exporters: its exports will be dropped",
    ]
