"""Parsing and checking of what clients send: prefixes, times, windows.

Every failure raises :class:`BadInput`, which the app answers with a 400 and
one sentence saying what was expected, never a 500.
"""

from __future__ import annotations

import ipaddress
import math
import re
from datetime import UTC, datetime

MAX_POINTS = 10_000
"""Most points one time series may have (window / step): bounds the work per request."""

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

TIME_HELP = (
    "Seconds since the epoch (1800000000), an ISO 8601 time (2027-01-15T08:00:00Z), "
    "or a duration before the controller's now (90s, 15m, 1h, 2d, 1w)."
)


class BadInput(ValueError):
    """A request the API refuses with 400; the message is shown to the client as is."""


def parse_prefix(raw: str) -> str:
    """``198.18.3.0/24`` or ``198.18.3.0_24`` (an underscore for the slash, handy in URLs)."""
    text = raw.strip()
    if "/" not in text and "_" in text:
        text = text.replace("_", "/", 1)
    try:
        if not text or len(text) > 64:
            raise ValueError
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        shown = raw if len(raw) <= 64 else raw[:61] + "..."
        raise BadInput(
            f"bad prefix {shown!r}: expected an IPv4 or IPv6 prefix such as "
            "198.18.3.0/24 (or 198.18.3.0_24 in a URL)"
        ) from None


def parse_name(raw: str, what: str) -> str:
    if not _NAME.match(raw):
        raise BadInput(f"bad {what} {raw[:64]!r}: expected letters, digits, '.', '_' or '-'")
    return raw


def parse_time(raw: str | None, now: float, what: str) -> float | None:
    """A time given as epoch seconds, ISO 8601, or a duration back from ``now``."""
    if raw is None:
        return None
    text = raw.strip()
    m = _DURATION.match(text)
    if m:
        return now - float(m.group(1)) * _UNITS[m.group(2)]
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is not None:
        if not math.isfinite(value) or value < 0 or value > 1e11:
            raise BadInput(f"bad {what} {raw[:40]!r}: seconds since the epoch must be >= 0")
        return value
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise BadInput(f"bad {what} {raw[:40]!r}: {TIME_HELP}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def check_window(since: float | None, until: float | None) -> None:
    if since is not None and until is not None and since > until:
        raise BadInput(f"since ({since:.0f}) is after until ({until:.0f})")


def check_points(since: float, until: float, step: float) -> None:
    points = (until - since) / step
    if points > MAX_POINTS:
        raise BadInput(
            f"the window holds {points:.0f} points of {step:g} s; at most {MAX_POINTS}: "
            "shorten the window or raise step"
        )
