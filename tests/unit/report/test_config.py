"""The `sla` section of the configuration."""

from __future__ import annotations

import pytest

from routepilot.config import Config, ConfigError, load_text

BASE = """
providers:
  - {name: isp1, asn: 65001, next_hops: [100.64.1.1], capacity_mbps: 100}
sla:
  rtt_ms: 40
  loss: 0.01
"""


def test_sla_section_loads_with_overrides() -> None:
    cfg = load_text(BASE + "  providers:\n    isp1: {availability: 0.999}\n", Config)
    t = cfg.sla.target("isp1")
    assert (t.rtt_ms, t.loss, t.availability) == (40, 0.01, 0.999)


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ("  providers:\n    nosuch: {rtt_ms: 10}\n", "unknown providers: nosuch"),
        ("  latency: 10\n", "latency"),
        ("  loss: 2\n", "loss"),
    ],
)
def test_bad_sla_is_rejected(extra: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        load_text(BASE + extra, Config)
