"""Configuration of the policy rules (``policy.rules``) and of the providers a move may
not target for a reason (``policy.target_exclusions``), evaluated in decide/policy.py."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from routepilot.config.base import StrictModel

RuleAction = Literal["ignore", "allow", "deny", "static", "vip"]
MoveReason = Literal[
    "outage", "loss", "latency", "jitter", "capacity", "cost", "policy", "as_incident"
]
"""The reasons of a move a provider can be excluded from as a target."""


def _network(value: str) -> str:
    return str(ipaddress.ip_network(value, strict=True))


Network = Annotated[str, AfterValidator(_network)]


class RuleConfig(StrictModel):
    """One policy rule: what it matches and what it does to the prefixes it matches.

    A rule matches a prefix equal to or more specific than ``prefix`` and/or whose origin
    AS (the last AS of the path routepilot learned) is ``origin_asn``; with both, both
    must hold. Each prefix follows one rule: a rule with a prefix beats one by origin AS
    only, the longest prefix wins, then the first in the list (docs/policy.md)."""

    name: str | None = Field(None, max_length=64)
    """Shown in explanations; by default ``rules[N]`` (its place in the list, from 0)."""
    prefix: Network | None = None
    """Matches this prefix and every more specific one."""
    origin_asn: int | None = Field(None, ge=1, le=4294967295)
    """Matches prefixes whose learned AS path ends in this AS."""
    action: RuleAction
    """ignore: left to BGP (an injection is withdrawn); allow: only ``providers`` may carry
    it; deny: ``providers`` may not (moved off them when another provider can); static: held
    on ``provider`` while within the ceilings; vip: measured through every provider at
    ``probe.vip_interval_s`` even without traffic, its moves first when a limit binds."""
    providers: list[str] = Field(default_factory=list)
    """allow / deny: the providers the rule names."""
    provider: str | None = None
    """static: the provider the prefix is held on."""
    max_loss_pct: float = Field(5.0, ge=0, le=100)
    """static: the pin holds while that path loses at most this share of its probes."""
    max_rtt_ms: float | None = Field(None, gt=0)
    """static: and, when set, while its median RTT is at most this."""
    jitter_threshold_ms: float | None = Field(None, gt=0, le=1000)
    """allow / deny / vip: jitter counts for these prefixes (voice, video). A provider
    whose measured jitter is lower than the current exit's by at least this much is an
    improvement (reason ``jitter``) when it is not significantly lossier and not slower
    than the current exit or BGP's default by the latency threshold; and no latency move
    lands on a provider more jittery than the current exit by this much (docs/policy.md)."""

    @model_validator(mode="after")
    def _consistent(self) -> RuleConfig:
        if self.prefix is None and self.origin_asn is None:
            raise ValueError("a rule needs a prefix, an origin_asn or both")
        if self.action in ("allow", "deny") and not self.providers:
            raise ValueError(f"action {self.action} needs a list of providers")
        if self.action != "static" and self.provider is not None:
            raise ValueError("provider is only for action static (allow and deny take providers)")
        if self.action not in ("allow", "deny") and self.providers:
            raise ValueError("providers is only for actions allow and deny")
        if self.action == "static" and self.provider is None:
            raise ValueError("action static needs a provider")
        if self.jitter_threshold_ms is not None and self.action not in ("allow", "deny", "vip"):
            raise ValueError("jitter_threshold_ms is only for actions allow, deny and vip")
        return self
