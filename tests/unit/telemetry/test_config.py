"""Telemetry configuration: secrets come from files or the environment and are never dumped."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from routepilot.telemetry.config import LinkConfig, SnmpAgentConfig, TelemetryConfig


def test_community_from_file_is_read_and_never_dumped(tmp_path: Path) -> None:
    f = tmp_path / "community"
    f.write_text("s3cret-community\n")
    a = SnmpAgentConfig(name="r1", address="192.0.2.1", community_file=str(f))
    assert a.community is not None and a.community.get_secret_value() == "s3cret-community"
    dumped = TelemetryConfig(agents=[a]).model_dump_json()
    assert "s3cret" not in dumped and "s3cret" not in repr(a)
    assert str(f) in dumped  # the file's name is shown, its content is not
    # The secret itself cannot be written in the configuration.
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        SnmpAgentConfig(name="r1", address="192.0.2.1", community="public")  # type: ignore[call-arg]


def test_v3_passphrases_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RP_AUTH", "authpass123")
    monkeypatch.setenv("RP_PRIV", "privpass123")
    a = SnmpAgentConfig(
        name="r1",
        address="2001:db8::1",
        version="3",
        user="rp",
        auth_key_env="RP_AUTH",
        priv_key_env="RP_PRIV",
    )
    assert "authpass" not in a.model_dump_json() and "privpass" not in a.model_dump_json()


def test_missing_secret_names_the_source_not_the_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RP_NOPE", raising=False)
    with pytest.raises(ValidationError, match="environment variable RP_NOPE is not set"):
        SnmpAgentConfig(name="r1", address="192.0.2.1", community_env="RP_NOPE")
    with pytest.raises(ValidationError, match="v2c needs community_file or community_env"):
        SnmpAgentConfig(name="r1", address="192.0.2.1")
    with pytest.raises(ValidationError, match="cannot read /nonexistent"):
        SnmpAgentConfig(name="r1", address="192.0.2.1", community_file="/nonexistent")


def test_v3_needs_authpriv_with_long_passphrases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RP_SHORT", "short")
    monkeypatch.setenv("RP_LONG", "long enough")
    with pytest.raises(ValidationError, match="priv_key_file or priv_key_env"):
        SnmpAgentConfig(
            name="r1", address="192.0.2.1", version="3", user="u", auth_key_env="RP_LONG"
        )
    with pytest.raises(ValidationError, match="at least 8 characters"):
        SnmpAgentConfig(
            name="r1",
            address="192.0.2.1",
            version="3",
            user="u",
            auth_key_env="RP_SHORT",
            priv_key_env="RP_SHORT",
        )


def test_links_and_references_are_checked() -> None:
    with pytest.raises(ValidationError, match="exactly one of if_name, if_index"):
        LinkConfig(provider="isp1", agent="r1", if_name="eth0", if_index=3)
    with pytest.raises(ValidationError, match="unknown agent 'r2'"):
        TelemetryConfig(links=[LinkConfig(provider="isp1", agent="r2", if_index=3)])
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        TelemetryConfig(pollinterval=5)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="unknown time zone"):
        TelemetryConfig(billing={"timezone": "Mars/Olympus"})


def test_providers_are_checked_by_the_caller_who_knows_them() -> None:
    cfg = TelemetryConfig(
        agents=[],
        billing={"groups": [{"name": "transit", "providers": ["isp1", "isp9"]}]},
    )
    with pytest.raises(ValueError, match=r"groups.transit: unknown provider 'isp9'"):
        cfg.check_providers({"isp1", "isp2"})
    cfg.check_providers({"isp1", "isp9"})
