"""The Prober on the fake network: snapshot, outage detection, rollups, metrics, matching."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from tests.samples import series, value

from routepilot.flows.snapshot import TrafficSnapshot
from routepilot.metrics import render
from routepilot.probe import wire
from routepilot.probe.component import Prober
from routepilot.probe.config import ProbeConfig
from routepilot.probe.engine import ProbeEngine
from routepilot.probe.fake import FakeClock, FakeNetwork
from routepilot.probe.rollup import MemoryRollupSink
from routepilot.probe.sockets import Steering
from routepilot.rib.snapshot import RoutesSnapshot

NAMES = ["isp1", "isp2", "isp3"]


def make(cfg: ProbeConfig | None = None, sink=None):
    cfg = cfg or ProbeConfig(
        enabled=True,
        timeout_s=0.5,
        interval_s=1.0,
        exit_interval_s=1.0,
        alternative_interval_s=1.0,
        train_size=1,
    )
    clock = FakeClock(6_000_000.0)
    net = FakeNetwork(clock, names=NAMES)
    pr = Prober(
        cfg,
        [(n, Steering()) for n in NAMES],
        transport=net,
        clock=clock,
        sink=sink,
        rng=random.Random(1),
    )
    return clock, net, pr


def test_snapshot_reads_each_path():
    clock, net, pr = make()
    net.set_path("isp1", rtt_ms=20.0)
    net.set_path("isp2", rtt_ms=35.0, loss=0.2)
    net.set_path("isp3", blackhole=True)
    pr.set_paths([("198.18.1.0/24", n, 0) for n in NAMES])
    pr.observe_destinations(["198.18.1.10", "198.18.1.11"])
    net.run(pr, 60.0)
    s = pr.snapshot()
    assert s.prefixes == ("198.18.1.0/24",) and s.providers == tuple(NAMES)
    assert s.rtt_median_ms[0, 0] == pytest.approx(20.0)
    assert s.rtt_median_ms[0, 1] == pytest.approx(35.0)
    assert math.isnan(s.rtt_median_ms[0, 2])
    assert s.loss[0, 0] == 0.0 and s.loss[0, 2] == 1.0
    assert s.loss_low[0, 1] < 0.2 < s.loss_high[0, 1]
    assert s.samples[0, 0] >= 50
    assert s.down()[0].tolist() == [False, False, True]
    assert s.provider_healthy == {"isp1": True, "isp2": True, "isp3": False}
    assert set(s.targets["198.18.1.0/24"]) == {"198.18.1.10", "198.18.1.11"}
    assert pr.metrics.user_stamp_fallbacks == 0


def test_blackhole_flagged_within_three_intervals():
    clock, net, pr = make()
    pr.set_paths([("198.18.1.0/24", n, 0) for n in NAMES])
    pr.observe_destinations(["198.18.1.10"])
    net.run(pr, 10.0)
    assert not pr.snapshot().down().any()
    net.set_path("isp2", blackhole=True)
    t0 = clock.now
    while not pr.snapshot().down()[0, 1]:
        net.run(pr, 0.05)
        assert clock.now - t0 < 3 * 1.0 * 1.1 + 0.5, "not flagged within 3 intervals"
    assert not pr.snapshot().down()[0, [0, 2]].any()


def test_failing_paths_follow_the_snapshots_outage_flags():
    clock, net, pr = make()
    pr.set_paths([("198.18.1.0/24", n, 0) for n in NAMES])
    pr.observe_destinations(["198.18.1.10"])
    net.run(pr, 10.0)
    assert pr.failing_paths() == []
    net.set_path("isp2", blackhole=True)
    net.run(pr, 5.0)
    assert pr.failing_paths() == [("198.18.1.0/24", "isp2")]
    assert pr.snapshot().down()[0].tolist() == [False, True, False]
    net.set_path("isp2", blackhole=False)
    net.run(pr, 5.0)
    assert pr.failing_paths() == []
    pr.set_paths([])  # a path no longer measured is no longer failing
    assert pr.failing_paths() == []


def test_update_gives_the_busiest_exits_the_fast_class():
    cfg = ProbeConfig(enabled=True, busy_prefixes=1)
    clock, net, pr = make(cfg)
    traffic = TrafficSnapshot(
        time=0.0,
        window_s=60.0,
        prefixes=("198.18.1.0/24", "198.18.2.0/24"),
        providers=tuple(NAMES),
        bps=np.array([[5e6, 0, 0], [0, 1e6, 0]]),
        pps=np.zeros((2, 3)),
    )
    routes = RoutesSnapshot(
        time=0.0,
        prefixes=("198.18.1.0/24", "198.18.2.0/24"),
        providers=tuple(NAMES),
        has_route=np.array([[True, True, False], [True, True, True]]),
        as_path_len=np.ones((2, 3), dtype=np.int32),
        bgp_best=np.array([0, 1], dtype=np.int32),
    )
    pr.update(traffic, routes)
    classes = {
        (j.prefix, pr.provider_names[j.provider]): j.priority for j in pr.scheduler.jobs.values()
    }
    assert classes == {
        ("198.18.1.0/24", "isp1"): 0,
        ("198.18.1.0/24", "isp2"): 2,
        ("198.18.2.0/24", "isp1"): 2,
        ("198.18.2.0/24", "isp2"): 1,
        ("198.18.2.0/24", "isp3"): 2,
    }


def test_rollups_per_minute_go_to_the_sink():
    sink = MemoryRollupSink()
    clock, net, pr = make(sink=sink)
    clock.now = 6_000_000.0 - 6_000_000.0 % 60
    net.set_path("isp1", rtt_ms=10.0)
    pr.set_paths([("198.18.1.0/24", "isp1", 0)])
    pr.observe_destinations(["198.18.1.10"])
    pr.roll_minutes()
    for _ in range(150):
        net.run(pr, 1.0)
        pr.roll_minutes()
    minutes = sorted({r.minute for r in sink.rows})
    assert len(minutes) == 2 and minutes[1] - minutes[0] == 60
    row = next(r for r in sink.rows if r.minute == minutes[1])
    assert row.provider == "isp1" and row.answered == row.sent and row.sent >= 55
    assert row.rtt_median_ms == pytest.approx(10.0) and row.loss == 0.0
    assert pr.metrics.rollups_written == len(sink.rows)


def test_a_failing_sink_is_counted_not_fatal():
    class Broken:
        def write_probe_rollups(self, rows):
            raise RuntimeError("disk full")

    clock, net, pr = make(sink=Broken())
    pr.set_paths([("198.18.1.0/24", "isp1", 0)])
    pr.observe_destinations(["198.18.1.10"])
    net.run(pr, 5.0)
    pr.flush_minutes()
    assert pr.metrics.rollup_errors == 1


def test_metric_names_are_prometheus_style():
    clock, net, pr = make()
    pr.set_paths([("198.18.1.0/24", "isp1", 0)])
    pr.observe_destinations(["198.18.1.10"])
    net.run(pr, 3.0)
    text = render(pr.metrics)[0].decode()
    assert 'routepilot_probes_sent_total{kind="icmp",provider="isp1"}' in text
    assert 'routepilot_probe_read_delay_seconds_bucket{le="+Inf"}' in text
    assert "# TYPE routepilot_probe_read_delay_seconds histogram" in text
    for name, _ in series(pr.metrics):
        assert name.startswith("routepilot_probe")
    for family in pr.metrics.collect():
        for sample in family.samples:
            if family.type == "counter":
                assert sample.name.endswith(("_total", "_created")), sample.name
            elif family.type == "gauge":
                assert not sample.name.endswith("_total"), sample.name
            else:
                assert family.type == "histogram", family.type
    assert value(pr.metrics, "routepilot_probes_sent_total", provider="isp1", kind="icmp") > 0


def test_nothing_is_probed_outside_learned_prefixes():
    clock, net, pr = make()
    pr.set_paths([("198.18.1.0/24", "isp1", 0)])
    pr.observe_destinations(["198.18.2.1", "192.0.2.1", "198.18.1.10"])
    net.run(pr, 5.0)
    assert {p.target for p in net.sent} == {"198.18.1.10"}


class _Sock:
    provider, kind = 0, "icmp"
    send_run = None  # one probe at a time, through send()

    def send(self, target, token, tx_user_ns, ttl=None):
        self.last = token

    def fileno(self):
        return -1

    def close(self):
        pass

    def drain(self, sink):
        return False


class _Transport:
    def __init__(self):
        self.sock = _Sock()

    def open(self, *args):
        return self.sock


def test_engine_matches_by_token_socket_and_address_and_counts_the_rest():
    clock = FakeClock(100.0)
    t = _Transport()
    eng = ProbeEngine(t, [("isp1", Steering())], 1.0, clock_ns=lambda: int(clock() * 1e9))
    results = []
    eng.send(0, "icmp", "198.18.0.1", lambda *a: results.append(a[1:3]))
    tok = t.sock.last
    tx = 100_000_000_000
    eng.answer(t.sock, tok, "198.18.0.2", 100_010_000_000, wire.REPLY, "x", 64, tx)  # wrong address
    eng.answer(_Sock(), tok, "198.18.0.1", 100_010_000_000, wire.REPLY, "x", 64)  # wrong socket
    eng.answer(t.sock, tok + 1, "198.18.0.1", 100_010_000_000, wire.REPLY, "x", 64)  # no probe
    assert results == [] and eng.metrics.total("unmatched") == 3
    eng.answer(t.sock, tok, "198.18.0.1", 100_012_000_000, wire.REPLY, "198.18.0.1", 64, tx)
    assert results == [(wire.REPLY, 12_000_000)]
    eng.answer(t.sock, tok, "198.18.0.1", 100_013_000_000, wire.REPLY, "198.18.0.1", 64)  # dup
    assert eng.metrics.total("unmatched") == 4
    eng.send(0, "icmp", "198.18.0.1", lambda *a: results.append(a[1:3]))
    clock.now = 102.0
    assert eng.expire() == 1
    assert results[-1] == (wire.LOST, -1)
    assert eng.metrics.total("lost") == 1


def test_a_socket_that_cannot_open_mid_run_is_counted_not_fatal():
    from routepilot.probe.sockets import ProbeSetupError

    class NoV6(FakeNetwork):
        def open(self, provider, kind, family, steering, magic):
            if family == 10:  # AF_INET6
                raise ProbeSetupError("cannot open a probe socket: no IPv6 here")
            return super().open(provider, kind, family, steering, magic)

    clock = FakeClock(5000.0)
    net = NoV6(clock, names=NAMES)
    pr = Prober(
        ProbeConfig(enabled=True), [(n, Steering()) for n in NAMES], transport=net, clock=clock
    )
    pr.set_paths([("198.18.1.0/24", "isp1", 0), ("2001:db8:1001::/48", "isp1", 0)])
    pr.observe_destinations(["198.18.1.10", "2001:db8:1001::10"])
    net.run(pr, 5.0)
    assert pr.metrics.send_errors["isp1", "icmp"] > 0
    assert pr.metrics.answered["isp1", "icmp"] > 0


def test_blackhole_flagged_within_three_intervals_with_the_default_config():
    cfg = ProbeConfig(enabled=True)
    for seed in range(5):
        clock = FakeClock(7000.0)
        net = FakeNetwork(clock, names=NAMES, seed=seed)
        pr = Prober(
            cfg,
            [(n, Steering()) for n in NAMES],
            transport=net,
            clock=clock,
            rng=random.Random(seed),
        )
        pr.set_paths([("198.18.1.0/24", n, 0) for n in NAMES])
        # Three live targets, as kept by default: one alone would be held back by the
        # per-address politeness cap (3 providers x 3-probe trains > 5 probes/s).
        pr.observe_destinations(["198.18.1.10", "198.18.1.11", "198.18.1.12"])
        net.run(pr, 10.0 + seed * 0.37)
        net.set_path("isp1", blackhole=True)
        t0 = clock.now
        while not pr.snapshot().down()[0, 0]:
            net.run(pr, 0.05)
            assert clock.now - t0 <= 3 * cfg.interval_s


def test_nothing_is_sent_unless_enabled():
    import asyncio

    clock = FakeClock(100.0)
    net = FakeNetwork(clock, names=NAMES)
    pr = Prober(ProbeConfig(), [(n, Steering()) for n in NAMES], transport=net, clock=clock)
    pr.set_paths([("198.18.1.0/24", "isp1", 0)])

    async def scenario():
        await pr.start()
        # Disabled, start() leaves no task behind that could ever send.
        assert asyncio.all_tasks() == {asyncio.current_task()}
        await pr.stop()

    asyncio.run(scenario())
    assert net.sent == []


def test_targets_probed_with_the_kind_they_answer():
    class IcmpFiltered(FakeNetwork):
        def transmit(self, sock, target, token, ttl):
            if sock.kind == "icmp" and target == "198.18.1.11":
                self.sent.append(None)  # counted, never answered
                return
            super().transmit(sock, target, token, ttl)

    clock = FakeClock(9000.0)
    net = IcmpFiltered(clock, names=NAMES)
    cfg = ProbeConfig(enabled=True, fallback_kinds=["tcp"], timeout_s=0.5)
    pr = Prober(cfg, [(n, Steering()) for n in NAMES], transport=net, clock=clock)
    pr.set_paths([("198.18.1.0/24", "isp1", 0)])
    pr.observe_destinations(["198.18.1.10", "198.18.1.11"])
    net.run(pr, 30.0)
    kinds = {t.address: t.kind for t in pr.targets.prefixes["198.18.1.0/24"].active}
    assert kinds == {"198.18.1.10": "icmp", "198.18.1.11": "tcp"}
    s = pr.snapshot()
    assert s.loss[0, 0] == 0.0  # verification probes never count as path loss


def test_prefixes_are_measured_under_one_spelling():
    clock, net, pr = make()
    pr.set_paths([("2001:db8:1001:0::/48", "isp1", 0), ("198.18.1.0/24", "isp1", 0)])
    pr.observe_destinations(["2001:db8:1001::10", "198.18.1.10"])
    net.run(pr, 5.0)
    s = pr.snapshot()
    assert s.prefixes == ("198.18.1.0/24", "2001:db8:1001::/48")
    assert (s.samples[:, 0] > 0).all()


def _retry_prober(retry_losses: int, seed: int):
    cfg = ProbeConfig(
        enabled=True,
        timeout_s=0.5,
        interval_s=0.2,
        exit_interval_s=0.25,
        alternative_interval_s=0.25,
        train_size=4,
        window_s=10.0,
        retry_losses=retry_losses,
        retry_hold_s=5.0,
        per_target_rate=1000.0,
        per_target_burst=100.0,
    )
    clock = FakeClock(6_000_000.0)
    net = FakeNetwork(clock, seed=seed, names=NAMES)
    pr = Prober(
        cfg, [(n, Steering()) for n in NAMES], transport=net, clock=clock, rng=random.Random(seed)
    )
    pr.set_paths([(p, n, 0) for p in ("198.18.1.0/24", "198.18.2.0/24") for n in NAMES])
    pr.observe_destinations(["198.18.1.10", "198.18.2.10"])
    return clock, net, pr


def test_losses_put_the_prefix_under_retry_probing_through_every_provider():
    clock, net, pr = _retry_prober(2, seed=3)
    net.run(pr, 12.0)
    before = pr.snapshot().samples.copy()
    assert pr.retrying() == [] and pr.metrics.retries == 0
    net.set_path("isp1", loss=0.3)  # isp1 loses for both prefixes; only isp1's paths lose
    net.run(pr, 12.0)
    assert pr.retrying() == ["198.18.1.0/24", "198.18.2.0/24"]
    s = pr.snapshot()
    # Every provider's path of a retried prefix is probed about four times as often.
    assert (s.samples >= 3 * before).all(), (before, s.samples)
    assert value(pr.refresh_metrics(), "routepilot_probe_retrying_prefixes") == 2
    assert pr.metrics.retries == 2
    net.set_path("isp1", loss=0.0)
    net.run(pr, 16.0)  # the hold passes without a loss; the window forgets the fast samples
    assert pr.retrying() == []
    assert (pr.snapshot().samples <= 1.3 * before).all()


def test_retry_probing_is_capped_in_prefixes_and_counts_what_it_skips():
    clock, net, pr = _retry_prober(2, seed=4)
    pr.config = pr.config.model_copy(update={"retry_max_prefixes": 1})
    net.set_path("isp2", loss=0.5)
    net.run(pr, 10.0)
    assert len(pr.retrying()) == 1
    assert pr.metrics.retries_skipped > 0


def test_retry_probing_proves_a_5pct_brownout_within_15s_where_the_plain_schedule_may_not():
    """The lab's schedule (busy exit every 0.2 s, trains of 4) and a 5% brownout on the exit:
    the path's 95% Wilson lower bound must clear the 2-point loss threshold. Over 20 seeded
    worlds, retry probing proves it within 15 s every time, and sooner than the plain schedule
    (which sees ~114 probes in a 10 s window and can miss 15 s by chance)."""

    def proven_after(retry_losses: int, seed: int) -> float:
        clock, net, pr = _retry_prober(retry_losses, seed)
        net.run(pr, 12.0)
        net.set_path("isp1", loss=0.05)
        t0 = clock.now
        while pr.snapshot().loss_low[0, 0] < 0.02 and clock.now - t0 < 60:
            net.run(pr, 0.5)
        return clock.now - t0

    retried = [proven_after(2, seed) for seed in range(20)]
    plain = [proven_after(0, seed) for seed in range(20)]
    assert max(retried) < 15, retried
    assert sorted(retried)[10] < sorted(plain)[10], (retried, plain)


def test_the_first_loss_puts_a_brownout_under_retry_probing_as_fast_as_politeness_allows():
    """The lab's schedule and politeness cap with the default retry settings. A 5% brownout
    is proven (one-sided 95% Wilson bound clear of 2%) by about 1,000 probes in a 10 s
    window; the plain schedule sends 114. Waiting for a second loss left a world with
    sparse losses un-boosted for seconds, and a 4x boost gave only ~457 probes a window:
    together about 6% of brownouts were still unproven 14 s in. So the first loss boosts
    the prefix, and the boost runs up to the per-target cap (3 targets x 100/s, shared by
    the 3 providers: about 100 probes/s a path)."""
    cfg = ProbeConfig(
        enabled=True,
        timeout_s=0.5,
        interval_s=0.2,
        exit_interval_s=0.25,
        alternative_interval_s=0.25,
        train_size=4,
        window_s=10.0,
        per_target_rate=100.0,
        per_target_burst=40.0,
    )
    clock = FakeClock(6_000_000.0)
    net = FakeNetwork(clock, seed=5, names=NAMES)
    pr = Prober(
        cfg, [(n, Steering()) for n in NAMES], transport=net, clock=clock, rng=random.Random(5)
    )
    prefix = "198.18.1.0/24"
    pr.set_paths([(prefix, "isp1", 0), (prefix, "isp2", 2), (prefix, "isp3", 2)])
    pr.observe_destinations(["198.18.1.10", "198.18.1.11", "198.18.1.12"])
    net.run(pr, 12.0)
    plain = pr.snapshot().samples[0].tolist()
    assert 100 <= plain[0] <= 130 and pr.retrying() == []
    net.set_path("isp1", loss=0.05)
    exit_stats = pr.stats[prefix, 0]
    while exit_stats.sent_total == exit_stats.answered_total:
        net.run(pr, 0.01)
    assert exit_stats.sent_total - exit_stats.answered_total == 1
    assert pr.retrying() == [prefix]  # on the first loss, not the second
    net.run(pr, 10.5)
    s = pr.snapshot()
    assert s.samples[0, 0] >= 800, s.samples  # ~1,000: at the politeness cap, not 4x
    # The cap holds: no target got more than per_target_rate (+ burst) in the last 10 s.
    recent = [p.target for p in net.sent if p.time > clock.now - 10.0]
    assert max(recent.count(t) for t in set(recent)) <= 100 * 10 + 40


def test_a_path_no_longer_measured_leaves_its_prefixs_targets_alone():
    """isp3 stops being measured while its probes are in flight (blackholed: they end at
    their timeout): their late losses neither bring isp3 back among the prefix's providers
    nor count against its targets, which would judge them by a path not probed any more."""
    clock, net, pr = make()
    net.set_path("isp1", rtt_ms=20.0)
    net.set_path("isp2", rtt_ms=30.0)
    net.set_path("isp3", blackhole=True)
    prefix = "198.18.1.0/24"
    pr.set_paths([(prefix, n, 0) for n in NAMES])
    pr.observe_destinations(["198.18.1.10", "198.18.1.11"])
    net.run(pr, 10.0)
    pt = pr.targets.prefixes[prefix]
    assert pt.active and pt.providers == {0, 1, 2}
    while not any(p.provider == 2 for p in pr.engine.inflight.values()):
        net.run(pr, 0.05)
    pr.set_paths([(prefix, n, 0) for n in NAMES[:2]])
    net.run(pr, 5.0)
    assert pt.providers == {0, 1}
    assert all(2 not in t.losses_through for t in pt.active)
