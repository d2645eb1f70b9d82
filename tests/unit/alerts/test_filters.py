"""Per-receiver filters: events, minimum severity, rate limit, quiet hours; a resolution
goes where its firing went, and every alert held back is counted with its reason."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from pydantic import ValidationError

from routepilot.alerts.dispatch import Dispatcher
from routepilot.alerts.fake import FakeTransport
from routepilot.alerts.filters import Filter, in_quiet_hours
from routepilot.alerts.manager import Alert
from routepilot.config.alerts import AlertsConfig, QuietHoursConfig, ReceiverFilter

PARIS = "Europe/Paris"


def at(iso: str) -> float:
    return dt.datetime.fromisoformat(iso).timestamp()


def alert(
    kind: str = "provider_outage",
    severity: str = "critical",
    state: str = "firing",
    when: float = 1_000_000.0,
    key: str = "isp1",
) -> Alert:
    return Alert(kind, key, state, severity, f"{kind} {key}", {}, when, when)


def test_events_and_min_severity() -> None:
    f = Filter(ReceiverFilter(events=["provider_outage", "bgp_session_down"]))
    assert f.verdict(alert()) is None
    assert f.verdict(alert("provider_brownout", "warning")) == "event"
    g = Filter(ReceiverFilter(min_severity="critical"))
    assert g.verdict(alert("commit_overrun", "warning")) == "severity"
    assert g.verdict(alert("bgp_session_down", "critical")) is None


def test_unknown_event_name_is_refused_by_the_configuration() -> None:
    with pytest.raises(ValidationError, match="provider_outage"):
        ReceiverFilter(events=["provider_outgae"])


def test_rate_limit_is_a_sliding_window() -> None:
    f = Filter(ReceiverFilter.model_validate({"rate_limit": {"max_alerts": 2, "per_s": 60}}))
    t = 1_000_000.0
    verdicts = [f.verdict(alert(key=f"isp{k}", when=t + k)) for k in range(4)]
    assert verdicts == [None, None, "rate_limit", "rate_limit"]
    assert f.verdict(alert(key="isp9", when=t + 60)) is None  # the first one left the window
    assert f.verdict(alert(key="isp8", when=t + 60.5)) == "rate_limit"
    assert f.verdict(alert(key="isp7", when=t + 61)) is None


def test_a_resolution_follows_its_firing() -> None:
    f = Filter(ReceiverFilter.model_validate({"rate_limit": {"max_alerts": 1, "per_s": 3600}}))
    assert f.verdict(alert(key="isp1", when=0)) is None
    assert f.verdict(alert(key="isp2", when=1)) == "rate_limit"
    # isp1's resolution goes out even though the window is full: the receiver saw it fire.
    assert f.verdict(alert(key="isp1", state="resolved", when=2)) is None
    # isp2's does not: the receiver never heard of it.
    assert f.verdict(alert(key="isp2", state="resolved", when=3)) == "rate_limit"


@pytest.mark.parametrize(
    "start,end,local,inside",
    [
        ("22:00", "07:00", "2026-12-02T23:30", True),
        ("22:00", "07:00", "2026-12-02T06:59", True),
        ("22:00", "07:00", "2026-12-02T07:00", False),
        ("22:00", "07:00", "2026-12-02T12:00", False),
        ("09:00", "17:00", "2026-12-02T08:59", False),
        ("09:00", "17:00", "2026-12-02T09:00", True),
    ],
)
def test_quiet_hours_window_in_its_time_zone(
    start: str, end: str, local: str, inside: bool
) -> None:
    quiet = QuietHoursConfig(start=start, end=end, timezone=PARIS)
    when = dt.datetime.fromisoformat(local).replace(tzinfo=dt.UTC)
    # The same wall-clock time in Paris is one hour earlier in UTC in December.
    paris = when - dt.timedelta(hours=1)
    assert in_quiet_hours(quiet, paris.timestamp()) is inside


def test_quiet_hours_let_only_the_most_severe_through() -> None:
    f = Filter(
        ReceiverFilter.model_validate(
            {"quiet_hours": {"start": "22:00", "end": "07:00", "timezone": "UTC"}}
        )
    )
    night, day = at("2026-12-02T02:00:00+00:00"), at("2026-12-02T14:00:00+00:00")
    assert f.verdict(alert("provider_brownout", "warning", when=night)) == "quiet_hours"
    assert f.verdict(alert("provider_outage", "critical", when=night)) is None
    assert f.verdict(alert("provider_brownout", "warning", when=day, key="isp2")) is None


def test_bad_quiet_hours_are_refused() -> None:
    with pytest.raises(ValidationError, match="time zone"):
        QuietHoursConfig(start="22:00", end="07:00", timezone="Mars/Olympus")
    with pytest.raises(ValidationError):
        QuietHoursConfig(start="24:00", end="07:00")
    with pytest.raises(ValidationError, match="empty window"):
        QuietHoursConfig(start="07:00", end="07:00")


def test_the_dispatcher_counts_what_each_filter_holds_back_and_bounds_each_queue() -> None:
    config = AlertsConfig(queue_size=2)
    everything, outages = FakeTransport(), FakeTransport()

    async def run() -> Dispatcher:
        d = Dispatcher(config)
        d.add("webhook", 0, ReceiverFilter(), everything)
        d.add("email", 0, ReceiverFilter(events=["provider_outage"]), outages)
        # Before the workers run, three alerts for a queue of two: the oldest is dropped.
        for k in range(3):
            d.submit(alert("provider_brownout", "warning", key=f"isp{k}"))
        d.submit(alert(key="isp9"))
        await d.start()
        assert await d.drain(5)
        await d.stop()
        return d

    d = asyncio.run(run())
    assert [a.key for a in everything.got] == ["isp2", "isp9"]
    assert [a.key for a in outages.got] == ["isp9"]
    assert d.metrics.dropped == {"webhook/0": 2}
    assert d.metrics.filtered == {("email/0", "event"): 3}
    assert d.metrics.sent == {"webhook/0": 2, "email/0": 1}


def test_retries_follow_the_transports_verdict() -> None:
    config = AlertsConfig(max_attempts=4, backoff_initial_s=0.001)
    flaky, refused = FakeTransport(fail_first=2), FakeTransport(fail_first=1, retry=False)

    async def run() -> Dispatcher:
        d = Dispatcher(config)
        d.add("webhook", 0, ReceiverFilter(), flaky)
        d.add("webhook", 1, ReceiverFilter(), refused)
        await d.start()
        d.submit(alert())
        assert await d.drain(5)
        await d.stop()
        return d

    d = asyncio.run(run())
    assert flaky.attempts == 3 and len(flaky.got) == 1
    assert refused.attempts == 1 and refused.got == []
    assert d.metrics.retries == {"webhook/0": 2}
    assert d.metrics.failed == {"webhook/1": 1}
    assert flaky.started and flaky.closed
