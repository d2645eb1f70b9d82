"""Configuration of route injection (inject/)."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from routepilot.config.base import StrictModel

_WELL_KNOWN = ("no-export", "no-advertise", "no-export-subconfed", "nopeer", "blackhole")


def _community(value: str) -> str:
    """A standard community (RFC 1997): ``ASN:VALUE``, two 16-bit numbers, or a well-known name."""
    text = value.strip().lower()
    if text in _WELL_KNOWN:
        return text
    m = re.fullmatch(r"(\d+):(\d+)", text)
    if not m or int(m.group(1)) > 65535 or int(m.group(2)) > 65535:
        raise ValueError(
            f"{value!r} is not a community: expected ASN:VALUE (each 0-65535) "
            f"or one of {', '.join(_WELL_KNOWN)}"
        )
    return text


def _large_community(value: str) -> str:
    """A large community (RFC 8092): ``GLOBAL:LOCAL1:LOCAL2``, three 32-bit numbers."""
    m = re.fullmatch(r"(\d+):(\d+):(\d+)", value.strip())
    if not m or any(int(g) > 2**32 - 1 for g in m.groups()):
        raise ValueError(
            f"{value!r} is not a large community: expected GLOBAL:LOCAL1:LOCAL2 "
            "(each 0-4294967295, RFC 8092)"
        )
    return ":".join(str(int(g)) for g in m.groups())


def _network(value: str) -> str:
    return str(ipaddress.ip_network(value, strict=True))


Community = Annotated[str, AfterValidator(_community)]
LargeCommunity = Annotated[str, AfterValidator(_large_community)]
Network = Annotated[str, AfterValidator(_network)]
Reason = Literal[
    "outage",
    "loss",
    "latency",
    "jitter",
    "capacity",
    "cost",
    "pinned",
    "static",
    "policy",
    "revert",
    "maintenance",
    "commit",
    "as_incident",
]
"""The reasons an injected route can carry (decide/reasons.py)."""


class InjectConfig(StrictModel):
    """How improvements are announced to the routers."""

    dry_run: bool = True
    """Decide and record, announce nothing (recommendation mode). On until switched off."""
    local_preference: int = Field(500, ge=0, le=2**32 - 1)
    """LOCAL_PREF of injected routes; must beat every provider route."""
    local_preference_by_reason: dict[Reason, Annotated[int, Field(ge=0, le=2**32 - 1)]] = Field(
        default_factory=dict
    )
    """LOCAL_PREF of routes injected for a reason, instead of ``local_preference``."""
    local_preference_by_provider: dict[str, Annotated[int, Field(ge=0, le=2**32 - 1)]] = Field(
        default_factory=dict
    )
    """LOCAL_PREF of routes through a provider; wins over the reason's."""
    no_advertise: bool | None = None
    """NO_ADVERTISE (RFC 1997) on every injected route: the router passes it to no peer at
    all. Right for a direct session with each edge router; switch it off (false) when
    routepilot talks to a route reflector, which must pass the routes on
    (docs/deployment.md). Unset: as ``communities`` says (on, by default); true adds it.
    NO_EXPORT is always on."""
    communities: list[Community] = Field(default_factory=lambda: ["no-export", "no-advertise"])
    """Standard communities on every injected route (NO_EXPORT is added if missing)."""
    communities_by_reason: dict[Reason, list[Community]] = Field(default_factory=dict)
    """Extra standard communities on routes injected for a reason."""
    communities_by_provider: dict[str, list[Community]] = Field(default_factory=dict)
    """Extra standard communities on routes through a provider."""
    large_communities: list[LargeCommunity] = Field(default_factory=list)
    """Large communities (RFC 8092) on every injected route."""
    large_communities_by_reason: dict[Reason, list[LargeCommunity]] = Field(default_factory=dict)
    """Large communities on routes injected for a reason."""
    large_communities_by_provider: dict[str, list[LargeCommunity]] = Field(default_factory=dict)
    """Large communities on routes through a provider."""
    as_path: Literal["empty", "learned"] = "empty"
    """AS_PATH of injected routes: empty (an iBGP route of our own), or the path learned
    from the chosen provider (for routers whose policies match on it)."""
    allowlist: list[Network] = Field(default_factory=list)
    """When set, routepilot announces no route outside these prefixes (checked in decide/ and
    again in inject/); a route that leaves it is withdrawn at the next round. Empty: any."""
    max_routes: int = Field(10000, ge=0)
    """Most routes injected at once; desired routes past it (lowest priority) are dropped."""
    dry_run_journal: int = Field(10000, ge=0)
    """How many would-be changes dry-run mode keeps in memory for inspection."""

    @model_validator(mode="after")
    def _no_advertise_consistent(self) -> InjectConfig:
        if self.no_advertise is False and "no-advertise" in self.fields_set_communities():
            raise ValueError("communities lists no-advertise while no_advertise is false; drop one")
        return self

    def fields_set_communities(self) -> list[str]:
        """``communities`` as written (the default list does not count against no_advertise)."""
        return self.communities if "communities" in self.model_fields_set else []

    def route_communities(self) -> tuple[str, ...]:
        """The standard communities every injected route carries."""
        out = ["no-export", *self.communities]
        if self.no_advertise is True:
            out.append("no-advertise")
        elif self.no_advertise is False:
            out = [c for c in out if c != "no-advertise"]
        return tuple(dict.fromkeys(out))

    def local_preferences(self) -> frozenset[int]:
        """Every LOCAL_PREF an injected route may carry (to recognise our own routes)."""
        return frozenset(
            [
                self.local_preference,
                *self.local_preference_by_reason.values(),
                *self.local_preference_by_provider.values(),
            ]
        )
