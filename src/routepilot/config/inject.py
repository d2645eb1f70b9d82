"""Configuration of route injection (inject/)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

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


Community = Annotated[str, AfterValidator(_community)]


class InjectConfig(StrictModel):
    """How improvements are announced to the routers."""

    dry_run: bool = True
    """Decide and record, announce nothing (recommendation mode). On until switched off."""
    local_preference: int = Field(500, ge=0, le=2**32 - 1)
    """LOCAL_PREF of injected routes; must beat every provider route."""
    communities: list[Community] = Field(default_factory=lambda: ["no-export", "no-advertise"])
    """Communities on every injected route; NO_EXPORT and NO_ADVERTISE keep them from leaking."""
    max_routes: int = Field(10000, ge=0)
    """Most routes injected at once; desired routes past it (lowest priority) are dropped."""
    dry_run_journal: int = Field(10000, ge=0)
    """How many would-be changes dry-run mode keeps in memory for inspection."""
