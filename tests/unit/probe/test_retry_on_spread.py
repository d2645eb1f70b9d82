"""Retry on a wide RTT spread, and host qualification, in the prober on the fake network."""

from __future__ import annotations

import random

from tests.samples import value

from routepilot.probe.component import Prober
from routepilot.probe.config import ProbeConfig
from routepilot.probe.fake import FakeClock, FakeNetwork
from routepilot.probe.sockets import Steering

NAMES = ["isp1", "isp2", "isp3"]
PREFIX = "198.18.1.0/24"
HOSTS = ["198.18.1.10", "198.18.1.11", "198.18.1.12"]


def _prober(seed: int = 1, **kw: object) -> tuple[FakeClock, FakeNetwork, Prober]:
    """The lab's schedule (busy exit every 0.2 s, trains of 4, a 10 s window)."""
    cfg = ProbeConfig(
        enabled=True,
        timeout_s=0.5,
        interval_s=0.2,
        exit_interval_s=0.25,
        alternative_interval_s=0.25,
        train_size=4,
        window_s=10.0,
        retry_hold_s=5.0,
        per_target_rate=100.0,
        per_target_burst=40.0,
        **kw,
    )
    clock = FakeClock(6_000_000.0)
    net = FakeNetwork(clock, seed=seed, names=NAMES)
    for n in NAMES:
        net.set_path(n, rtt_ms=20.0)
    pr = Prober(
        cfg, [(n, Steering()) for n in NAMES], transport=net, clock=clock, rng=random.Random(seed)
    )
    pr.set_paths([(PREFIX, n, 0) for n in NAMES])
    pr.observe_destinations(HOSTS)
    return clock, net, pr


def test_steady_paths_and_a_step_in_their_delay_start_no_retry_on_spread():
    """The lab's delays are steady, and an impairment is a step: neither is a spread. Read
    as p90 - p10 of the window, the step was one (the window held both delays)."""
    clock, net, pr = _prober()
    net.run(pr, 12.0)
    net.set_path("isp2", rtt_ms=60.0)
    widest = 0.0
    for _ in range(24):
        net.run(pr, 0.5)
        s = pr.snapshot()
        widest = max(widest, float(s.rtt_p90_ms[0, 1] - s.rtt_min_ms[0, 1]))
        assert not s.confirming
    assert widest >= 35.0
    assert pr.metrics.spread_retries == 0 and pr.retrying() == []


def test_a_jittery_path_is_retried_with_longer_trains_and_confirmed_once():
    clock, net, pr = _prober()
    net.run(pr, 12.0)
    sent_before = len(net.sent)
    net.set_path("isp2", rtt_ms=40.0, jitter_ms=15.0)
    while not pr.snapshot().confirming:
        net.run(pr, 0.01)
        assert len(net.sent) - sent_before < 2000, "no retry on a 15 ms jitter"
    assert pr.metrics.spread_retries == 1 and pr.retrying() == [PREFIX]
    jobs = [pr.scheduler.jobs[PREFIX, p] for p in range(3)]
    # Every provider's trains are twice as long while it lasts, not only the jittery one's.
    assert {pr.scheduler.train_size(j, clock.now) for j in jobs} == {8}
    started = clock.now
    while pr.snapshot().confirming:
        net.run(pr, 0.01)
    # Back as soon as every provider brought a long train back: well inside the hold.
    assert clock.now - started < 1.0
    # Still jittery: retried throughout, with long trains, but confirmed only once.
    net.run(pr, 10.0)
    assert pr.retrying() == [PREFIX] and not pr.snapshot().confirming
    assert pr.metrics.spread_retries == 1
    net.set_path("isp2", jitter_ms=0.0)
    net.run(pr, 15.0)  # the rings fill with steady answers, then the hold passes
    assert pr.retrying() == []
    assert {pr.scheduler.train_size(j, clock.now) for j in jobs} == {4}
    assert value(pr.refresh_metrics(), "routepilot_probe_spread_retries_total") == 1


def test_a_confirmation_never_outlasts_the_hold():
    """A path starved of probes (here: blackholed, so its results come back only as
    timeouts) cannot hold decisions past retry_hold_s."""
    clock, net, pr = _prober(retry_spread_ms=10.0)
    net.run(pr, 12.0)
    net.set_path("isp2", rtt_ms=40.0, jitter_ms=15.0)
    while not pr.snapshot().confirming:
        net.run(pr, 0.01)
    pr.confirming.start(PREFIX, [0, 1, 2], clock.now, clock.now + 5.0, 10_000)
    net.run(pr, 4.9)
    assert pr.snapshot().confirming == {PREFIX}
    net.run(pr, 0.2)
    assert not pr.snapshot().confirming


def test_retry_on_spread_can_be_turned_off():
    clock, net, pr = _prober(retry_spread_ms=0.0)
    net.set_path("isp2", rtt_ms=40.0, jitter_ms=15.0)
    net.run(pr, 12.0)
    assert pr.metrics.spread_retries == 0 and not pr.snapshot().confirming


def test_a_lossy_host_is_replaced_and_the_prefix_reads_no_loss_once_the_window_forgets():
    clock, net, pr = _prober(seed=2, targets_per_prefix=2, retry_losses=0)
    net.run(pr, 5.0)
    bad, good = pr.targets.active(PREFIX)
    net.host_loss[bad] = 0.35
    while bad in pr.targets.active(PREFIX):
        net.run(pr, 0.1)
        assert clock.now < 6_000_000.0 + 60, "the lossy host was never replaced"
    assert pr.targets.disqualified == {"loss": 1}
    net.run(pr, 11.0)
    s = pr.snapshot()
    assert s.loss[0].tolist() == [0.0, 0.0, 0.0]
    assert set(s.targets[PREFIX]) == {good, "198.18.1.12"}
    pr.metrics.targets_disqualified = dict(pr.targets.disqualified)
    m = pr.refresh_metrics()
    assert value(m, "routepilot_probe_targets_disqualified_total", cause="loss") == 1
    assert value(m, "routepilot_probe_targets_disqualified_total", cause="spread") == 0


def test_a_prefix_whose_every_address_is_lossy_keeps_showing_its_loss():
    clock, net, pr = _prober(seed=3, targets_per_prefix=2, retry_losses=0)
    for h in HOSTS:
        net.host_loss[h] = 0.35
    net.run(pr, 30.0)
    s = pr.snapshot()
    assert pr.targets.disqualified["loss"] == 0 and pr.targets.disqualified["spread"] == 0
    assert all(0.25 < x < 0.45 for x in s.loss[0]), s.loss


def test_the_scheduler_lengthens_trains_until_the_given_time():
    from routepilot.probe.scheduler import Scheduler, SchedulerSettings

    st = SchedulerSettings(
        max_rate=1e6, per_target_rate=1e6, per_target_burst=1e6, train_size=3,
        train_spacing_s=0.01, jitter=0.0, intervals=(1.0, 1.0, 1.0), long_train_factor=2,
    )  # fmt: skip
    s = Scheduler(st, 0.0, random.Random(1))
    job = s.set_job(PREFIX, 0, 0, 0.0)
    sent: list[float] = []
    now = 0.0
    for _ in range(6000):
        now += 0.001
        if abs(now - 2.0) < 0.0005:
            s.lengthen(job, 4.0, now)
            s.lengthen(job, 4.0, now)  # once is enough: a second call adds nothing
        sent += [now] * len(s.due(now, lambda j: [("198.18.1.10", False, "icmp")]))
    trains: list[list[float]] = []
    for t in sent:
        if trains and t - trains[-1][-1] < 0.05:
            trains[-1].append(t)
        else:
            trains.append([t])
    sizes = [(round(tr[0]), len(tr)) for tr in trains]
    assert {n for t0, n in sizes if t0 < 2} == {3}
    assert {n for t0, n in sizes if 2 <= t0 < 4} == {6}
    assert {n for t0, n in sizes if t0 > 4.5} == {3}
