"""The issue's Done-when checks on the real lab: BIRD routers, policy-routed probe sources,
the AnyIP internet, impairments set with `routepilot lab impair`."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time

import pytest
from scipy.stats import binom
from tests.fixtures.delays import check_held_delay
from tests.fixtures.netns import netns
from tests.lab.nftcheck import nft_dropped

from routepilot.lab.spec import dest_prefix_v4, probe_source
from routepilot.probe.component import Prober
from routepilot.probe.config import ProbeConfig
from routepilot.probe.oneshot import measure, traceroute
from routepilot.probe.sockets import Steering

PROVIDERS = ("isp1", "isp2", "isp3")


def providers() -> list[tuple[str, Steering]]:
    out = []
    for i, name in enumerate(PROVIDERS, start=1):
        v4, v6 = probe_source(i)
        out.append((name, Steering(source=v4, source6=v6)))
    return out


def impair(lab, provider: str, *args: str) -> None:
    cmd = [
        sys.executable,
        "-m",
        "routepilot.cli.main",
        "lab",
        "impair",
        provider,
        "--name",
        lab.spec.name,
        *args,
    ]
    subprocess.run(cmd, check=True, capture_output=True, timeout=60)


def run_measure(lab, targets, kind="icmp", count=40, interval=0.01, timeout=1.0):
    with netns(lab.ns("ctl")):
        res = asyncio.run(measure(targets, providers(), kind, count, interval, timeout))
    return {r.provider: r for r in res} if len(targets) == 1 else res


def check_delay(lab, provider, address, since, measured_ms, configured_ms):
    """The reading against what ``provider``'s delayer really held toward ``address``
    since ``since`` (tests/fixtures/delays.py says why not the configured delay alone)."""
    check_held_delay(lambda: lab.held(provider), address, since, measured_ms, configured_ms)


def test_median_rtt_per_provider_matches_the_configured_delay(plab):
    impair(plab, "isp1", "--prefix", "198.18.3.0/24", "--delay", "10")
    impair(plab, "isp2", "--prefix", "198.18.3.0/24", "--delay", "30")
    t0 = time.monotonic()
    res = run_measure(plab, ["198.18.3.7"], count=60)
    base = res["isp3"].summary().rtt_median_ms
    assert base < 1.0
    for provider, configured in (("isp1", 10.0), ("isp2", 30.0)):
        median = res[provider].summary().rtt_median_ms
        check_delay(plab, provider, "198.18.3.7", t0, median, configured)


def test_loss_is_the_paths_and_as_configured(plab):
    """The prober's loss is the path's: every probe it counts lost is one the lab's loss
    rule dropped (its nftables counter), none lost on the way or in the prober, and the
    rule's random drops are what was configured."""
    impair(plab, "isp1", "--prefix", "198.18.4.0/24", "--loss", "5")
    impair(plab, "isp2", "--prefix", "198.18.4.0/24", "--loss", "20")
    res = run_measure(plab, ["198.18.4.9"], count=1000, interval=0.002)
    for provider, p in (("isp1", 0.05), ("isp2", 0.20), ("isp3", 0.0)):
        r = res[provider]
        lost = r.sent - len(r.rtts_ms)
        dropped = nft_dropped(plab, provider, "198.18.4.0/24") if p else 0
        assert lost == dropped, (provider, lost, dropped, r.sent)
        # The lab's own draw (nftables' numgen random) is what was configured. Checked at
        # a level a sound rule misses once in a million runs: at 99 %, two lossy providers
        # failed one run in fifty by chance alone, whatever the prober did.
        lo, hi = binom.interval(1 - 1e-6, r.sent, p)
        assert lo <= dropped <= hi, (provider, dropped, r.sent)


def fast_config(alternative_interval_s: float) -> ProbeConfig:
    """Trains of three every 0.5 s on the exit, to the two addresses .1 and .2 of
    198.18.2.0/24."""
    return ProbeConfig(
        enabled=True,
        interval_s=0.5,
        exit_interval_s=0.5,
        alternative_interval_s=alternative_interval_s,
        timeout_s=0.3,
        train_size=3,
        train_spacing_s=0.05,
        jitter=0.05,
        per_target_rate=20,
        targets=["198.18.2.1", "198.18.2.2"],
    )


def test_blackhole_flagged_within_three_intervals_others_healthy(plab):
    interval = 0.5
    cfg = fast_config(alternative_interval_s=interval)

    async def scenario():
        with netns(plab.ns("ctl")):
            pr = Prober(cfg, providers())
            await pr.start()
        try:
            pr.set_paths([(dest_prefix_v4(2), name, 0) for name in PROVIDERS])
            # Every path measured by two trains before the blackhole: none is down.
            deadline = time.monotonic() + 30
            while not (pr.snapshot().samples[0] >= 2 * cfg.train_size).all():
                assert time.monotonic() < deadline, pr.snapshot().samples
                await asyncio.sleep(0.02)
            assert not pr.snapshot().down().any()
            impair(plab, "isp3", "--prefix", "198.18.2.0/24", "--blackhole")
            t0 = time.monotonic()
            while not pr.snapshot().down()[0, 2]:
                await asyncio.sleep(0.02)
                # Three intervals (t0 is taken after the impair command has returned).
                assert time.monotonic() - t0 < 3 * interval
            snap = pr.snapshot()
            assert snap.down()[0].tolist() == [False, False, True]
            assert snap.provider_healthy == {"isp1": True, "isp2": True, "isp3": False}
        finally:
            await pr.stop()

    asyncio.run(scenario())


def test_a_prefix_blackholed_on_its_exit_keeps_its_targets(plab):
    """The prefix's exit (isp3) is probed every 0.5 s and blackholed; its one alternative
    (isp1) is probed every 3 s and answers. Its targets answer through the alternative, so
    none is judged silent nor replaced, and the prefix stays probeable. (When losses in a
    row were counted across providers, the six exit trains between two alternative answers
    made nine losses in a row per target, and one target was dropped while its sibling
    answered.)"""
    cfg = fast_config(alternative_interval_s=3.0)
    prefix = dest_prefix_v4(2)

    async def scenario():
        with netns(plab.ns("ctl")):
            pr = Prober(cfg, providers())
            await pr.start()
        try:
            pr.set_paths([(prefix, "isp3", 0), (prefix, "isp1", 2)])
            deadline = time.monotonic() + 30
            while len(pr.snapshot().targets.get(prefix, ())) < 2:
                assert time.monotonic() < deadline, pr.snapshot().targets
                await asyncio.sleep(0.02)
            impair(plab, "isp3", "--prefix", prefix, "--blackhole")
            before = pr.snapshot().samples[0, 0]
            # Until the exit has lost four times ``dead_after`` in a row (when all targets
            # would be dropped even as a whole) and the alternative answered three more
            # trains.
            deadline = time.monotonic() + 60
            while True:
                snap = pr.snapshot()
                if snap.consecutive_losses[0, 2] >= 24 and snap.samples[0, 0] - before >= 9:
                    break
                assert time.monotonic() < deadline, (snap.consecutive_losses, snap.samples)
                await asyncio.sleep(0.05)
            assert set(snap.targets[prefix]) == {"198.18.2.1", "198.18.2.2"}
            assert pr.targets.replaced == 0, pr.targets.disqualified
            assert prefix not in snap.unprobeable
            assert snap.down()[0].tolist() == [False, False, True]
        finally:
            await pr.stop()

    asyncio.run(scenario())


@pytest.mark.parametrize("kind", ["tcp", "udp"])
def test_tcp_and_udp_agree_with_icmp(plab, kind):
    impair(plab, "isp2", "--prefix", "198.18.5.0/24", "--delay", "20")
    icmp = run_measure(plab, ["198.18.5.5"], "icmp", count=30)
    t0 = time.monotonic()
    other = run_measure(plab, ["198.18.5.5"], kind, count=30)
    for provider in PROVIDERS:
        a, b = icmp[provider].summary(), other[provider].summary()
        assert (b.samples, b.answered) == (30, 30), provider
        assert b.rtt_median_ms == pytest.approx(a.rtt_median_ms, abs=1.0)
    check_delay(plab, "isp2", "198.18.5.5", t0, other["isp2"].summary().rtt_median_ms, 20.0)


@pytest.mark.parametrize("kind", ["icmp", "tcp", "udp"])
def test_ipv6(plab, kind):
    impair(plab, "isp1", "--prefix", "2001:db8:1003::/48", "--delay", "20")
    t0 = time.monotonic()
    res = run_measure(plab, ["2001:db8:1003::5"], kind, count=30)
    check_delay(plab, "isp1", "2001:db8:1003::5", t0, res["isp1"].summary().rtt_median_ms, 20.0)
    assert res["isp2"].summary().rtt_median_ms < 1.0
    assert {p: (r.sent, r.summary().answered) for p, r in res.items()} == dict.fromkeys(
        PROVIDERS, (30, 30)
    )


@pytest.mark.parametrize(
    ("target", "first_hop"),
    [("198.18.6.1", "100.66.1.1"), ("2001:db8:1002::1", "2001:db8:ff66:1::1")],
)
def test_traceroute_shows_the_path_through_one_provider(plab, target, first_hop):
    for kind in ("icmp", "udp", "tcp"):
        time.sleep(1.1)  # routers rate-limit time exceeded (1/s per destination by default)
        with netns(plab.ns("ctl")):
            hops = asyncio.run(traceroute(target, providers()[1], kind, 10, 2, 0.5))
        assert hops[-1].reached, (kind, hops)
        assert len(hops) >= 3 and hops[0].responder == first_hop, (kind, hops)


def test_cli_side_by_side_in_the_lab(plab, tmp_path):
    impair(plab, "isp3", "--prefix", "198.18.7.0/24", "--delay", "15")
    cfg = tmp_path / "rp.yaml"
    lines = ["providers:"]
    for i, name in enumerate(PROVIDERS, start=1):
        v4, v6 = probe_source(i)
        lines += [
            f"  - name: {name}",
            f"    asn: {65000 + i}",
            f"    next_hops: [100.64.{i}.1]",
            "    capacity_mbps: 100",
            f'    probe: {{source: {v4}, source6: "{v6}"}}',
        ]
    cfg.write_text("\n".join(lines) + "\n")
    t0 = time.monotonic()
    out = subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            plab.ns("ctl"),
            sys.executable,
            "-m",
            "routepilot.cli.main",
            "probe",
            "198.18.7.3",
            "-c",
            str(cfg),
            "--json",
            "-n",
            "10",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    rows = {r["provider"]: r for r in json.loads(out.stdout)}
    check_delay(plab, "isp3", "198.18.7.3", t0, rows["isp3"]["rtt_median_ms"], 15.0)
    assert rows["isp1"]["rtt_median_ms"] < 1.0
