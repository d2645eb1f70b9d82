"""rib/: when a router has sent its whole table, with or without End-of-RIB.

A router that sends no End-of-RIB (FRR or GoBGP without graceful restart) must not
be taken as synced while its table is still arriving, nor because its session has
been up a few seconds with nothing sent yet.
"""

from __future__ import annotations

from routepilot.rib.rib import Rib
from routepilot.rib.speaker.base import (
    EndOfRib,
    Nlri,
    PathAttributes,
    PathsLearned,
    PathsWithdrawn,
    SessionChanged,
)

PROVIDERS = [("isp1", ["100.64.1.1"]), ("isp2", ["100.64.2.1"])]
A = PathAttributes("100.64.1.1", (64501,))


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make(clock: Clock, **kwargs) -> Rib:
    kwargs.setdefault("sync_quiet_time", 3.0)
    kwargs.setdefault("sync_first_path_wait", 30.0)
    return Rib(["r1", "r2"], PROVIDERS, clock=clock, **kwargs)


def paths(start: int, n: int) -> PathsLearned:
    rows = range(start, start + n)
    return PathsLearned(
        "r1", A, tuple(Nlri(f"{240 + (i >> 16)}.{(i >> 8) & 255}.{i & 255}.0/24", 1) for i in rows)
    )


def test_a_session_up_with_no_path_yet_is_not_synced_until_the_first_path_wait() -> None:
    clock = Clock()
    rib = make(clock)
    rib.handle(SessionChanged("r1", True))
    # GoBGP sent its first UPDATE 6 s after the session came up: 3 s of silence
    # before it are no table.
    clock.now += 6.0
    assert rib.state("r1") == "arriving" and not rib.synced("r1")
    assert not rib.routes_synced()
    clock.now += 23.9
    assert not rib.synced("r1")
    # A router that really has nothing counts as synced, so its providers' missing
    # routes are reported.
    clock.now += 0.2
    assert rib.synced("r1") and rib.table.paths == 0


def test_a_table_arriving_in_bursts_is_synced_only_once_the_rate_falls() -> None:
    clock = Clock()
    rib = make(clock)
    rib.handle(SessionChanged("r1", True))
    clock.now += 6.0
    sent = 0
    # 20 s of a table at 5000 paths/s in 10 batches a second: never synced while it comes.
    for _ in range(200):
        rib.handle_many([paths(sent, 500)])
        sent += 500
        clock.now += 0.1
        assert not rib.synced("r1")
        assert rib.arriving() == ["r1"]
    # The table is in; a live table keeps churning a few paths a second.
    for _ in range(40):
        rib.handle_many([paths(0, 1)])
        clock.now += 0.1
    assert rib.synced("r1") and rib.routes_synced()
    assert rib.table.paths == sent


def test_a_pause_shorter_than_the_quiet_time_does_not_sync() -> None:
    clock = Clock()
    rib = make(clock)
    rib.handle(SessionChanged("r1", True))
    rib.handle_many([paths(0, 4000)])
    clock.now += 2.9
    assert not rib.synced("r1")
    rib.handle_many([paths(4000, 4000)])
    clock.now += 2.9
    assert not rib.synced("r1")
    clock.now += 0.2
    assert rib.synced("r1")


def test_withdrawals_count_as_the_table_moving() -> None:
    clock = Clock()
    rib = make(clock)
    rib.handle(SessionChanged("r1", True))
    rib.handle_many([paths(0, 10)])
    clock.now += 2.0
    rib.handle(PathsWithdrawn("r1", paths(0, 10).nlri))
    clock.now += 2.0
    assert not rib.synced("r1")
    clock.now += 1.1
    assert rib.synced("r1")


def test_end_of_rib_for_every_negotiated_family_syncs_at_once() -> None:
    clock = Clock()
    rib = make(clock, families=["ipv4 unicast", "ipv6 unicast"])
    rib.handle(SessionChanged("r1", True))
    rib.handle_many([paths(0, 100)])
    rib.handle(EndOfRib("r1", "ipv4 unicast"))
    assert not rib.synced("r1")  # the IPv6 table may still be coming
    rib.handle(EndOfRib("r1", "ipv6 unicast"))
    assert rib.synced("r1")


def test_a_router_up_and_arriving_holds_everything_and_a_down_one_does_not() -> None:
    clock = Clock()
    rib = make(clock)
    assert not rib.routes_synced()  # nothing up: nothing known
    rib.handle(SessionChanged("r1", True))
    rib.handle(EndOfRib("r1", "ipv4 unicast"))
    assert rib.routes_synced() and rib.state("r2") == "down"
    rib.handle(SessionChanged("r2", True))
    assert not rib.routes_synced() and rib.arriving() == ["r2"]
    rib.handle(EndOfRib("r2", "ipv4 unicast"))
    assert rib.routes_synced()
    # A flap starts the count again: the router's table is arriving anew.
    rib.handle(SessionChanged("r2", False))
    rib.handle(SessionChanged("r2", True))
    clock.now += 5.0
    assert rib.state("r2") == "arriving" and not rib.routes_synced()


def test_a_router_that_sends_nothing_is_silent_and_tells_no_provider_out() -> None:
    clock = Clock()
    rib = make(clock, sync_first_path_wait=10.0)
    rib.handle(SessionChanged("r1", True))
    clock.now += 9.0
    assert rib.state("r1") == "arriving" and rib.routes_state() == "arriving"
    # gobgpd under load sent nothing for more than the wait: an empty table, or one
    # not begun. Silent, not synced: nothing decides on it, no provider is out.
    clock.now += 2.0
    assert rib.state("r1") == "silent" and rib.synced("r1")
    assert rib.silent() == {"r1": 11.0}
    assert not rib.routes_synced() and rib.routes_state() == "silent"
    # Its first path ends the silence: a table arriving, then whole.
    rib.handle(paths(0, 500))
    assert rib.state("r1") == "arriving" and rib.silent() == {}
    clock.now += 4.0
    assert rib.state("r1") == "synced" and rib.routes_state() == "synced"


def test_a_silent_router_beside_a_synced_one_lets_the_synced_table_be_decided() -> None:
    clock = Clock()
    rib = make(clock, sync_first_path_wait=10.0)
    rib.handle(SessionChanged("r1", True))
    rib.handle(SessionChanged("r2", True))
    rib.handle(paths(0, 500))
    clock.now += 11.0
    assert rib.state("r1") == "synced" and rib.state("r2") == "silent"
    assert rib.routes_state() == "synced" and set(rib.silent()) == {"r2"}


def test_end_of_rib_alone_is_an_empty_table_not_a_silent_router() -> None:
    clock = Clock()
    rib = make(clock, families={"ipv4 unicast"})
    rib.handle(SessionChanged("r1", True))
    rib.handle(EndOfRib("r1", "ipv4 unicast"))
    assert rib.state("r1") == "synced" and rib.routes_state() == "synced"


def test_a_stall_in_a_long_first_table_is_not_its_end() -> None:
    """#18: ExaBGP, busy with its own copy of a big table, paused more than the quiet
    time 117 s into a 168 s table, and the rate rule called it whole. While a first
    table arrives, the quiet time grows with how long it has been arriving."""
    clock = Clock()
    rib = make(clock)
    rib.handle(SessionChanged("r1", True))
    sent = 0

    def arrive(seconds: int) -> None:
        nonlocal sent
        for _ in range(seconds * 10):
            rib.handle_many([paths(sent, 100)])
            sent += 100
            clock.now += 0.1

    arrive(60)
    # A 5-s stall 60 s in: longer than the 3-s quiet time, shorter than 10% of 60 s.
    clock.now += 5.0
    assert rib.state("r1") == "arriving" and not rib.routes_synced()
    arrive(40)
    # The table is in after 105 s: whole once quiet for 10% of that, not after 3 s.
    clock.now += 3.1
    assert rib.state("r1") == "arriving"
    clock.now += 7.5
    assert rib.state("r1") == "synced" and rib.table.paths == sent
    # Once whole, a router's later pauses and bursts are judged on the quiet time alone.
    arrive(5)
    assert rib.state("r1") == "arriving"
    clock.now += 3.1
    assert rib.state("r1") == "synced"


def test_the_quiet_time_is_capped_for_the_longest_tables() -> None:
    from routepilot.rib.rib import QUIET_MAX_S, Arrival, SyncRule

    rule = SyncRule(3.0, 30.0, frozenset())
    # 900 s of a table, its last second 500 paths against a peak of 1000.
    arrival = Arrival(up_at=0.0, first_path_at=1.0, last_at=901.0, second=901, count=500, peak=1000)
    assert rule.quiet_time(arrival) == QUIET_MAX_S == 30.0
    assert not rule.holds(arrival, set(), 901.0 + 29.9)
    assert rule.holds(arrival, set(), 901.0 + 30.0) and arrival.whole
    assert rule.quiet_time(arrival) == 3.0
