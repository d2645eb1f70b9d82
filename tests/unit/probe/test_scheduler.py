"""Scheduler: fairness, priorities, trains, jitter, and the hard caps (packets counted); the
caps, removals and seeded determinism over random sequences of calls (hypothesis)."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routepilot.probe.component import Prober
from routepilot.probe.config import ProbeConfig
from routepilot.probe.fake import FakeClock, FakeNetwork
from routepilot.probe.scheduler import Scheduler, SchedulerSettings, TokenBucket
from routepilot.probe.sockets import Steering


def run(s: Scheduler, seconds: float, pick, step: float = 0.001, start: float = 0.0):
    out = []
    now = start
    for _ in range(int(seconds / step)):
        now += step
        out += [(now, job, addr) for job, addr, _ in s.due(now, pick)]
    return out


def own_target(job):
    return [(f"{job.prefix}-t", False)]


def test_token_bucket_rate_and_burst():
    b = TokenBucket(rate=100, burst=5, now=0.0)
    assert sum(b.take(0.0) for _ in range(10)) == 5
    assert sum(b.take(1.0) for _ in range(1000)) == 5  # refills to the burst, no more
    taken = sum(b.take(1.0 + i * 0.001) for i in range(1, 1001))
    assert taken == pytest.approx(100, abs=2)


def test_intervals_follow_the_class_and_trains_are_spaced():
    st = SchedulerSettings(
        max_rate=1e6,
        per_target_rate=1e6,
        per_target_burst=1e6,
        train_size=3,
        train_spacing_s=0.01,
        jitter=0.0,
        intervals=(1.0, 2.0, 5.0),
    )
    s = Scheduler(st, 0.0, random.Random(1))
    s.set_job("busy", 0, 0, 0.0)
    s.set_job("exit", 0, 1, 0.0)
    s.set_job("alt", 1, 2, 0.0)
    sent = run(s, 20.0, own_target)
    counts = Counter(job.prefix for _, job, _ in sent)
    assert counts["busy"] == pytest.approx(60, abs=3)
    assert counts["exit"] == pytest.approx(30, abs=3)
    assert counts["alt"] == pytest.approx(12, abs=3)
    times = [t for t, job, _ in sent if job.prefix == "busy"]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    inside = [g for g in gaps if g < 0.5]
    assert len(inside) >= 2 * len(times) // 3 - 2  # two gaps in three are inside a train
    assert all(0.0095 <= g <= 0.0125 for g in inside)  # spacing, plus at most one 1 ms tick


def trains_of_three() -> SchedulerSettings:
    """No cap: trains of 3 probes 10 ms apart, every 0.1 s, without jitter."""
    return SchedulerSettings(
        max_rate=1e6,
        per_target_rate=1e6,
        per_target_burst=1e6,
        train_size=3,
        train_spacing_s=0.01,
        jitter=0.0,
        intervals=(0.1, 0.1, 0.1),
    )


def test_a_late_sender_keeps_the_paths_rate():
    # The sender wakes every 7 ms, later than the 10 ms train spacing asks: each path still
    # gets its train of 3 every 0.12 s (two spacings and the interval), as planned, not a
    # cycle stretched by the sender's lateness at every probe.
    st = trains_of_three()
    s = Scheduler(st, 0.0, random.Random(1))
    for i in range(10):
        s.set_job(f"p{i}", 0, 0, 0.0)
    sent = run(s, 60.0, own_target, step=0.007)
    assert len(sent) == pytest.approx(10 * 3 * 60 / 0.12, rel=0.01)


def test_a_stalled_sender_catches_up_one_probe_per_path_not_a_burst():
    st = trains_of_three()
    s = Scheduler(st, 0.0, random.Random(1))
    for i in range(10):
        s.set_job(f"p{i}", 0, 0, 0.0)
    run(s, 1.0, own_target)
    # Two seconds without a wake-up (a stopped process): the two seconds missed are not
    # replayed (500 probes); at most one cycle's worth of each path is caught up.
    calls = [s.due(3.0, own_target)]
    calls += [s.due(3.0 + k * 0.001, own_target) for k in range(1, 6001)]
    assert len(calls[0]) <= 10 * 3
    assert sum(map(len, calls)) == pytest.approx(10 * 3 * 6 / 0.12, abs=30)


def test_catching_up_stays_within_the_global_cap():
    st = SchedulerSettings(
        max_rate=1000,
        max_burst=20,
        per_target_rate=1e6,
        per_target_burst=1e6,
        train_size=3,
        train_spacing_s=0.002,
        jitter=0.0,
        intervals=(0.05, 0.05, 0.05),
    )
    s = Scheduler(st, 0.0, random.Random(1))
    for i in range(20):
        s.set_job(f"p{i}", 0, 0, 0.0)
    sent = run(s, 10.0, own_target, step=0.01)  # a sender 10 ms late at every wake-up
    per_call = Counter(t for t, _, _ in sent)
    assert max(per_call.values()) <= 20 + 10  # the bucket's depth, and what 10 ms refills
    assert len(sent) <= 1000 * 10 + 20


def test_jitter_spreads_rounds():
    st = SchedulerSettings(
        max_rate=1e6,
        per_target_rate=1e6,
        per_target_burst=1e6,
        train_size=1,
        jitter=0.2,
        intervals=(1.0, 1.0, 1.0),
    )
    s = Scheduler(st, 0.0, random.Random(2))
    s.set_job("p", 0, 0, 0.0)
    times = [t for t, _, _ in run(s, 60.0, own_target)]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert min(gaps) >= 0.79 and max(gaps) <= 1.21
    assert max(gaps) - min(gaps) > 0.2  # not lockstep


def test_global_cap_is_hard_and_shared_fairly_within_a_class():
    st = SchedulerSettings(
        max_rate=100,
        max_burst=5,
        per_target_rate=1e6,
        per_target_burst=1e6,
        train_size=1,
        jitter=0.1,
        intervals=(0.1, 0.1, 0.1),
    )
    s = Scheduler(st, 0.0, random.Random(3))
    for k in range(50):  # demand 500/s, cap 100/s
        s.set_job(f"p{k}", 0, 0, 0.0)
    sent = run(s, 10.0, own_target)
    assert len(sent) <= 100 * 10 + 5
    assert len(sent) >= 100 * 10 * 0.95
    per_second = Counter(int(t) for t, _, _ in sent)
    assert max(per_second.values()) <= 100 + 5
    counts = Counter(job.prefix for _, job, _ in sent)
    assert max(counts.values()) - min(counts.values()) <= 2  # every path gets its share
    assert s.rate_limited > 0


def test_busy_exits_keep_their_rate_when_the_cap_binds():
    st = SchedulerSettings(
        max_rate=100,
        max_burst=5,
        per_target_rate=1e6,
        per_target_burst=1e6,
        train_size=1,
        jitter=0.0,
        intervals=(0.5, 1.0, 0.1),
        class_weights=(16, 4, 1),
    )
    s = Scheduler(st, 0.0, random.Random(4))
    for k in range(10):
        s.set_job(f"busy{k}", 0, 0, 0.0)  # 20/s asked
    for k in range(100):
        s.set_job(f"alt{k}", 1, 2, 0.0)  # 1000/s asked
    sent = run(s, 20.0, own_target)
    counts = Counter(job.priority for _, job, _ in sent)
    assert counts[0] == pytest.approx(20 * 20, rel=0.05)  # busy exits: full rate
    assert counts[2] == pytest.approx(100 * 20 - 20 * 20, rel=0.05)  # the rest of the cap
    alt = Counter(job.prefix for _, job, _ in sent if job.priority == 2)
    assert max(alt.values()) - min(alt.values()) <= 2


def test_lower_classes_are_not_starved():
    st = SchedulerSettings(
        max_rate=100,
        max_burst=5,
        per_target_rate=1e6,
        per_target_burst=1e6,
        train_size=1,
        jitter=0.0,
        intervals=(0.01, 0.01, 0.01),
        class_weights=(16, 4, 1),
    )
    s = Scheduler(st, 0.0, random.Random(5))
    s.set_job("busy", 0, 0, 0.0)
    s.set_job("busy2", 1, 0, 0.0)
    s.set_job("alt", 1, 2, 0.0)
    counts = Counter(job.priority for _, job, _ in run(s, 10.0, own_target))
    assert counts[0] > counts[2] > 0
    assert counts[2] == pytest.approx(sum(counts.values()) / 17, rel=0.2)


def test_politeness_cap_per_address_across_providers():
    st = SchedulerSettings(
        max_rate=1e6,
        per_target_rate=5,
        per_target_burst=2,
        train_size=3,
        train_spacing_s=0.0,
        intervals=(0.1, 0.1, 0.1),
    )
    s = Scheduler(st, 0.0, random.Random(6))
    for p in range(4):  # four providers to one address: 120/s asked
        s.set_job("p", p, 0, 0.0)
    sent = run(s, 10.0, lambda job: [("198.18.0.1", False)])
    assert len(sent) <= 5 * 10 + 2
    assert len(sent) >= 5 * 10 - 2
    assert s.politeness_deferred > 0
    by_provider = Counter(job.provider for _, job, _ in sent)
    assert min(by_provider.values()) >= 8  # each provider still gets a share


def test_removed_jobs_stop():
    st = SchedulerSettings(
        max_rate=1e6, per_target_rate=1e6, per_target_burst=1e6, intervals=(0.1, 0.1, 0.1)
    )
    s = Scheduler(st, 0.0)
    s.set_job("p", 0, 0, 0.0)
    run(s, 1.0, own_target)
    s.remove_job("p", 0)
    assert run(s, 1.0, own_target, start=1.0) == []


def _prober(cfg: ProbeConfig, n_providers: int = 2):
    clock = FakeClock()
    names = [f"isp{i}" for i in range(1, n_providers + 1)]
    net = FakeNetwork(clock, names=names)
    pr = Prober(
        cfg, [(n, Steering()) for n in names], transport=net, clock=clock, rng=random.Random(7)
    )
    return clock, net, pr


def test_prober_never_exceeds_the_caps_counting_packets_sent():
    cfg = ProbeConfig(
        enabled=True,
        max_rate=200,
        max_burst=10,
        per_target_rate=4,
        per_target_burst=3,
        interval_s=0.1,
        exit_interval_s=0.1,
        alternative_interval_s=0.1,
        train_size=2,
        train_spacing_s=0.01,
        targets=[f"198.18.{k}.{h}" for k in range(40) for h in (1, 2)],
    )
    clock, net, pr = _prober(cfg)
    pr.set_paths([(f"198.18.{k}.0/24", f"isp{i}", 0) for k in range(40) for i in (1, 2)])
    start = clock.now
    net.run(pr, 20.0)
    assert len(net.sent) <= 200 * 20 + 10
    assert len(net.sent) >= 0.9 * 160 * 20  # 40 prefixes x 2 targets x 4/s politeness
    per_second = Counter(int(p.time - start) for p in net.sent)
    assert max(per_second.values()) <= 200 + 10
    per_target = Counter((int(p.time - start) // 5, p.target) for p in net.sent)
    assert max(per_target.values()) <= 4 * 5 + 3
    assert all(p.target.startswith("198.18.") for p in net.sent)


def test_a_boosted_path_is_probed_retry_factor_times_as_often_then_returns():
    st = SchedulerSettings(
        max_rate=1e6,
        per_target_rate=1e6,
        per_target_burst=1e6,
        train_size=1,
        jitter=0.0,
        intervals=(1.0, 1.0, 1.0),
        retry_factor=4.0,
    )
    s = Scheduler(st, 0.0, random.Random(1))
    boosted = s.set_job("a", 0, 2, 0.0)
    s.set_job("b", 0, 2, 0.0)
    run(s, 1.0, own_target)
    s.boost(boosted, until=11.0, now=1.0)
    sent = run(s, 10.0, own_target, start=1.0)
    counts = Counter(job.prefix for _, job, _ in sent)
    assert counts["a"] == pytest.approx(40, abs=2)
    assert counts["b"] == pytest.approx(10, abs=1)
    after = Counter(job.prefix for _, job, _ in run(s, 10.0, own_target, start=11.0))
    assert after["a"] == pytest.approx(10, abs=1)


def test_a_boosted_alternative_is_served_as_a_busy_exit_when_the_cap_binds():
    st = SchedulerSettings(
        max_rate=20.0,
        max_burst=1.0,
        per_target_rate=1e6,
        per_target_burst=1e6,
        train_size=1,
        jitter=0.0,
        intervals=(0.01, 0.01, 0.01),
        class_weights=(16, 4, 1),
    )
    s = Scheduler(st, 0.0, random.Random(1))
    for i in range(5):
        s.set_job(f"busy{i}", 0, 0, 0.0)
    alt = s.set_job("alt", 1, 2, 0.0)
    quiet = s.set_job("quiet", 1, 2, 0.0)
    s.boost(alt, until=100.0, now=0.0)
    counts = Counter(job.prefix for _, job, _ in run(s, 20.0, own_target))
    # Served as class 0, the boosted alternative gets a busy exit's share (about 1/6 of the
    # 400 probes the cap allows); the plain alternative only what class 2's weight leaves.
    assert counts["alt"] >= 0.8 * counts["busy0"]
    assert counts["quiet"] < counts["alt"] / 2
    assert quiet.boost_until == 0.0


def test_reconfigure_changes_rates_and_intervals_of_running_jobs():
    st = SchedulerSettings(max_rate=1e6, per_target_rate=1e6, per_target_burst=1e6,
                           train_size=1, jitter=0.0, intervals=(1.0, 2.0, 5.0))  # fmt: skip
    s = Scheduler(st, 0.0, random.Random(1))
    s.set_job("busy", 0, 0, 0.0)
    first = Counter(job.prefix for _, job, _ in run(s, 10.0, own_target))
    assert first["busy"] == pytest.approx(10, abs=1)
    faster = SchedulerSettings(max_rate=1e6, per_target_rate=1e6, per_target_burst=1e6,
                               train_size=1, jitter=0.0, intervals=(0.5, 2.0, 5.0))  # fmt: skip
    s.reconfigure(faster)
    assert s.jobs["busy", 0].interval == 0.5
    second = Counter(job.prefix for _, job, _ in run(s, 10.0, own_target, start=10.0))
    assert second["busy"] == pytest.approx(20, abs=1)
    s.reconfigure(SchedulerSettings(max_rate=2.0, max_burst=1.0, per_target_rate=1e6,
                                    per_target_burst=1e6, train_size=1, jitter=0.0,
                                    intervals=(0.1, 2.0, 5.0)))  # fmt: skip
    capped = run(s, 10.0, own_target, start=20.0)
    assert len(capped) == pytest.approx(20, abs=2)  # the new global cap, 2 probes/s


def test_prober_reconfigure_takes_the_new_timing():
    prober = Prober(ProbeConfig(enabled=True, interval_s=1.0), [("isp1", Steering())])
    prober.reconfigure(ProbeConfig(enabled=True, interval_s=0.3, max_rate=50,
                                   targets_per_prefix=5))  # fmt: skip
    assert prober.config.interval_s == 0.3 and prober.scheduler.s.intervals[0] == 0.3
    assert prober.scheduler.bucket.rate == 50 and prober.targets.k == 5


# --- properties over random sequences of calls ---------------------------------------------

_DUE = st.tuples(st.just("due"), st.sampled_from([0.0, 0.0005, 0.001, 0.001, 0.004, 0.03, 0.5]))
_OPS = st.one_of(
    _DUE,
    _DUE,
    _DUE,
    st.tuples(
        st.just("set"),
        st.integers(0, 5),  # prefix
        st.integers(0, 2),  # provider
        st.integers(0, 3),  # class (3 is clamped to the last)
        st.sampled_from([None, None, 0.003, 0.05]),  # the class's interval, or a VIP's
    ),
    st.tuples(st.just("remove"), st.integers(0, 5), st.integers(0, 2)),
    st.tuples(st.just("boost"), st.integers(0, 5), st.integers(0, 2), st.sampled_from([0.01, 1.0])),
    st.tuples(
        st.just("lengthen"), st.integers(0, 5), st.integers(0, 2), st.sampled_from([0.01, 1.0])
    ),
    st.tuples(st.just("hint"), st.sets(st.integers(0, 5), max_size=3), st.sampled_from([0.0, 0.5])),
    st.tuples(st.just("sleep"), st.just(0.0)),  # wakes just before next_due()
)

_SETTINGS = st.builds(
    SchedulerSettings,
    max_rate=st.sampled_from([1e6, 2000.0, 300.0]),
    max_burst=st.sampled_from([0.0, 1.0, 4.0]),
    per_target_rate=st.sampled_from([1e6, 400.0, 20.0]),
    per_target_burst=st.sampled_from([1.0, 3.0, 1e6]),
    train_size=st.integers(1, 4),
    train_spacing_s=st.sampled_from([0.0, 0.001, 0.002, 0.006]),
    jitter=st.sampled_from([0.0, 0.1, 0.5]),
    class_weights=st.sampled_from([(16, 4, 1), (1, 1, 1), (0, 2, 1)]),
    intervals=st.sampled_from([(0.01, 0.02, 0.05), (0.004, 0.004, 0.1)]),
    retry_factor=st.sampled_from([1.0, 4.0]),
    long_train_factor=st.sampled_from([1, 2]),
)


def _pick(job):
    """Candidates shared between prefixes (their politeness buckets meet); none for p5."""
    if job.prefix == "p5":
        return []
    k = int(job.prefix[1:])
    return [(f"198.18.0.{(k + i) % 4}", False, "icmp") for i in range(1 + k % 3)]


def _drive(st_: SchedulerSettings, ops, seed: int):
    """Runs ``ops`` on 12 paths (6 prefixes, 2 providers, classes 0 to 2); returns every due()
    call as (time, [(job, address)]), and the jobs removed with the number of calls before."""
    s = Scheduler(st_, 0.0, random.Random(seed))
    for k in range(6):
        for provider in range(2):
            s.set_job(f"p{k}", provider, (k + provider) % 3, 0.0)
    now = 0.0
    calls: list[tuple[float, list]] = []
    removed: list[tuple[int, object]] = []
    for op, *args in ops:
        if op == "set":
            k, provider, cls, interval = args
            s.set_job(f"p{k}", provider, cls, now, interval)
        elif op == "remove":
            job = s.jobs.get((f"p{args[0]}", args[1]))
            s.remove_job(f"p{args[0]}", args[1])
            if job is not None:
                removed.append((len(calls), job))
        elif op in ("boost", "lengthen"):
            job = s.jobs.get((f"p{args[0]}", args[1]))
            if job is not None:
                getattr(s, op)(job, now + args[2], now)
        elif op == "hint":
            s.hint({f"p{k}": now + args[1] for k in args[0]}, now)
        else:
            wake = s.next_due()
            if op == "sleep":
                if wake is None or wake - 1e-4 <= now:
                    continue
                now = wake - 1e-4
            else:
                now += args[0]
            out = s.due(now, _pick)
            if op == "sleep":
                # The sender may sleep until next_due(): nothing was due before it.
                assert out == []
            for job, address, *_ in out:
                assert address in [c[0] for c in _pick(job)]
            calls.append((now, [(job, address) for job, address, *_ in out]))
    return s, calls, removed


@settings(max_examples=150, deadline=None)
@given(_SETTINGS, st.lists(_OPS, min_size=20, max_size=150), st.integers(0, 2**32))
def test_random_calls_keep_the_caps_and_a_seed_gives_the_same_probes(st_, ops, seed):
    s, calls, removed = _drive(st_, ops, seed)
    # The global cap and every target's: no window of calls takes more than the bucket's
    # depth and what the window refills.
    burst = max(1.0, st_.max_burst or st_.max_rate / 50)
    per_burst = max(1.0, st_.per_target_burst)
    for i, (t0, _) in enumerate(calls):
        total = 0
        per_target: Counter[str] = Counter()
        for t1, out in calls[i:]:
            total += len(out)
            per_target.update(address for _, address in out)
            assert total <= burst + st_.max_rate * (t1 - t0) + 1e-6
            assert max(per_target.values(), default=0) <= (
                per_burst + st_.per_target_rate * (t1 - t0) + 1e-6
            )
    # A removed path is not probed again; every path's count is what it was sent.
    for before, job in removed:
        assert not any(j is job for _, out in calls[before:] for j, _ in out)
    sent = Counter(id(job) for _, out in calls for job, _ in out)
    for job in s.jobs.values():
        assert job.sent == sent[id(job)]
    # Seeded runs give identical output: the same probes, in the same order.
    _, again, _ = _drive(st_, ops, seed)
    assert [(t, [(j.prefix, j.provider, a) for j, a in out]) for t, out in calls] == [
        (t, [(j.prefix, j.provider, a) for j, a in out]) for t, out in again
    ]
