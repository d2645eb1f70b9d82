"""The probe minute in progress, as measurement points beside the stored ones."""

from __future__ import annotations

import math

import pytest

from routepilot.probe.rollup import MinuteAccumulator
from routepilot.run.minute import minute_points

T = 1_800_000_000.0


def rows():
    acc = MinuteAccumulator("icmp")
    acc.roll(T + 5, {})
    for rtt in (10.0, 20.0, 30.0, math.nan):  # one lost
        acc.add(T + 6, "198.18.0.0/24", "isp1", rtt)
    for rtt in (40.0, 40.0):
        acc.add(T + 7, "198.18.1.0/24", "isp1", rtt)
    acc.add(T + 8, "198.18.0.0/24", "isp2", math.nan)
    got = acc.peek({})
    assert acc.peek({}) == got  # peeking leaves the minute as it was
    return got


def test_the_minute_so_far_is_summed_as_the_store_sums_a_bucket() -> None:
    points = minute_points(rows(), None, None, {}, T + 60, 60.0)
    assert [p["provider"] for p in points] == ["isp1", "isp2"]
    one, two = points
    # Medians 20 (3 answers) and 40 (2 answers), weighted by answers: (60 + 80) / 5 = 28.
    assert one["time"] == T and one["rtt_ms"] == pytest.approx(28.0)
    assert one["loss"] == pytest.approx(1 / 6) and one["samples"] == 6
    assert two["rtt_ms"] is None and two["loss"] == 1.0


def test_filters_and_buckets_already_stored_are_left_out() -> None:
    only = minute_points(rows(), "198.18.1.0/24", None, {}, T + 60, 60.0)
    assert [(p["provider"], p["rtt_ms"]) for p in only] == [("isp1", 40.0)]
    assert minute_points(rows(), None, "isp2", {}, T + 60, 60.0)[0]["provider"] == "isp2"
    assert [p["provider"] for p in minute_points(rows(), None, None, {"isp1": T}, T + 60, 60)] == [
        "isp2"
    ]
    assert minute_points(rows(), None, None, {}, T, 60.0) == []  # the window ends before it
