"""Policy rules and the inject allowlist in decide/: every action, the order, the notes."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from routepilot.config.policy import RuleConfig
from routepilot.decide import PolicyConfig, Reason
from routepilot.decide.policy import RoundPolicy

from .helpers import World

FAST = PolicyConfig(latency_rounds=1, hold_down_s=0, revert_rounds=1)


def rules(*specs: dict, allowlist: tuple[str, ...] = (), excl: dict | None = None) -> RoundPolicy:
    return RoundPolicy.compile([RuleConfig(**s) for s in specs], allowlist, excl)


def world(n: int = 4, policy: PolicyConfig = FAST, **kw) -> World:
    """Prefix i is originated by AS 64600 + i; BGP's default is a (column 0)."""
    kw.setdefault("origin_as", 64600 + np.arange(n))
    return World(n=n, policy=policy, **kw)


def reason(r, i: int) -> str:
    return Reason(int(r.reason[i])).label


# -- matching and order -----------------------------------------------------------------


def test_prefix_rule_beats_origin_rule_longest_prefix_wins_then_list_order() -> None:
    pol = rules(
        {"origin_asn": 64601, "action": "vip"},
        {"prefix": "198.18.0.0/16", "action": "deny", "providers": ["b"]},
        {"prefix": "198.18.1.0/24", "action": "allow", "providers": ["c"]},
        {"prefix": "198.18.1.0/24", "action": "ignore"},
        {"origin_asn": 64602, "action": "ignore"},
        {"origin_asn": 64602, "action": "vip"},
        {"prefix": "198.18.3.0/24", "origin_asn": 1, "action": "ignore"},
    )
    prefixes = ("198.18.0.0/24", "198.18.1.0/24", "198.18.2.0/24", "198.18.3.0/24", "10.0.0.0/24")
    origin = np.array([64600, 64601, 64602, 64603, 64602])
    ev = pol.evaluate(prefixes, ("a", "b", "c"), origin)
    # /16 covers 0, 2 and 3 (3's own rule needs AS1); /24 allow beats /16 and ignore (list
    # order); 10.0.0.0/24 has no prefix rule: the first origin rule for AS64602 (ignore).
    assert ev.rule.tolist() == [1, 2, 1, 1, 4]
    assert ev.allowed.tolist() == [
        [True, False, True],
        [False, False, True],
        [True, False, True],
        [True, False, True],
        [False, False, False],
    ]
    assert ev.hands_off.tolist() == [False, False, False, False, True]
    assert pol.constraint(ev, 1)["text"] == "rule rules[2] (prefix 198.18.1.0/24: allow c)"


def test_origin_rule_matches_only_where_no_prefix_rule_does() -> None:
    pol = rules(
        {"prefix": "198.18.0.0/24", "action": "allow", "providers": ["a", "b"]},
        {"origin_asn": 64600, "action": "deny", "providers": ["a"]},
    )
    ev = pol.evaluate(("198.18.0.0/24", "198.19.0.0/24"), ("a", "b"), np.array([64600, 64600]))
    assert ev.rule.tolist() == [0, 1]


def test_a_rule_needs_a_match_and_its_action_fields() -> None:
    with pytest.raises(ValidationError, match="prefix, an origin_asn"):
        RuleConfig(action="vip")
    with pytest.raises(ValidationError, match="needs a list of providers"):
        RuleConfig(prefix="198.18.0.0/24", action="deny")
    with pytest.raises(ValidationError, match="needs a provider"):
        RuleConfig(prefix="198.18.0.0/24", action="static")
    with pytest.raises(ValidationError, match="only for action static"):
        RuleConfig(prefix="198.18.0.0/24", action="vip", provider="a")


# -- allowlist ----------------------------------------------------------------------------


def test_only_prefixes_inside_the_allowlist_move() -> None:
    w = world(rules=rules(allowlist=("198.18.0.0/23",)))
    w.rtt[:] = [80.0, 20.0, 80.0]
    r = w.step()
    assert [w.exit(r, i) for i in range(4)] == ["b", "b", "a", "a"]
    assert reason(r, 2) == "policy" and reason(r, 0) == "latency"
    assert r.constraint(w.prefixes[0]) == {"allowlist": "198.18.0.0/23", "inside_allowlist": True}
    assert r.constraint(w.prefixes[2])["text"] == "outside the inject allowlist: left to BGP"


def test_a_prefix_that_leaves_the_allowlist_is_withdrawn_at_the_next_round() -> None:
    pol = PolicyConfig(latency_rounds=1, max_changes_per_minute=0)  # no budget at all
    w = world(policy=FAST)
    w.rtt[:] = [80.0, 20.0, 80.0]
    r = w.step()
    assert len(r.injections) == 4
    w.policy = pol
    r = w.step(rules=rules(allowlist=("198.18.0.0/23",)))
    # The change budget is spent, yet what left the allowlist goes: it is not deferred.
    assert sorted(r.injections) == list(w.prefixes[:2])
    assert reason(r, 2) == "policy" and reason(r, 3) == "policy"


def test_ignore_rule_withdraws_and_leaves_to_bgp() -> None:
    w = world()
    w.rtt[:] = [80.0, 20.0, 80.0]
    w.step()
    r = w.step(rules=rules({"origin_asn": 64601, "action": "ignore"}))
    assert w.exit(r, 1) == "a" and reason(r, 1) == "policy"
    assert w.exit(r, 0) == "b"


# -- allow and deny -----------------------------------------------------------------------


def test_deny_keeps_a_prefix_off_the_fastest_provider() -> None:
    w = world(rules=rules({"origin_asn": 64600, "action": "deny", "providers": ["b"]}))
    w.rtt[:] = [80.0, 10.0, 40.0]
    r = w.step()
    assert w.exit(r, 0) == "c" and w.exit(r, 1) == "b"


def test_allow_limits_the_targets() -> None:
    w = world(rules=rules({"prefix": "198.18.0.0/24", "action": "allow", "providers": ["a", "c"]}))
    w.rtt[:] = [80.0, 10.0, 40.0]
    r = w.step()
    assert w.exit(r, 0) == "c"


def test_a_denied_default_is_left_for_the_best_allowed_provider() -> None:
    w = world(rules=rules({"origin_asn": 64600, "action": "deny", "providers": ["a"]}))
    w.rtt[:] = [10.0, 30.0, 20.0]
    r = w.step()
    assert w.exit(r, 0) == "c" and reason(r, 0) == "policy"
    assert w.exit(r, 1) == "a"
    # The rule goes: the detour comes home.
    r = w.step(rules=RoundPolicy())
    assert w.exit(r, 0) == "a" and reason(r, 0) == "revert"


def test_a_denied_default_with_no_allowed_alternative_stays_and_says_why() -> None:
    w = world(rules=rules({"origin_asn": 64600, "action": "allow", "providers": ["a"]}))
    w.rtt[:] = [10.0, 30.0, 20.0]
    w.has_route[0] = [True, True, False]
    r = w.step(rules=rules({"origin_asn": 64600, "action": "deny", "providers": ["a", "b"]}))
    assert w.exit(r, 0) == "a"
    assert "no allowed provider is usable" in r.constraint(w.prefixes[0])["note"]


def test_an_injection_on_a_newly_denied_provider_moves_even_in_hold_down() -> None:
    pol = PolicyConfig(latency_rounds=1, hold_down_s=300)
    w = world(policy=pol)
    w.rtt[:] = [80.0, 10.0, 40.0]
    r = w.step()
    assert w.exit(r, 0) == "b"
    r = w.step(rules=rules({"origin_asn": 64600, "action": "deny", "providers": ["b"]}))
    assert w.exit(r, 0) == "c" and reason(r, 0) == "policy"


def test_operator_pins_do_not_override_a_deny() -> None:
    w = world(rules=rules({"origin_asn": 64600, "action": "deny", "providers": ["b"]}))
    r = w.step(pins={w.prefixes[0]: "b", w.prefixes[1]: "b"})
    assert w.exit(r, 0) == "a" and w.exit(r, 1) == "b"


# -- static -------------------------------------------------------------------------------


def static(**kw) -> RoundPolicy:
    return rules({"prefix": "198.18.0.0/24", "action": "static", "provider": "c", **kw})


def test_static_holds_within_its_ceilings_and_falls_back_when_the_path_degrades() -> None:
    w = world(rules=static(max_loss_pct=5, max_rtt_ms=60))
    r = w.step()
    assert w.exit(r, 0) == "c" and reason(r, 0) == "static"
    assert r.constraint(w.prefixes[0])["rule"] == "rules[0]"
    w.rtt[0, 2] = 90.0  # over max_rtt_ms
    r = w.step()
    assert w.exit(r, 0) == "a" and reason(r, 0) == "revert"
    assert "rtt 90.0 ms above max_rtt_ms 60" in r.constraint(w.prefixes[0])["note"]
    w.rtt[0, 2] = 50.0
    r = w.step()
    assert w.exit(r, 0) == "c"
    w.loss[0, 2] = 0.1  # over max_loss_pct
    r = w.step()
    assert w.exit(r, 0) == "a"
    assert "loss 10.0% above max_loss_pct 5.0%" in r.constraint(w.prefixes[0])["note"]


def test_static_is_not_held_when_lossier_than_the_default() -> None:
    w = world(rules=static(max_loss_pct=20))
    w.loss[0, 2] = 0.1  # within the ceiling, but the default loses nothing
    r = w.step()
    assert w.exit(r, 0) == "a"
    assert "significantly above the default a's 0.0%" in r.constraint(w.prefixes[0])["note"]


def test_one_lost_probe_does_not_drop_a_static_pin() -> None:
    w = world(rules=static())
    w.loss[0, 2] = 0.01  # 1 of 100: not lossier than the default by the loss threshold
    r = w.step()
    assert w.exit(r, 0) == "c" and reason(r, 0) == "static"


def test_a_static_rule_that_goes_lets_the_prefix_go_home() -> None:
    w = world(rules=static())
    w.step()
    r = w.step(rules=RoundPolicy())
    assert w.exit(r, 0) == "a" and reason(r, 0) == "revert"


# -- target exclusions, VIP, weights -------------------------------------------------------


def test_a_provider_excluded_for_capacity_is_never_a_capacity_destination() -> None:
    from .helpers import providers

    w = world(
        n=4,
        policy=PolicyConfig(hold_down_s=0),
        provs=providers(a=10.0, b=100.0, c=100.0),
        rules=rules(excl={"b": ["capacity"]}),
    )
    w.bps = np.full(4, 4e6)  # 16 Mbps on a 10 Mbps link
    w.rtt[:] = [50.0, 40.0, 60.0]  # b would be the cheapest detour
    r = w.step()
    detoured = [w.exit(r, i) for i in range(4) if Reason(int(r.reason[i])) is Reason.CAPACITY]
    assert detoured and set(detoured) == {"c"}


def test_vip_moves_go_first_when_the_change_rate_binds() -> None:
    pol = PolicyConfig(latency_rounds=1, max_changes_per_minute=1)
    w = world(policy=pol, rules=rules({"origin_asn": 64603, "action": "vip"}))
    w.rtt[:] = [80.0, 20.0, 80.0]
    w.bps = np.array([4e6, 3e6, 2e6, 1e6])
    r = w.step()
    assert r.changed().tolist() == [3]


def test_weight_is_gain_times_traffic_within_a_reason() -> None:
    pol = PolicyConfig(latency_rounds=1, max_changes_per_minute=1)
    w = world(policy=pol)
    w.rtt[:] = [60.0, 40.0, 80.0]  # 20 ms gain
    w.rtt[1] = [200.0, 20.0, 200.0]  # 180 ms gain on a quieter prefix
    w.bps = np.array([4e6, 1e6, 0.5e6, 0.5e6])
    r = w.step()
    assert r.changed().tolist() == [1]


def test_vip_prefix_without_traffic_is_decided() -> None:
    w = world(rules=rules({"origin_asn": 64600, "action": "vip"}))
    w.bps = np.array([0.0, 1e6, 1e6, 1e6])
    w.rtt[0] = [80.0, 20.0, 80.0]
    r = w.step()
    assert w.exit(r, 0) == "b" and r.traffic_bps[0] == 0


def test_vip_prefixes_of_a_routes_table() -> None:
    pol = rules(
        {"origin_asn": 64601, "action": "vip"}, {"prefix": "198.18.8.0/22", "action": "vip"}
    )
    prefixes = ("198.18.0.0/24", "198.18.1.0/24", "198.18.9.0/24", "198.18.12.0/24")
    got = pol.vip_prefixes(prefixes, np.array([64600, 64601, 64602, 64601]))
    assert got == ["198.18.1.0/24", "198.18.9.0/24", "198.18.12.0/24"]
