"""Per-receiver filters: which events, from which severity, how many, and when.

:class:`Filter` answers, for each alert, whether this receiver gets it or why not (the
reason is counted in ``routepilot_alerts_filtered_total``). Time is the alert's own
``time`` (the controller's clock), so the decision is reproducible.

A ``resolved`` alert follows its ``firing`` alert through the rate limit and the quiet
hours: a receiver that got the firing gets the resolution (else it would show a problem
that never ends), and one that did not get the firing does not get a resolution of
something it never saw.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import deque

from routepilot.alerts.events import severity_rank
from routepilot.alerts.manager import Alert
from routepilot.config.alerts import QuietHoursConfig, ReceiverFilter

EVENT = "event"
SEVERITY = "severity"
RATE_LIMIT = "rate_limit"
QUIET_HOURS = "quiet_hours"
REASONS = (EVENT, SEVERITY, RATE_LIMIT, QUIET_HOURS)


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def in_quiet_hours(quiet: QuietHoursConfig, when: float) -> bool:
    """Whether ``when`` (Unix time) falls in the daily window, read in its time zone."""
    local = dt.datetime.fromtimestamp(when, zoneinfo.ZoneInfo(quiet.timezone))
    now = local.hour * 60 + local.minute
    start, end = _minutes(quiet.start), _minutes(quiet.end)
    if start < end:
        return start <= now < end
    return now >= start or now < end  # the window spans midnight


class Filter:
    """One receiver's filter, with the state its rate limit and resolutions need."""

    def __init__(self, config: ReceiverFilter) -> None:
        self.config = config
        self._sent: deque[float] = deque()
        self._delivered: set[tuple[str, str]] = set()
        """(kind, key) of firing alerts this receiver got, whose resolution it will get."""

    def verdict(self, alert: Alert) -> str | None:
        """None when the receiver gets ``alert``; else the reason it does not."""
        c = self.config
        if c.events is not None and alert.kind not in c.events:
            return EVENT
        if severity_rank(alert.severity) < severity_rank(c.min_severity):
            return SEVERITY
        ident = (alert.kind, alert.key)
        if alert.state == "resolved":
            if ident in self._delivered:
                self._delivered.discard(ident)
                return None
            # Its firing was held back by the rate limit or the quiet hours.
            return RATE_LIMIT if c.rate_limit is not None else QUIET_HOURS
        quiet = c.quiet_hours
        if (
            quiet is not None
            and in_quiet_hours(quiet, alert.time)
            and severity_rank(alert.severity) < severity_rank(quiet.min_severity)
        ):
            return QUIET_HOURS
        if c.rate_limit is not None:
            while self._sent and self._sent[0] <= alert.time - c.rate_limit.per_s:
                self._sent.popleft()
            if len(self._sent) >= c.rate_limit.max_alerts:
                return RATE_LIMIT
            self._sent.append(alert.time)
        self._delivered.add(ident)
        return None
