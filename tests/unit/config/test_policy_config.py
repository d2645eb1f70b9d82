"""The policy section's rules and the announcement settings: names checked across sections."""

from __future__ import annotations

import pytest

from routepilot.config import ConfigError, load_text
from routepilot.config.models import Config

BASE = """
providers:
  - {name: isp1, asn: 65001, next_hops: [100.64.1.2], capacity_mbps: 100}
  - {name: isp2, asn: 65002, next_hops: [100.64.2.2], capacity_mbps: 100}
"""


def test_a_full_policy_section_loads():
    cfg = load_text(
        BASE
        + """
policy:
  rules:
    - {name: gold, origin_asn: 64601, action: vip}
    - {prefix: 198.18.0.0/20, action: deny, providers: [isp2]}
    - {prefix: 198.18.5.0/24, action: static, provider: isp1, max_loss_pct: 2, max_rtt_ms: 80}
  target_exclusions: {isp2: [capacity, cost]}
inject:
  allowlist: [198.18.0.0/16]
  local_preference_by_reason: {capacity: 400}
  large_communities_by_provider: {isp1: ["65000:1:1"]}
probe: {vip_interval_s: 0.5}
""",
        Config,
    )
    assert [r.action for r in cfg.policy.rules] == ["vip", "deny", "static"]
    assert cfg.inject.allowlist == ["198.18.0.0/16"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("policy: {rules: [{prefix: 198.18.0.0/24, action: deny, providers: [isp9]}]}",
         "policy.rules\\[0\\] names unknown provider 'isp9'"),
        ("policy: {target_exclusions: {isp9: [cost]}}",
         "policy.target_exclusions names unknown provider 'isp9'"),
        ("inject: {communities_by_provider: {isp9: ['1:1']}}",
         "inject.communities_by_provider names unknown provider 'isp9'"),
        ("policy: {rules: [{prefix: 198.18.0.1/24, action: vip}]}", "host bits set"),
        ("policy: {target_exclusions: {isp1: [fun]}}", "policy.target_exclusions.isp1"),
        ("inject: {allowlist: [198.18.0.0/33]}", "inject.allowlist"),
    ],
)  # fmt: skip
def test_bad_policy_is_named(text: str, message: str):
    with pytest.raises(ConfigError, match=message):
        load_text(BASE + text + "\n", Config, "rp.yaml")


def test_config_check_warns_about_an_empty_allowlist_in_live_mode(tmp_path):
    from typer.testing import CliRunner

    from routepilot.cli.main import app

    live = tmp_path / "live.yaml"
    live.write_text(BASE + "inject: {dry_run: false}\n")
    fenced = tmp_path / "fenced.yaml"
    fenced.write_text(BASE + "inject: {dry_run: false, allowlist: [198.18.0.0/15]}\n")
    dry = tmp_path / "dry.yaml"
    dry.write_text(BASE)
    runner = CliRunner()
    out = runner.invoke(app, ["config", "check", str(live)])
    assert out.exit_code == 0 and "warning: inject.allowlist is empty in live mode" in out.output
    for quiet in (fenced, dry):
        out = runner.invoke(app, ["config", "check", str(quiet)])
        assert out.exit_code == 0 and "allowlist is empty" not in out.output
