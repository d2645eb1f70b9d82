"""Counter deltas: wraps, resets and restarts give a stated discontinuity, never a spike."""

from __future__ import annotations

from routepilot.telemetry.counters import (
    AGENT_RESTART,
    CLOCK_MISMATCH,
    COUNTER32,
    COUNTER_BACKWARDS,
    DISCONTINUITY_TIME,
    WIDTH_CHANGED,
    WRAP_AMBIGUOUS,
    Delta,
    Discontinuity,
    Reading,
    delta,
    too_short,
)


def r(t: float, in_o: int, out_o: int, width: int = 64, **kw: int) -> Reading:
    return Reading(t, 1000.0 + t, kw.pop("uptime", round(t * 100)), in_o, out_o, width, **kw)


def test_rate_uses_the_agent_time() -> None:
    # Our clock says 10.3 s (a late answer), the agent says 10 s: the agent is right.
    prev = Reading(0.0, 0.0, 100_000, 0, 0, 64)
    cur = Reading(10.3, 10.3, 101_000, 1_250_000, 2_500_000, 64)
    d = delta(prev, cur)
    assert isinstance(d, Delta)
    assert (d.seconds, d.in_bps, d.out_bps) == (10.0, 1_000_000.0, 2_000_000.0)


def test_32bit_counter_wraps() -> None:
    d = delta(r(0, COUNTER32 - 1000, 5, 32), r(10, 500, 10, 32))
    assert isinstance(d, Delta) and (d.in_octets, d.out_octets) == (1500, 5)


def test_64bit_counter_going_back_is_a_discontinuity() -> None:
    d = delta(r(0, 10_000, 10_000), r(10, 5_000, 20_000))
    assert isinstance(d, Discontinuity) and d.reason == COUNTER_BACKWARDS


def test_agent_restart_is_a_discontinuity() -> None:
    d = delta(r(0, 10**12, 10**12, uptime=500_000), r(10, 1000, 1000, uptime=900))
    assert isinstance(d, Discontinuity) and d.reason == AGENT_RESTART


def test_restart_hidden_by_growing_uptime_is_caught_by_our_clock() -> None:
    # The agent restarted 3 s into a 10 s interval whose previous uptime was 2 s: its
    # uptime grew (2 s -> 7 s) but only 5 s of agent time for 10 s of ours.
    d = delta(r(0, 10**9, 10**9, uptime=200), r(10, 10, 10, uptime=700))
    assert isinstance(d, Discontinuity) and d.reason == CLOCK_MISMATCH


def test_a_poller_late_to_read_its_answer_is_not_a_clock_mismatch() -> None:
    # Asked at 10.0 s, but the answer was read at 12.5 s (the poller was busy): the agent
    # read its counters somewhere in that window, 10 s after the previous ones.
    prev = Reading(0.2, 0.2, 100_000, 0, 0, 64, sent_mono=0.0)
    cur = Reading(12.5, 12.5, 101_000, 1_250_000, 2_500_000, 64, sent_mono=10.0)
    d = delta(prev, cur)
    assert isinstance(d, Delta) and d.seconds == 10.0
    # The same agent time with the answer read at once would have been a mismatch only if
    # it fell outside that window: 5 s of agent time for a 10-12.5 s window is one.
    short = Reading(12.5, 12.5, 100_500, 1, 1, 64, sent_mono=10.0)
    d = delta(prev, short)
    assert isinstance(d, Discontinuity) and d.reason == CLOCK_MISMATCH


def test_discontinuity_time_change() -> None:
    d = delta(r(0, 0, 0, discontinuity_cs=0), r(10, 99, 99, discontinuity_cs=450))
    assert isinstance(d, Discontinuity) and d.reason == DISCONTINUITY_TIME


def test_width_change() -> None:
    d = delta(r(0, 0, 0, 64), r(10, 99, 99, 32))
    assert isinstance(d, Discontinuity) and d.reason == WIDTH_CHANGED


def test_32bit_counter_too_slow_for_the_interface() -> None:
    # 10 Gb/s moves 4 GiB in 3.4 s: a 32-bit counter polled every 10 s is ambiguous.
    d = delta(r(0, 0, 0, 32, speed_bps=10**10), r(10, 5, 5, 32, speed_bps=10**10))
    assert isinstance(d, Discontinuity) and d.reason == WRAP_AMBIGUOUS
    assert isinstance(
        delta(r(0, 0, 0, 32, speed_bps=10**9), r(10, 5, 5, 32, speed_bps=10**9)), Delta
    )


def test_readings_in_the_same_uptime_tick_are_too_short_not_a_mismatch() -> None:
    # Two polls 4 ms apart (the round right after the one that resolved ifName): the agent's
    # sysUpTime, in hundredths, did not move. That pair is not a restart and not a rate.
    prev = Reading(0.004, 0.0, 100_000, 0, 0, 64, sent_mono=0.0)
    same = Reading(0.012, 0.0, 100_000, 5_000, 5_000, 64, sent_mono=0.008)
    assert too_short(prev, same)
    one_tick = Reading(0.030, 0.0, 100_001, 5_000, 5_000, 64, sent_mono=0.020)
    assert too_short(prev, one_tick)  # 10 ms by the agent for 16-30 ms: a 2x rate error
    # Ten seconds later the older reading still rates the whole interval.
    later = Reading(10.004, 10.0, 101_000, 1_250_000, 1_250_000, 64, sent_mono=10.0)
    assert not too_short(prev, later)
    d = delta(prev, later)
    assert isinstance(d, Delta) and d.out_bps == 1_000_000.0


def test_a_restart_within_a_long_interval_is_not_too_short() -> None:
    # The agent's uptime grew by 1 s while our clock says 10 s passed: a restart hidden by
    # the uptime, which stays a discontinuity rather than a short interval.
    prev = Reading(0.0, 0.0, 100, 0, 0, 64)
    cur = Reading(10.0, 10.0, 200, 10, 10, 64)
    assert not too_short(prev, cur)
    d = delta(prev, cur)
    assert isinstance(d, Discontinuity) and d.reason == CLOCK_MISMATCH
