"""Targets: learned in scope only, verified, K kept, dead ones replaced, unprobeable marked."""

from __future__ import annotations

from routepilot.probe.targets import TargetManager


def _pick(tm: TargetManager, prefix: str, now: float) -> list[tuple[str, bool, str]]:
    """``tm.pick()`` as (address, verifying, kind): the target it also names is the active
    one of that address (the prober's result path settles into it), none when verifying."""
    picks = tm.pick(prefix, now)
    for address, verifying, kind, target in picks:
        if verifying:
            assert target is None
        else:
            assert target is not None and (target.address, target.kind) == (address, kind)
            assert target.owner is tm.prefixes[prefix] and target in target.owner.active
    return [c[:3] for c in picks]


def _tm(**kw) -> TargetManager:
    tm = TargetManager(k=2, dead_after=3, **kw)
    tm.set_prefixes(["198.18.1.0/24", "198.18.2.0/24", "2001:db8:1001::/48"])
    return tm


def _verify(
    tm: TargetManager,
    prefix: str,
    answers: dict[str, bool],
    now: float = 0.0,
    provider: int | None = None,
) -> None:
    for _ in range(40):
        picks = _pick(tm, prefix, now)
        if picks and picks[0][1]:
            addr = picks[0][0]
            tm.result(prefix, addr, answers.get(addr, False), True, now, provider=provider)


def test_only_addresses_inside_managed_prefixes_are_learned():
    tm = _tm(allowed_ranges=["198.19.0.0/16"])
    assert tm.observe(["198.18.1.5", "198.18.3.5", "10.1.2.3", "2001:db8:1001::9", "junk"]) == 2
    assert tm.out_of_scope == 3
    assert tm.prefix_of("198.18.1.200") == "198.18.1.0/24"
    assert tm.in_scope("198.19.4.4") and not tm.in_scope("198.20.0.1")


def test_most_seen_candidates_are_verified_first_and_k_kept():
    tm = _tm()
    tm.observe(["198.18.1.5"] + ["198.18.1.6"] * 3 + ["198.18.1.7"] * 2)
    first = _pick(tm, "198.18.1.0/24", 0.0)
    assert first == [("198.18.1.6", True, "icmp")]
    _verify(tm, "198.18.1.0/24", {"198.18.1.5": True, "198.18.1.6": True, "198.18.1.7": True})
    assert tm.active("198.18.1.0/24") == ["198.18.1.6", "198.18.1.7"]
    assert tm.verified == 2
    assert _pick(tm, "198.18.1.0/24", 1.0) == [
        ("198.18.1.6", False, "icmp"),
        ("198.18.1.7", False, "icmp"),
    ]


def test_dead_target_replaced_when_a_sibling_still_answers():
    tm = _tm()
    tm.observe(["198.18.1.5", "198.18.1.6", "198.18.1.7"])
    _verify(tm, "198.18.1.0/24", {a: True for a in ("198.18.1.5", "198.18.1.6", "198.18.1.7")})
    a, b = tm.active("198.18.1.0/24")
    for t in range(1, 4):
        tm.result("198.18.1.0/24", b, True, False, float(t))
        tm.result("198.18.1.0/24", a, False, False, float(t))
    assert a not in tm.active("198.18.1.0/24")
    assert tm.replaced == 1
    _verify(tm, "198.18.1.0/24", {"198.18.1.7": True}, now=5.0)
    assert set(tm.active("198.18.1.0/24")) == {b, "198.18.1.7"}


def test_losses_through_one_provider_only_do_not_kill_a_target():
    tm = _tm()
    tm.observe(["198.18.1.5"])
    _verify(tm, "198.18.1.0/24", {"198.18.1.5": True})
    for t in range(20):
        tm.result("198.18.1.0/24", "198.18.1.5", False, False, float(t))  # blackholed provider
        tm.result("198.18.1.0/24", "198.18.1.5", True, False, float(t))  # healthy provider
    assert tm.active("198.18.1.0/24") == ["198.18.1.5"]


PREFIX = "198.18.1.0/24"
THREE = ["198.18.1.5", "198.18.1.6", "198.18.1.7"]


def _blackholed_exit(seconds: int, silent: str | None = None) -> TargetManager:
    """Three targets verified; the prefix blackholed on its current exit (provider 0, a train
    of three every second) and answering through an alternative (provider 1, a train every
    five seconds), except ``silent``, which answers nowhere."""
    tm = TargetManager(k=3)
    tm.set_prefixes([PREFIX])
    tm.observe(THREE)
    _verify(tm, PREFIX, dict.fromkeys(THREE, True), provider=1)
    assert tm.active(PREFIX) == THREE
    for second in range(seconds):
        now = float(second)
        for a in THREE:
            if second % 5 == 0:
                for _ in range(3):
                    tm.result(PREFIX, a, a != silent, False, now, provider=1, rtt_ms=20.0)
            for _ in range(3):
                tm.result(PREFIX, a, False, False, now + 0.9, provider=0)
    return tm


def test_a_prefix_blackholed_on_its_exit_keeps_every_target():
    """Losses in a row are counted per provider, so no target looks silent, none is
    replaced and the prefix never goes unprobeable, at the default ``dead_after``."""
    tm = _blackholed_exit(120)
    assert tm.active(PREFIX) == THREE
    assert tm.replaced == 0 and PREFIX not in tm.unprobeable()


def test_a_target_silent_through_every_provider_is_replaced_per_provider():
    """The same cadence, but one address stops answering through both providers while its
    siblings answer through the alternative: it is replaced, and only it."""
    tm = _blackholed_exit(60, silent="198.18.1.5")
    assert tm.active(PREFIX) == ["198.18.1.6", "198.18.1.7"]
    assert tm.replaced == 1


def test_a_provider_no_longer_probed_stops_counting_for_its_targets():
    tm = TargetManager(k=2, dead_after=3)
    prefix = "198.18.1.0/24"
    tm.set_prefixes([prefix])
    tm.observe(["198.18.1.5", "198.18.1.6"])
    _verify(tm, prefix, {"198.18.1.5": True, "198.18.1.6": True}, provider=1)
    for a in ("198.18.1.5", "198.18.1.6"):
        tm.result(prefix, a, True, False, 1.0, provider=1, rtt_ms=20.0)
    tm.forget_path(prefix, 1)  # provider 1 no longer announces the prefix
    for t in range(2, 5):
        tm.result(prefix, "198.18.1.6", True, False, float(t), provider=0, rtt_ms=20.0)
        tm.result(prefix, "198.18.1.5", False, False, float(t), provider=0)
    assert tm.active(prefix) == ["198.18.1.6"]


def test_a_candidate_unanswered_through_a_blackholed_exit_is_verified_through_another():
    """After a restart nothing is verified yet; the prefix's exit (provider 0) is blackholed
    and probed most often. A candidate unanswered three times through it is tried through
    the alternative (provider 1) before it is given up, and answers there."""
    tm = TargetManager(k=1)
    prefix = "198.18.1.0/24"
    tm.set_prefixes([prefix])
    tm.add_path(prefix, 0)
    tm.add_path(prefix, 1)
    tm.observe(["198.18.1.5"])
    for second in range(10):
        for provider in (0, 1) if second % 5 == 4 else (0,):
            (addr, verifying, _kind), *_ = _pick(tm, prefix, float(second))
            assert verifying
            tm.result(prefix, addr, provider == 1, True, float(second), provider=provider)
        if tm.active(prefix):
            break
    assert tm.active(prefix) == ["198.18.1.5"] and prefix not in tm.unprobeable()


def test_prefix_where_nothing_answers_is_unprobeable_then_retried():
    tm = TargetManager(k=2, verify_tries=2, retry_s=100.0)
    tm.set_prefixes(["198.18.2.0/24"])
    tm.observe(["198.18.2.9"])
    _verify(tm, "198.18.2.0/24", {})
    assert _pick(tm, "198.18.2.0/24", 1.0) == []
    assert tm.unprobeable() == {"198.18.2.0/24"}
    assert _pick(tm, "198.18.2.0/24", 200.0) == [("198.18.2.9", True, "icmp")]
    tm.result("198.18.2.0/24", "198.18.2.9", True, True, 200.0)
    assert tm.unprobeable() == frozenset()


def test_configured_fallback_targets_are_used_in_their_prefix():
    tm = TargetManager(k=3, fallback=["198.18.1.77", "198.18.9.1"])
    tm.set_prefixes(["198.18.1.0/24"])
    assert _pick(tm, "198.18.1.0/24", 0.0) == [("198.18.1.77", True, "icmp")]


def test_fallback_targets_keep_their_listed_order_and_stay_in_their_prefix():
    listed = ["198.18.1.200", "2001:db8:1001::9", "198.18.1.3", "198.18.2.1", "198.18.1.77"]
    tm = TargetManager(k=3, fallback=listed)
    tm.set_prefixes(["198.18.1.0/24", "198.18.1.64/26", "2001:db8:1001::/48", "198.18.3.0/24"])
    assert tm.prefixes["198.18.1.0/24"].fallback == ["198.18.1.200", "198.18.1.3", "198.18.1.77"]
    assert tm.prefixes["198.18.1.64/26"].fallback == ["198.18.1.77"]
    assert tm.prefixes["2001:db8:1001::/48"].fallback == ["2001:db8:1001::9"]
    assert tm.prefixes["198.18.3.0/24"].fallback == []


def test_host_offsets_only_while_nothing_else_answers():
    tm = TargetManager(k=3, host_offsets=[1])
    tm.set_prefixes(["198.18.5.0/24", "2001:db8:1005::/48"])
    assert _pick(tm, "198.18.5.0/24", 0.0) == [("198.18.5.1", True, "icmp")]
    assert _pick(tm, "2001:db8:1005::/48", 0.0) == [("2001:db8:1005::1", True, "icmp")]
    tm.result("198.18.5.0/24", "198.18.5.1", True, True, 0.0)
    # With one live target, no more guesses: only addresses seen in flows are added.
    for _ in range(8):
        assert all(not c[1] for c in _pick(tm, "198.18.5.0/24", 1.0))
    tm.observe(["198.18.5.77"])
    picks = [_pick(tm, "198.18.5.0/24", 2.0) for _ in range(4)]
    assert [("198.18.5.77", True, "icmp")] in picks


def test_a_candidate_that_drops_icmp_is_verified_with_the_next_kind():
    tm = TargetManager(k=2, verify_tries=2, kinds=("icmp", "tcp"))
    tm.set_prefixes(["198.18.6.0/24"])
    tm.observe(["198.18.6.20"])
    seen = []
    for _ in range(8):
        picks = _pick(tm, "198.18.6.0/24", 0.0)
        addr, verifying, kind = picks[0]
        if not verifying:
            break
        seen.append(kind)
        tm.result("198.18.6.0/24", addr, kind == "tcp", True, 0.0, kind)
    assert seen == ["icmp", "icmp", "tcp"]
    assert _pick(tm, "198.18.6.0/24", 1.0) == [("198.18.6.20", False, "tcp")]


def test_the_prefixes_given_again_keep_their_targets_and_a_changed_set_is_indexed_anew():
    tm = _tm()
    tm.observe(["198.18.1.1"])
    _verify(tm, "198.18.1.0/24", {"198.18.1.1": True})
    kept = tm.prefixes["198.18.1.0/24"]
    assert [t.address for t in kept.active] == ["198.18.1.1"]
    tm.set_prefixes(["198.18.1.0/24", "198.18.2.0/24", "2001:db8:1001::/48"])
    assert tm.prefixes["198.18.1.0/24"] is kept
    assert tm.observe(["198.18.2.7"]) == 1
    # One prefix gone, one new (given with host bits set): addresses map to the new set.
    tm.set_prefixes(["198.18.1.0/24", "198.18.3.1/24", "2001:db8:1001::/48"])
    assert sorted(tm.prefixes) == ["198.18.1.0/24", "198.18.3.0/24", "2001:db8:1001::/48"]
    assert tm.observe(["198.18.2.8"]) == 0
    assert tm.observe(["198.18.3.7"]) == 1
