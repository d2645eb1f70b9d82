"""The collector's configuration rejects what it cannot honour."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

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
