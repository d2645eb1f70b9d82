from __future__ import annotations

import pytest

from routepilot.config import Config, ConfigError, dump_yaml, load_text

GOOD = """
routers:
  - {name: edge, address: 100.66.1.1, asn: 65000}
providers:
  - name: isp1
    asn: 65001
    next_hops: [100.64.1.2]
    capacity_mbps: 1000
    probe: {source: 100.67.0.1}
  - name: isp2
    asn: 65002
    next_hops: [100.64.2.2]
    capacity_mbps: 100
"""


def test_good_config_loads_with_defaults() -> None:
    cfg = load_text(GOOD, Config)
    assert [p.name for p in cfg.providers] == ["isp1", "isp2"]
    assert cfg.inject.dry_run is True
    assert cfg.probe.enabled is False  # probes nothing until configured to
    assert cfg.provider("isp2").capacity_mbps == 100


def test_dump_round_trips() -> None:
    cfg = load_text(GOOD, Config)
    assert load_text(dump_yaml(cfg), Config) == cfg


def test_unknown_key_names_file_line_and_key() -> None:
    text = GOOD + "polcy:\n  mode: cost\n"
    with pytest.raises(ConfigError) as exc:
        load_text(text, Config, "rp.yaml")
    assert "rp.yaml:14: polcy: unknown key" in str(exc.value)


def test_bad_value_names_nested_key_and_line() -> None:
    text = GOOD.replace("capacity_mbps: 100\n", "capacity_mbps: -5\n")
    with pytest.raises(ConfigError) as exc:
        load_text(text, Config, "rp.yaml")
    msg = str(exc.value)
    assert msg.startswith("rp.yaml:13: providers.1.capacity_mbps:")
    assert "greater than 0" in msg


def test_bad_address_is_rejected() -> None:
    with pytest.raises(ConfigError, match="routers.0.address"):
        load_text(GOOD.replace("100.66.1.1", "100.66.1.300"), Config)


def test_duplicate_next_hop_is_rejected() -> None:
    with pytest.raises(ConfigError, match="next_hops must be unique"):
        load_text(GOOD.replace("100.64.2.2", "100.64.1.2"), Config)


def test_broken_yaml_names_line() -> None:
    with pytest.raises(ConfigError, match=r"x.yaml:2: not valid YAML"):
        load_text("a: 1\n  b: [\n", Config, "x.yaml")


def test_unknown_provider_lookup_lists_known() -> None:
    cfg = load_text(GOOD, Config)
    with pytest.raises(KeyError, match="known: isp1, isp2"):
        cfg.provider("isp9")


def test_commit_above_capacity_is_impossible() -> None:
    bad = GOOD.replace("    capacity_mbps: 100\n", "    capacity_mbps: 100\n    commit_mbps: 200\n")
    with pytest.raises(ConfigError, match="commit_mbps 200 exceeds capacity_mbps 100"):
        load_text(bad, Config)


def test_overlapping_prefixes_are_rejected() -> None:
    text = GOOD + "prefixes: [198.18.0.0/16, 198.18.3.0/24, 198.19.0.0/24]\n"
    with pytest.raises(ConfigError, match="198.18.0.0/16 and 198.18.3.0/24 overlap"):
        load_text(text, Config)
    assert len(load_text(GOOD + "prefixes: [198.18.0.0/24, 198.18.1.0/24]\n", Config).prefixes) == 2


def test_limits_that_contradict_each_other_are_rejected() -> None:
    with pytest.raises(ConfigError, match="inject.max_routes"):
        load_text(GOOD + "inject: {max_routes: 10}\npolicy: {max_improvements: 50}\n", Config)
    with pytest.raises(ConfigError, match="must be equal"):
        load_text(GOOD + "probe: {outage_losses: 5}\n", Config)
