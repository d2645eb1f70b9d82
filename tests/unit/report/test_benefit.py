"""The counterfactual against BGP's default, on journals small enough to check by hand."""

from __future__ import annotations

import pytest

from routepilot.report import benefit as bf


def move(t, prefix, frm, to, default, reason="latency", traffic=8e6, **kw):  # type: ignore[no-untyped-def]
    return {
        "time": t,
        "prefix": prefix,
        "from_provider": frm,
        "to_provider": to,
        "default_provider": default,
        "reason": reason,
        "traffic_bps": traffic,
        "old_rtt_ms": kw.get("old_rtt"),
        "new_rtt_ms": kw.get("new_rtt"),
        "old_loss": kw.get("old_loss"),
        "new_loss": kw.get("new_loss"),
        "dry_run": kw.get("dry_run", False),
    }


def rollup(t, provider, rtt, loss=0.0):  # type: ignore[no-untyped-def]
    return {"time": t, "provider": provider, "rtt_ms": rtt, "loss": loss, "samples": 60}


P = "198.18.0.0/24"


def test_intervals_follow_the_journal_and_clip_to_the_period() -> None:
    journal = [
        move(100, P, "a", "b", "a"),  # starts before the period
        move(400, P, "b", "c", "a", reason="loss"),  # b → c, still away from a
        move(700, P, "c", "a", "a", reason="revert"),  # back to the default: no interval
        move(800, "x", "a", "b", "a", dry_run=True),  # dry-run changed nothing
        move(900, "y", "a", "b", "a"),  # still active at the end
    ]
    ivs = bf.intervals(journal, since=200, until=1000)
    got = [(i.prefix, i.chosen, i.default, i.reason, i.start, i.end) for i in ivs]
    assert sorted(got) == [
        (P, "b", "a", "latency", 200, 400),
        (P, "c", "a", "loss", 400, 700),
        ("y", "b", "a", "latency", 900, 1000),
    ]


def test_measure_compares_default_and_chosen_minute_by_minute() -> None:
    (iv,) = bf.intervals([move(60, P, "a", "b", "a", traffic=8e6)], since=0, until=240)
    rows = [
        rollup(0, "a", 50.0),
        rollup(0, "b", 10.0),  # before the move: not counted
        rollup(60, "a", 50.0),
        rollup(60, "b", 10.0),
        rollup(120, "a", 70.0, loss=0.1),
        rollup(120, "b", 20.0),
        rollup(180, "a", None, loss=1.0),  # BGP's default down: no RTT, full loss
        rollup(180, "b", 20.0),
    ]
    bf.measure(iv, rows, step_s=60, down_loss=0.5)
    assert iv.seconds == 180
    assert not iv.estimated
    s = bf.summarise([iv], total_bits=8e6 * 60 * 30)
    # RTT over the two minutes with both: default (50 + 70) / 2 = 60, chosen (10 + 20) / 2 = 15.
    assert s["bgp_default"]["rtt_ms"] == pytest.approx(60.0)
    assert s["routepilot"]["rtt_ms"] == pytest.approx(15.0)
    assert s["rtt_saved_ms"] == pytest.approx(45.0)
    # Loss over three minutes: default (0 + 0.1 + 1) / 3, chosen 0.
    assert s["loss_avoided"] == pytest.approx(1.1 / 3)
    # 8 Mb/s for 3 minutes = 180 MB moved; 1.1 minutes' worth not lost = 66 MB.
    assert s["moved_bytes"] == pytest.approx(180e6)
    assert s["bytes_not_lost"] == pytest.approx(66e6)
    # A tenth of all traffic moved: 45 ms over it is 4.5 ms over all.
    assert s["moved_share"] == pytest.approx(0.1)
    assert s["rtt_saved_all_traffic_ms"] == pytest.approx(4.5)
    out = bf.outages([iv], down_loss=0.5)
    assert out["prefix_minutes"] == 1
    assert out["bytes_rescued"] == pytest.approx(60e6)
    assert [t for t, *_ in bf.timeline([iv])] == [60, 120]


def test_a_worse_choice_shows_as_a_negative_saving() -> None:
    (iv,) = bf.intervals([move(0, P, "a", "b", "a")], since=0, until=60)
    bf.measure(iv, [rollup(0, "a", 10.0), rollup(0, "b", 14.0)], step_s=60, down_loss=0.5)
    assert bf.summarise([iv])["rtt_saved_ms"] == pytest.approx(-4.0)


def test_without_rollups_the_decision_numbers_are_used_and_flagged() -> None:
    journal = [
        move(
            0,
            P,
            "a",
            "b",
            "a",
            traffic=1e6,
            old_rtt=80.0,
            new_rtt=30.0,
            old_loss=0.02,
            new_loss=0.0,
        )
    ]
    (iv,) = bf.intervals(journal, since=0, until=100)
    bf.measure(iv, [], step_s=60, down_loss=0.5)
    assert iv.estimated
    s = bf.summarise([iv])
    assert s["rtt_saved_ms"] == pytest.approx(50.0)
    assert s["loss_avoided"] == pytest.approx(0.02)
    assert s["moved_bytes"] == pytest.approx(1e6 * 100 / 8)
    assert s["intervals_estimated"] == 1


def test_by_reason_counts_moves_in_the_period_and_sums_their_intervals() -> None:
    journal = [
        move(-50, P, "a", "b", "a", reason="outage"),  # before the period: interval, no count
        move(10, "q", "a", "b", "a", reason="latency"),
        move(20, "q", "b", "a", "a", reason="revert"),
        move(30, "r", "a", "b", "a", reason="latency", dry_run=True),
    ]
    ivs = bf.intervals(journal, since=0, until=60)
    got = {r["reason"]: (r["moves"], r["intervals"]) for r in bf.by_reason(ivs, journal, since=0)}
    assert got == {"outage": (0, 1), "latency": (1, 1), "revert": (1, 0)}


def test_a_minute_counts_by_the_share_of_it_the_move_covered() -> None:
    # Moved at 40 s, back at 150 s: 20 s of minute 0, all of minute 60, 30 s of minute 120.
    journal = [move(40, P, "a", "b", "a", traffic=6e6), move(150, P, "b", "a", "a", "revert")]
    (iv,) = bf.intervals(journal, since=0, until=600)
    rows = [
        rollup(0, "a", None, loss=1.0),
        rollup(0, "b", 10.0),
        rollup(60, "a", 30.0),
        rollup(60, "b", 10.0),
        rollup(120, "a", 20.0),
        rollup(120, "b", 10.0),
        rollup(180, "a", 90.0),  # after the return: not counted
        rollup(180, "b", 10.0),
    ]
    bf.measure(iv, rows, step_s=60, down_loss=0.5)
    assert iv.seconds == 110
    s = bf.summarise([iv])
    # RTT on the default over the minutes with one: (60·30 + 30·20) / 90; the first has none.
    assert s["bgp_default"]["rtt_ms"] == pytest.approx((60 * 30 + 30 * 20) / 90)
    assert s["loss_avoided"] == pytest.approx(20 / 110)
    assert s["moved_bytes"] == pytest.approx(6e6 * 110 / 8)
    assert bf.outages([iv], down_loss=0.5)["prefix_minutes"] == pytest.approx(20 / 60)
