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


def test_probe_rollups_divide_the_minute() -> None:
    assert load_text(GOOD, Config).probe.rollup_s == 60
    assert load_text(GOOD + "probe: {rollup_s: 15}\n", Config).probe.rollup_s == 15
    with pytest.raises(ConfigError, match="rollup_s 45: expected a divisor of 60"):
        load_text(GOOD + "probe: {rollup_s: 45}\n", Config)
    with pytest.raises(ConfigError, match="probe.rollup_s"):
        load_text(GOOD + "probe: {rollup_s: 0}\n", Config)


def test_telemetry_is_off_by_default_and_its_providers_must_exist(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert load_text(GOOD, Config).telemetry.enabled is False
    monkeypatch.setenv("RP_TEST_COMMUNITY", "s3cret-community")
    telemetry = """telemetry:
  enabled: true
  agents: [{name: edge, address: 100.66.1.1, community_env: RP_TEST_COMMUNITY}]
  links: [{provider: isp1, agent: edge, if_name: eth1}]
"""
    cfg = load_text(GOOD + telemetry, Config)
    assert cfg.telemetry.links[0].provider == "isp1"
    assert "s3cret-community" not in dump_yaml(cfg)
    with pytest.raises(ConfigError, match="telemetry.links: unknown provider 'isp9'"):
        load_text(GOOD + telemetry.replace("provider: isp1", "provider: isp9"), Config)


def test_router_tcp_md5_password_from_a_file_or_the_environment_never_dumped(
    tmp_path, monkeypatch
) -> None:
    from pydantic import ValidationError

    from routepilot.config.models import RouterConfig
    from routepilot.rib.config import SpeakerConfig
    from routepilot.rib.speaker.exabgp import ExaBGPSpeaker

    f = tmp_path / "md5"
    f.write_text("deadbeef\n")  # looks like hex: ExaBGP must not read it as base64
    r = RouterConfig(name="edge", address="100.64.0.1", asn=65000, md5_password_file=str(f))
    assert r.md5_password is not None and r.md5_password.get_secret_value() == "deadbeef"
    assert "deadbeef" not in r.model_dump_json() and "deadbeef" not in repr(r)
    conf = ExaBGPSpeaker(SpeakerConfig(), [r]).render_config("/tmp/x.sock")
    assert "md5-password ZGVhZGJlZWY=;" in conf and "md5-base64 true;" in conf
    assert "deadbeef" not in conf

    monkeypatch.setenv("RP_MD5", 'a "quoted"; password')
    r = RouterConfig(name="edge", address="100.64.0.1", asn=65000, md5_password_env="RP_MD5")
    assert r.md5_password is not None and r.md5_password.get_secret_value().startswith('a "')
    assert "quoted" not in ExaBGPSpeaker(SpeakerConfig(), [r]).render_config("/tmp/x.sock")

    with pytest.raises(ValidationError, match="RP_NOPE is not set"):
        RouterConfig(name="edge", address="100.64.0.1", asn=65000, md5_password_env="RP_NOPE")
    with pytest.raises(ValidationError, match="cannot read /nonexistent"):
        RouterConfig(name="e", address="100.64.0.1", asn=1, md5_password_file="/nonexistent")
    f.write_text("x" * 81)
    with pytest.raises(ValidationError, match="over 80 bytes"):
        RouterConfig(name="e", address="100.64.0.1", asn=1, md5_password_file=str(f))
    with pytest.raises(ValidationError, match="not both|or md5_password_env"):
        RouterConfig(
            name="e", address="100.64.0.1", asn=1, md5_password_file=str(f), md5_password_env="X"
        )


def test_tcp_md5_drop_counters_are_read_from_netstat() -> None:
    from routepilot.rib.speaker.exabgp import parse_tcp_md5_drops

    text = (
        "TcpExt: SyncookiesSent TCPMD5NotFound TCPMD5Unexpected TCPMD5Failure TW\n"
        "TcpExt: 0 4 1 7 9\n"
        "IpExt: InNoRoutes\nIpExt: 0\n"
    )
    assert parse_tcp_md5_drops(text) == {"not_found": 4, "unexpected": 1, "failure": 7}
    assert parse_tcp_md5_drops("IpExt: A\nIpExt: 1\n") == {}
