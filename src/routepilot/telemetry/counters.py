"""Counter deltas between two polls of one interface: octets and seconds, or why not.

Pure functions, no clock: the poller hands in two readings and gets back either a
:class:`Delta` or a :class:`Discontinuity` saying why the pair cannot be trusted.
A discontinuity drops that one interval (its octets are unknown), it never turns
into a rate spike.

Time base: seconds come from the agent's sysUpTime (hundredths of a second,
RFC 3418), not from the poller's clock. The agent stamps sysUpTime in the same
PDU as the counters, where it reads them, so the network delay of the answer and
a busy event loop on our side do not enter the rate. The poller's monotonic
clock is the cross-check: when the two disagree by more than
``max(1 s, 10 %)`` the agent restarted (or its uptime wrapped) inside the
interval and the pair is dropped.

Resolution: sysUpTime counts hundredths of a second, so two readings taken a
few milliseconds apart (a poll right after the round that resolved ifName, or a
manual poll) can carry the same uptime, or one tick for 2-19 ms. Such a pair is
neither a discontinuity nor a rate: :func:`too_short` says so (under 1 s), and the poller
keeps the older reading and rates the next, longer interval from it.
"""

from __future__ import annotations

from dataclasses import dataclass

COUNTER32 = 2**32
COUNTER64 = 2**64
TIMETICKS = 2**32

AGENT_RESTART = "agent_restart"
COUNTER_BACKWARDS = "counter_backwards"
DISCONTINUITY_TIME = "discontinuity_time"
WIDTH_CHANGED = "width_changed"
CLOCK_MISMATCH = "clock_mismatch"
WRAP_AMBIGUOUS = "wrap_ambiguous"

MIN_RATED_S = 1.0
"""Shortest agent interval turned into a rate: the shortest poll interval the
configuration allows, where the readings' two 10 ms sysUpTime ticks weigh 2 % at
most (1 % at the 10 s default is 0.2 %). Only polls off the schedule come closer."""


@dataclass(frozen=True)
class Reading:
    """One answer about one interface."""

    mono: float
    """Poller's monotonic clock when the answer arrived (seconds)."""
    wall: float
    """Wall clock when the answer arrived (seconds since the epoch), for billing windows."""
    uptime_cs: int
    """sysUpTime.0, hundredths of a second since the agent (re)started."""
    in_octets: int
    out_octets: int
    width: int
    """64 for ifHCInOctets/ifHCOutOctets, 32 for ifInOctets/ifOutOctets."""
    discontinuity_cs: int | None = None
    """ifCounterDiscontinuityTime (sysUpTime of the last discontinuity), when the agent has it."""
    speed_bps: int = 0
    """Interface speed (ifSpeed, or ifHighSpeed * 1e6), 0 when unknown."""
    sent_mono: float | None = None
    """Poller's monotonic clock when the request left (None: taken as ``mono``). The
    agent read its counters somewhere between ``sent_mono`` and ``mono``."""

    @property
    def asked(self) -> float:
        return self.mono if self.sent_mono is None else self.sent_mono


@dataclass(frozen=True)
class Delta:
    """What passed through the interface between two good readings."""

    start_wall: float
    end_wall: float
    seconds: float
    """Agent time between the readings."""
    in_octets: int
    out_octets: int

    @property
    def in_bps(self) -> float:
        return self.in_octets * 8 / self.seconds

    @property
    def out_bps(self) -> float:
        return self.out_octets * 8 / self.seconds


@dataclass(frozen=True)
class Discontinuity:
    """Why a pair of readings yields no rate; ``reason`` is one of the module constants."""

    reason: str
    detail: str


def _counter_delta(prev: int, cur: int, width: int) -> int | None:
    if width == 64:
        # A 64-bit octet counter does not wrap in the life of a router (at 400 Gb/s it
        # takes over 11 years), so a smaller value is a reset, not a wrap.
        return cur - prev if cur >= prev else None
    return (cur - prev) % COUNTER32


def too_short(prev: Reading, cur: Reading) -> bool:
    """True when ``cur`` came too soon after ``prev`` to be rated (see the module docstring).

    Both clocks must agree that little time passed: the agent's uptime grew by less than
    :data:`MIN_RATED_S` (zero included) and our clock allows it (the earliest the agent
    can have read ``cur`` is under a second after that bound). An agent that restarted
    inside a longer interval fails the second condition and stays a discontinuity.
    """
    seconds = (cur.uptime_cs - prev.uptime_cs) / 100
    return 0 <= seconds < MIN_RATED_S and cur.asked - prev.mono < MIN_RATED_S + 1.0


def delta(prev: Reading, cur: Reading) -> Delta | Discontinuity:
    """Octets and agent seconds between ``prev`` and ``cur``, or the discontinuity."""
    if cur.uptime_cs < prev.uptime_cs:
        return Discontinuity(
            AGENT_RESTART, f"sysUpTime went back from {prev.uptime_cs} to {cur.uptime_cs}"
        )
    seconds = (cur.uptime_cs - prev.uptime_cs) / 100
    # The agent read each pair of counters somewhere inside its request's round trip,
    # so by our clock between (cur asked - prev answered) and (cur answered - prev
    # asked). A busy poller widens that window (its answer is read late); only an agent
    # time outside it, by more than the tolerance, is a restart or a wrap.
    shortest, longest = cur.asked - prev.mono, cur.mono - prev.asked
    tolerance = max(1.0, 0.1 * (cur.mono - prev.mono))
    if seconds <= 0 or seconds < shortest - tolerance or seconds > longest + tolerance:
        return Discontinuity(
            CLOCK_MISMATCH,
            f"agent says {seconds:.2f} s passed, our clock {shortest:.2f}-{longest:.2f} s",
        )
    if cur.width != prev.width:
        return Discontinuity(WIDTH_CHANGED, f"counters went from {prev.width} to {cur.width} bit")
    if cur.discontinuity_cs != prev.discontinuity_cs:
        return Discontinuity(
            DISCONTINUITY_TIME,
            f"ifCounterDiscontinuityTime changed from {prev.discontinuity_cs} "
            f"to {cur.discontinuity_cs}",
        )
    d_in = _counter_delta(prev.in_octets, cur.in_octets, cur.width)
    d_out = _counter_delta(prev.out_octets, cur.out_octets, cur.width)
    if d_in is None or d_out is None:
        return Discontinuity(
            COUNTER_BACKWARDS,
            f"64-bit counter went back (in {prev.in_octets}->{cur.in_octets}, "
            f"out {prev.out_octets}->{cur.out_octets})",
        )
    if cur.width == 32 and cur.speed_bps and cur.speed_bps / 8 * seconds >= COUNTER32:
        # At this speed the 32-bit counter can wrap more than once between two polls:
        # the modulo arithmetic above could be short by multiples of 4 GiB.
        return Discontinuity(
            WRAP_AMBIGUOUS,
            f"32-bit counter at {cur.speed_bps} b/s may wrap more than once in {seconds:.1f} s",
        )
    return Delta(prev.wall, cur.wall, seconds, d_in, d_out)
