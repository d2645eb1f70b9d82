"""Correlation names the AS, the provider or the prefix, as an engineer would read the paths.

The shape of the transit lab: isp1 (AS65001) buys from t1 (AS64501), isp2 (AS65002) from t1
for even prefixes and t2 (AS64502) for odd ones, isp3 (AS65003) from t2.
"""

from __future__ import annotations

import math
from dataclasses import replace

from routepilot.config.diagnose import DiagnoseConfig
from routepilot.diagnose.correlate import AS, PREFIX, PROVIDER, PathState, correlate
from routepilot.diagnose.incidents import IncidentBook
from routepilot.diagnose.paths import hop_asn, path_states
from routepilot.probe.snapshot import MeasurementSnapshot

ASNS = {"isp1": 65001, "isp2": 65002, "isp3": 65003}
T1, T2 = 64501, 64502
PREFIXES = [f"198.18.{k}.0/24" for k in range(8)]


def transit(provider: str, k: int) -> int:
    if provider == "isp1":
        return T1
    if provider == "isp3":
        return T2
    return T1 if k % 2 == 0 else T2


def paths(
    bad: callable, setting_in: callable = lambda p, t, k: False, bad_loss: float = 0.1
) -> list[PathState]:
    """Every prefix through every provider; ``bad(provider, transit, k)`` says which lose
    ``bad_loss`` (over the 5 % threshold), ``setting_in`` which lose 4 % so far (a window
    filling)."""
    out = []
    for k, prefix in enumerate(PREFIXES):
        for provider, asn in ASNS.items():
            t = transit(provider, k)
            degraded = bad(provider, t, k)
            loss = bad_loss if degraded else 0.04 if setting_in(provider, t, k) else 0.0
            out.append(
                PathState(prefix, provider, degraded, loss, 10.0, (asn, t, 64600 + k),
                          loss / 0.05)
            )  # fmt: skip
    return out


def test_loss_in_a_transit_names_that_transit_and_every_prefix_crossing_it() -> None:
    found = correlate(paths(lambda p, t, k: t == T1), ASNS, 3)
    assert [(f.kind, f.asn) for f in found] == [(AS, T1)]
    assert list(found[0].prefixes) == PREFIXES  # isp1 crosses t1 for every prefix
    # The evidence: the degraded paths, each crossing t1; none through isp3.
    assert {e.provider for e in found[0].evidence} == {"isp1", "isp2"}
    assert all(T1 in e.asns for e in found[0].evidence)


def test_loss_on_one_provider_names_the_provider_not_a_transit_it_crosses() -> None:
    found = correlate(paths(lambda p, t, k: p == "isp1"), ASNS, 3)
    assert [(f.kind, f.provider) for f in found] == [(PROVIDER, "isp1")]
    assert list(found[0].prefixes) == PREFIXES


def test_while_a_transit_loss_sets_in_the_provider_crossing_it_everywhere_is_not_named() -> None:
    """isp1's paths (all through t1) are just over the threshold (6 %); isp2's through t1
    are at 4 % and rising. Path by path, "isp1 alone" fits every prefix; taken together,
    isp2's paths through t1 are nearly as sick: t1 is the cause."""
    found = correlate(
        paths(lambda p, t, k: p == "isp1", lambda p, t, k: t == T1, bad_loss=0.06), ASNS, 3
    )
    assert [(f.kind, f.asn) for f in found] == [(AS, T1)]
    assert list(found[0].prefixes) == PREFIXES
    # The evidence: every path through t1, isp2's with their loss so far.
    assert {(e.provider, e.loss) for e in found[0].evidence} == {("isp1", 0.06), ("isp2", 0.04)}


def test_a_provider_is_named_when_the_others_through_its_transit_are_far_less_sick() -> None:
    """isp1 loses 20 % everywhere; isp2's paths through t1 lose a steady 3 % (under the
    threshold, and a seventh of isp1's): isp1's own trouble, not t1's."""
    ps = [
        replace(p, loss=0.03, severity=0.6) if p.provider == "isp2" and T1 in p.asns else p
        for p in paths(lambda p, t, k: p == "isp1", bad_loss=0.2)
    ]
    found = correlate(ps, ASNS, 3)
    assert [(f.kind, f.provider) for f in found] == [(PROVIDER, "isp1")]


def test_a_provider_left_over_by_a_transit_named_this_round_is_that_transit() -> None:
    """t1 loses everywhere, but isp1's paths toward three even prefixes read clean this
    round (few probes, or a window still filling): path by path those three read "isp2
    alone". All isp2's degraded paths there cross t1, named this round: one finding, t1's."""
    found = correlate(
        paths(lambda p, t, k: t == T1 and not (p == "isp1" and k in (0, 2, 4))), ASNS, 3
    )
    assert [(f.kind, f.asn) for f in found] == [(AS, T1)]
    assert list(found[0].prefixes) == PREFIXES


def test_an_open_transit_incident_takes_a_provider_whose_paths_all_cross_it() -> None:
    book = IncidentBook(open_rounds=2, close_after_s=30.0)
    sick = correlate(paths(lambda p, t, k: t == T1), ASNS, 3)
    book.round(0.0, sick, {})
    assert [i.asn for i in book.round(2.0, sick, {}).opened] == [T1]
    # Later rounds read isp2 alone on the even prefixes (through t1): t1's incident's.
    isp2 = correlate(paths(lambda p, t, k: p == "isp2" and t == T1), ASNS, 3)
    assert [(f.kind, f.provider) for f in isp2] == [(PROVIDER, "isp2")]
    assert [book.round(now, isp2, {}).opened for now in (4.0, 6.0, 8.0)] == [[], [], []]
    # isp3 alone (its paths avoid t1) is an incident of its own.
    isp3 = correlate(paths(lambda p, t, k: p == "isp3"), ASNS, 3)
    book.round(10.0, isp3, {})
    assert [(i.kind, i.provider) for i in book.round(12.0, isp3, {}).opened] == [(PROVIDER, "isp3")]


def test_one_noisy_prefix_never_opens_an_as_incident() -> None:
    found = correlate(paths(lambda p, t, k: t == T1 and k == 2), ASNS, 3)
    assert [(f.kind, f.prefixes) for f in found] == [(PREFIX, ("198.18.2.0/24",))]


def test_below_the_minimum_a_transit_is_not_named() -> None:
    two = correlate(paths(lambda p, t, k: t == T2 and k in (1, 3)), ASNS, 3)
    assert {f.kind for f in two} == {PREFIX}
    three = correlate(paths(lambda p, t, k: t == T2 and k in (1, 3, 5)), ASNS, 3)
    assert [(f.kind, f.asn) for f in three] == [(AS, T2)]


def test_an_origin_as_sick_on_every_provider_is_the_cause() -> None:
    ps = [
        PathState(x, p, True, 0.2, 10.0, (a, 64999)) for x in PREFIXES[:4] for p, a in ASNS.items()
    ]
    found = correlate(ps, ASNS, 3)
    assert [(f.kind, f.asn) for f in found] == [(AS, 64999)]


def test_incidents_open_after_agreeing_rounds_and_close_after_quiet() -> None:
    book = IncidentBook(open_rounds=2, close_after_s=30.0)
    sick = correlate(paths(lambda p, t, k: t == T1), ASNS, 3)
    assert not book.round(0.0, sick, {}).opened  # one round is not enough
    opened = book.round(5.0, sick, {}).opened
    assert [(i.kind, i.asn, i.opened) for i in opened] == [(AS, T1, 5.0)]
    # While the AS incident is open, a lone prefix it explains is not an incident of its own.
    lone = correlate(paths(lambda p, t, k: t == T1 and k == 0), ASNS, 3)
    assert book.round(10.0, lone, {}).opened == []
    assert book.round(15.0, lone, {}).opened == []
    assert book.round(20.0, [], {}).closed == []
    closed = book.round(40.0, [], {}).closed
    assert [(i.id, i.closed) for i in closed] == [(opened[0].id, 40.0)]
    assert not book.open


def test_a_hop_maps_to_the_origin_of_the_longest_learned_route() -> None:
    routes = {
        ("100.92.101.0/24", "isp1"): (65001, 64501),
        ("100.92.0.0/16", "isp1"): (65001, 9),
        ("2001:db8:92::/48", "isp1"): (65001, 64501),
    }

    def learned(prefix: str, provider: str):
        import ipaddress

        net = ipaddress.ip_network(prefix, strict=False)
        for length in range(net.prefixlen, -1, -1):
            path = routes.get((str(net.supernet(new_prefix=length)), provider))
            if path:
                return path
        return None

    assert hop_asn(learned, ["isp2", "isp1"], "100.92.101.1") == 64501
    assert hop_asn(learned, ["isp1"], "100.92.7.1") == 9
    assert hop_asn(learned, ["isp1"], "100.66.1.1") is None
    assert hop_asn(learned, ["isp1"], "not an address") is None
    assert hop_asn(learned, ["isp1"], "2001:db8:92::1") == 64501  # an IPv6 hop alike
    assert hop_asn(learned, ["isp1"], "2001:db8:93::1") is None


def test_path_states_judge_loss_rtt_and_samples() -> None:
    import numpy as np

    cfg = DiagnoseConfig(loss=0.05, rtt_excess_ms=50.0, min_samples=8)
    n = math.nan
    loss = np.array([[0.0, 0.10, 0.0], [0.0, 0.0, 0.5]])
    rtt = np.array([[10.0, 12.0, 70.0], [10.0, 11.0, n]])
    samples = np.array([[20, 20, 20], [20, 20, 3]])
    meas = MeasurementSnapshot(
        0.0, tuple(PREFIXES[:2]), ("isp1", "isp2", "isp3"), rtt, rtt, rtt, rtt * 0, loss,
        loss, loss, samples, np.zeros((2, 3), dtype=int), rtt,
    )  # fmt: skip
    states = path_states(cfg, meas, None, lambda x, p: (ASNS[p], 64600), {})
    judged = {(s.prefix, s.provider): (s.degraded, round(s.severity, 2)) for s in states}
    assert judged == {
        (PREFIXES[0], "isp1"): (False, 0.0),
        (PREFIXES[0], "isp2"): (True, 2.0),  # loss 10 %: twice the threshold
        (PREFIXES[0], "isp3"): (True, 1.2),  # 60 ms over the best, for 50
        (PREFIXES[1], "isp1"): (False, 0.0),
        (PREFIXES[1], "isp2"): (False, 0.02),  # 1 ms over the best
        # isp3 toward the second prefix: 3 samples, not judged at all.
    }


def test_with_routes_known_a_path_without_a_route_is_not_judged() -> None:
    """A destination routed by no provider (a router's link address seen in flows) has no
    AS path to correlate: it is left out, never a prefix incident for ever."""
    import numpy as np

    from routepilot.rib.snapshot import RoutesSnapshot

    cfg = DiagnoseConfig()
    names = ("isp1", "isp2")
    loss = np.array([[0.3, 0.3], [0.3, 0.0]])
    rtt = np.full((2, 2), 1.0)
    meas = MeasurementSnapshot(
        0.0, ("100.64.2.0/24", PREFIXES[0]), names, rtt, rtt, rtt, rtt * 0, loss, loss, loss,
        np.full((2, 2), 40), np.zeros((2, 2), dtype=int), rtt,
    )  # fmt: skip
    routes = RoutesSnapshot(0.0, (PREFIXES[0],), names, np.ones((1, 2), dtype=bool),
                            np.ones((1, 2), dtype=int), np.zeros(1, dtype=int))  # fmt: skip

    def learned(prefix: str, provider: str):
        return (ASNS[provider], 64600) if prefix == PREFIXES[0] else None

    states = path_states(cfg, meas, routes, learned, {})
    assert {(s.prefix, s.provider, s.degraded) for s in states} == {
        (PREFIXES[0], "isp1", True),
        (PREFIXES[0], "isp2", False),
    }


def test_a_provider_with_two_paths_toward_a_prefix_is_judged_on_both() -> None:
    """As above (isp1 at 6 % through t1, isp2's paths through t1 at 4 % and rising), but
    toward the even prefixes isp1 also has a clean path through t2, from a second router,
    listed first. Its path through t1 toward them still counts beside isp2's through t1:
    t1 is the cause, not isp1."""
    ps = []
    for p in paths(lambda p, t, k: p == "isp1", lambda p, t, k: t == T1, bad_loss=0.06):
        k = PREFIXES.index(p.prefix)
        if p.provider == "isp1" and k % 2 == 0:
            ps.append(PathState(p.prefix, "isp1", False, 0.0, 10.0, (65001, T2, 64600 + k), 0.0))
        ps.append(p)
    found = correlate(ps, ASNS, 3)
    assert [(f.kind, f.asn) for f in found] == [(AS, T1)]
    assert list(found[0].prefixes) == PREFIXES
