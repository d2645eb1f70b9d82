"""Flow hints in the scheduler: a hinted prefix's paths are probed first, for a while."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from routepilot.probe.scheduler import Scheduler, SchedulerSettings

pytestmark = pytest.mark.unit


def own_target(job):
    return [(f"{job.prefix}-t{job.provider}", False)]


def saturated() -> Scheduler:
    """50 busy exits and one prefix's two alternatives, under a cap of 10 probes/s."""
    st = SchedulerSettings(
        max_rate=10,
        max_burst=1,
        per_target_rate=1e6,
        per_target_burst=1e6,
        train_size=1,
        jitter=0.0,
        intervals=(1.0, 2.0, 5.0),
    )
    s = Scheduler(st, 0.0, random.Random(3))
    for i in range(50):
        s.set_job(f"198.18.{i}.0/24", 0, 0, 0.0)
    for provider in (1, 2):
        s.set_job(HINTED, provider, 2, 0.0)
    return s


def probes(s: Scheduler, start: float, seconds: float, step: float = 0.01) -> list[tuple]:
    out = []
    for k in range(1, int(seconds / step) + 1):
        now = start + k * step
        out += [(now, job.prefix, job.provider) for job, *_ in s.due(now, own_target)]
    return out


HINTED = "198.18.99.0/24"


@pytest.mark.parametrize("start", [10.0, 13.3, 17.7, 21.1])
def test_a_hinted_prefix_is_probed_first_through_every_provider(start):
    s = saturated()
    probes(s, 0.0, start)  # the queue is full of busy exits
    s.hint({HINTED: start + 30}, start)
    sent = probes(s, start, 1.0)
    assert {(p, k) for _, p, k in sent[:2]} == {(HINTED, 1), (HINTED, 2)}


@pytest.mark.parametrize("start", [10.0, 13.3, 17.7, 21.1])
def test_without_the_hint_the_alternatives_wait_their_turn(start):
    s = saturated()
    probes(s, 0.0, start)
    sent = probes(s, start, 1.0)
    assert {(p, k) for _, p, k in sent[:2]} != {(HINTED, 1), (HINTED, 2)}


def test_the_hint_orders_probes_and_adds_none_and_ends_on_time():
    s = saturated()
    probes(s, 0.0, 10.0)
    s.hint({HINTED: 30.0}, 10.0)
    during = Counter(p for _, p, _ in probes(s, 10.0, 20.0))
    # Its 5 s interval holds: two paths, one probe each per 5 s (one more, brought forward).
    assert during[HINTED] <= 2 * (20 // 5 + 1)
    s.hint({}, 30.0)
    assert s.hinted == {}
    probes(s, 30.0, 10.0)
    after = probes(s, 40.0, 1.0)
    assert {(p, k) for _, p, k in after[:2]} != {(HINTED, 1), (HINTED, 2)}


def test_an_expired_hint_is_dropped():
    s = saturated()
    s.hint({HINTED: 5.0, "198.18.98.0/24": 50.0}, 10.0)
    assert s.hinted == {"198.18.98.0/24": 50.0}
