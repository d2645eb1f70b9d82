from __future__ import annotations

import pytest

from routepilot.config import ConfigError, load_text
from routepilot.lab import bird, impair, topology
from routepilot.lab.controller import controller_config
from routepilot.lab.impair import Impairment
from routepilot.lab.netns import LabError
from routepilot.lab.spec import LabSpec, default_spec, dest_prefix_v4, dest_prefix_v6


def test_addressing_plan() -> None:
    assert dest_prefix_v4(0) == "198.18.0.0/24"
    assert dest_prefix_v4(255) == "198.18.255.0/24"
    assert dest_prefix_v4(256) == "198.19.0.0/24"
    assert dest_prefix_v6(17) == "2001:db8:1011::/48"
    with pytest.raises(ValueError):
        dest_prefix_v4(512)


def test_bgp_choice_is_spread_and_unique() -> None:
    spec = default_spec(4, 64)
    for k in range(64):
        prepends = [spec.prepend(p.name, k) for p in spec.providers]
        assert sorted(prepends) == [0, 1, 2, 3]  # no ties: BGP's choice is deterministic
    assert {spec.bgp_best(k) for k in range(64)} == {"isp1", "isp2", "isp3", "isp4"}


def test_partial_provider_never_best_outside_its_prefixes() -> None:
    spec = LabSpec.model_validate(
        {
            "providers": [{"name": "a", "asn": 1}, {"name": "b", "asn": 2, "announce": "0-3"}],
            "prefixes": 8,
        }
    )
    assert spec.providers[1].announced(8) == [0, 1, 2, 3]
    assert all(spec.bgp_best(k) == "a" for k in range(4, 8))


@pytest.mark.parametrize(
    "bad, message",
    [
        ("providers: [{name: a, asn: 1}]", "at least 2"),
        ("providers: [{name: a, asn: 1}, {name: a, asn: 2}]", "unique"),
        ("providers: [{name: edge, asn: 1}, {name: b, asn: 2}]", "reserved"),
        ("providers: [{name: a, asn: 1}, {name: b, asn: 2, announce: 'x'}]", "index ranges"),
        ("providers: [{name: a, asn: 1}, {name: b, asn: 2}]\nprefixes: 600", "less than or equal"),
        ("providers: [{name: a, asn: 1}, {name: b, asn: 2}]\nbogus: 1", "unknown key"),
    ],
)
def test_bad_spec_is_named(bad: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_text(bad, LabSpec, "lab.yaml")


def test_provider_bird_config_prepends_and_announces() -> None:
    spec = default_spec(3, 6)
    conf = bird.provider_config(spec, "isp2", "/tmp/x.log")
    assert "route 198.18.5.0/24 via 100.65.2.2;" in conf
    assert "neighbor 100.64.2.1 as 65000;" in conf
    # isp2 prepends twice to prefix 0 ((0 + 1) % 3 = 1 → once; (1 + 1) % 3 = 2 → twice).
    assert (
        "if net ~ [ 198.18.1.0/24, 198.18.4.0/24 ] then { bgp_path.prepend(65002); "
        "bgp_path.prepend(65002); }" in conf
    )


def test_edge_bird_config_sends_every_path_to_controller() -> None:
    conf = bird.edge_config(default_spec(2, 4), "/tmp/x.log")
    assert conf.count("add paths tx;") == 2
    assert "next hop keep;" in conf
    assert "error wait time 1, 5;" in conf


def test_topology_steers_probe_sources() -> None:
    lines = topology.batches(default_spec(2, 4))
    assert "rule add from 100.67.0.2 lookup 102 pref 102" in lines["edge"]
    assert "-6 rule add from 2001:db8:ff67::1 lookup 101 pref 101" in lines["edge"]
    assert "route add local 198.18.0.0/15 dev lo" in lines["inet"]
    assert "addr add 100.67.0.1/32 dev lo" in lines["ctl"]


def test_impairment_rules_most_specific_first() -> None:
    entries = [
        Impairment(loss_pct=1.5),
        Impairment("198.18.4.0/24", delay_ms=30),
        Impairment("2001:db8:1004::/48", blackhole=True),
    ]
    nft = impair.nft_ruleset(entries)
    assert nft.index("198.18.4.0/24") < nft.index("198.18.0.0/15")
    assert "numgen random mod 10000 < 150 counter drop" in nft
    assert "ip6 daddr 2001:db8:1004::/48 counter drop" in nft
    v4 = impair.iptables_rules(entries, v6=False)
    assert "-d 198.18.4.0/24 -j NFQUEUE --queue-num 0 --queue-bypass" in v4
    assert "-d 198.18.0.0/15 -j RETURN" in v4
    assert impair.delayer_rules(entries)["rules"][0] == {
        "prefix": "2001:db8:1004::/48",
        "delay_ms": 0.0,
        "jitter_ms": 0.0,
    }


def test_base_delay_queues_every_destination() -> None:
    entries = [Impairment("198.18.4.0/24", loss_pct=5)]
    v4 = impair.iptables_rules(entries, v6=False, base_delay_ms=8)
    assert "-d 198.18.4.0/24 -j NFQUEUE" in v4  # still delayed by the base
    last_rule = v4.strip().splitlines()[-2]
    assert last_rule.endswith("-d 198.18.0.0/15 -j NFQUEUE --queue-num 0 --queue-bypass")
    assert impair.delayer_rules(entries, 8)["base_ms"] == 8
    assert "NFQUEUE" not in impair.iptables_rules(entries, v6=False)


def test_delayer_adds_base_to_prefix_delay(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import ipaddress
    import json

    from routepilot.lab.delayer import Rules

    path = tmp_path / "rules.json"
    table = impair.delayer_rules([Impairment("198.18.4.0/24", delay_ms=30)], base_delay_ms=8)
    path.write_text(json.dumps(table))
    rules = Rules(path)

    def packet(dst: str) -> bytes:
        return b"\x45" + bytes(15) + ipaddress.ip_address(dst).packed  # an IPv4 header

    assert rules.delay_s(packet("198.18.4.9")) == pytest.approx(0.038)
    assert rules.delay_s(packet("198.18.5.9")) == pytest.approx(0.008)


def test_delayer_jitter_spreads_the_delay_around_an_unchanged_median(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``jitter_ms`` adds a uniform ±J per packet: the median stays at the delay (what a
    jitter criterion needs to be tested apart from latency), the spread is the whole ±J."""
    import ipaddress
    import json
    import random

    import numpy as np

    from routepilot.lab.delayer import Rules

    path = tmp_path / "rules.json"
    entries = [
        Impairment("198.18.4.0/24", delay_ms=15, jitter_ms=15),
        Impairment("198.18.5.0/24", delay_ms=15),
    ]
    path.write_text(json.dumps(impair.delayer_rules(entries, base_delay_ms=8)))
    rules = Rules(path)

    def packet(dst: str) -> bytes:
        return b"\x45" + bytes(15) + ipaddress.ip_address(dst).packed

    random.seed(15)
    jittery = np.array([rules.delay_s(packet("198.18.4.9")) * 1000 for _ in range(4000)])
    steady = [rules.delay_s(packet("198.18.5.9")) * 1000 for _ in range(100)]
    assert steady == [pytest.approx(23.0)] * 100
    assert np.median(jittery) == pytest.approx(23.0, abs=0.5)
    assert 8.0 <= jittery.min() < 8.5 and 37.5 < jittery.max() <= 38.0
    # What the prober's jitter reads: the mean difference of consecutive delays, 2J/3.
    assert np.abs(np.diff(jittery)).mean() == pytest.approx(10.0, abs=0.5)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"delay_ms": -1}, "delay must be"),
        ({"loss_pct": 101}, "loss must be"),
        ({"jitter_ms": -0.1}, "jitter must be"),
    ],
)
def test_impairment_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(LabError, match=message):
        Impairment(**kwargs)


def test_prefix_outside_lab_is_refused() -> None:
    with pytest.raises(LabError, match="outside the lab"):
        impair.check_prefix("8.8.8.0/24")
    with pytest.raises(LabError, match="bad prefix"):
        impair.check_prefix("198.18.300.0/24")
    assert impair.check_prefix("198.18.3.7/24") == "198.18.3.0/24"


def test_controller_config_is_valid_and_complete() -> None:
    spec = default_spec(3, 8)
    cfg = controller_config(spec, {"isp1": 3, "isp2": 5, "isp3": 7}, "/tmp/rp.db")
    assert [p.next_hops for p in cfg.providers][1] == ["100.64.2.2", "2001:db8:ff00:2::2"]
    assert cfg.provider("isp3").flow_interfaces[0].ifindex == 7
    assert cfg.provider("isp1").probe.source == "100.67.0.1"
    assert len(cfg.prefixes) == 8 + spec.prefixes_v6


def test_delayer_runs_ahead_of_the_load() -> None:
    """The delayer moves itself to SCHED_FIFO, so a busy machine does not lengthen its delays
    (its module docstring has the measurement); without the privilege it says so and runs."""
    import os
    import subprocess
    import sys

    code = (
        "import os; from routepilot.lab.delayer import prefer_realtime; "
        "print(prefer_realtime(), os.sched_getscheduler(0) == os.SCHED_FIFO)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    may = os.geteuid() == 0
    assert out.stdout.split() == [str(may), str(may)], out
    assert may or "no real-time scheduling" in out.stderr


def test_one_address_is_impaired_as_its_own_slash_32_ahead_of_its_prefix() -> None:
    """Host qualification's lab test makes one address lossy beside siblings that answer."""
    assert impair.check_prefix("198.18.5.10") == "198.18.5.10/32"
    assert impair.check_prefix("2001:db8:1005::10") == "2001:db8:1005::10/128"
    entries = [Impairment("198.18.5.0/24", loss_pct=1), Impairment("198.18.5.10/32", loss_pct=35)]
    nft = impair.nft_ruleset(entries)
    assert "ip daddr 198.18.5.10/32 numgen random mod 10000 < 3500 counter drop" in nft
    assert nft.index("198.18.5.10/32") < nft.index("198.18.5.0/24")


def test_delayer_counts_a_hold_from_the_kernels_arrival_stamp_and_logs_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Time a packet waited in the kernel's queue before the delayer read it is part of
    its delay; the log says, per destination, how long each packet was really held."""
    import ipaddress
    import json
    import time

    from routepilot.lab.delayer import HoldLog, arrival, holds_path

    class Stamped:
        def __init__(self, stamp: float) -> None:
            self.stamp = stamp

        def get_timestamp(self) -> float:
            return self.stamp

    now = time.monotonic()
    assert arrival(Stamped(time.time() - 0.004), now) == pytest.approx(now - 0.004, abs=0.0005)
    assert arrival(Stamped(0.0), now) == now  # no stamp: the time it was read
    assert arrival(Stamped(time.time() + 5), now) == now  # a clock step is not a delay
    assert arrival(Stamped(time.time() - 30), now) == now

    rules = tmp_path / "isp2-impair.json"
    log = HoldLog(rules, realtime=True)
    v4 = b"\x45" + bytes(15) + ipaddress.ip_address("198.18.5.5").packed
    v6 = b"\x60" + bytes(23) + ipaddress.ip_address("2001:db8:1003::5").packed
    log.add(10.0, 10.0203, v4)
    log.add(11.0, 11.0151, v6)
    log.write()
    raw = json.loads(holds_path(rules).read_text())
    assert raw["realtime"] is True
    assert raw["holds"] == [
        ["198.18.5.5", 10.0, pytest.approx(20.3)],
        ["2001:db8:1003::5", 11.0, pytest.approx(15.1)],
    ]
