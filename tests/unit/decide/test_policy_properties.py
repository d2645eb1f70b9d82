"""Properties of the policy over random worlds, rules and allowlists (hypothesis).

Whatever the rules, the allowlist, the state carried between rounds and the limits:
no injection ever goes to a provider without a route, outside the allowlist, to a
provider a rule denies or does not allow, or for a prefix a rule leaves to BGP.
"""

from __future__ import annotations

import ipaddress

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from routepilot.config.policy import RuleConfig
from routepilot.decide import DecisionState, PolicyConfig, decide
from routepilot.decide.policy import RoundPolicy
from routepilot.decide.scenario import Provider, make_input, prefixes_v4

NAMES = ("a", "b", "c", "d")
ASNS = (64600, 64601, 64602)


@st.composite
def rule_specs(draw):
    by = draw(st.sampled_from(["prefix", "asn", "both"]))
    spec: dict = {}
    if by in ("prefix", "both"):
        length = draw(st.sampled_from([20, 22, 23, 24]))
        third = draw(st.integers(0, 15))
        net = ipaddress.ip_network(f"198.18.{third}.0/{length}", strict=False)
        spec["prefix"] = str(net)
    if by in ("asn", "both"):
        spec["origin_asn"] = draw(st.sampled_from(ASNS))
    action = draw(st.sampled_from(["ignore", "allow", "deny", "static", "vip"]))
    spec["action"] = action
    if action in ("allow", "deny"):
        spec["providers"] = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=3))
    if action == "static":
        spec["provider"] = draw(st.sampled_from(NAMES))
        spec["max_loss_pct"] = draw(st.sampled_from([0.0, 5.0, 50.0]))
        spec["max_rtt_ms"] = draw(st.sampled_from([None, 50.0, 150.0]))
    return spec


@st.composite
def policies(draw):
    specs = draw(st.lists(rule_specs(), max_size=5))
    allow = draw(
        st.lists(st.sampled_from(["198.18.0.0/21", "198.18.4.0/22", "198.18.9.0/24"]), max_size=2)
    )
    excl = draw(
        st.dictionaries(
            st.sampled_from(NAMES),
            st.lists(st.sampled_from(["outage", "loss", "latency", "capacity", "cost", "policy"])),
            max_size=2,
        )
    )
    return RoundPolicy.compile([RuleConfig(**s) for s in specs], allow, excl), specs


@st.composite
def worlds(draw):
    n = draw(st.integers(1, 12))
    p = len(NAMES)
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    has_route = rng.random((n, p)) < draw(st.floats(0.3, 1.0))
    policy = PolicyConfig(
        latency_rounds=draw(st.integers(1, 2)),
        max_changes_per_minute=draw(st.integers(0, 8)),
        max_improvements=draw(st.integers(0, 8)),
        hold_down_s=draw(st.sampled_from([0.0, 60.0])),
        revert_rounds=1,
        mode=draw(st.sampled_from(["performance", "cost"])),
        allocator="greedy",
    )
    caps = rng.uniform(1, 100, p)
    providers = [
        Provider(nm, capacity_mbps=float(caps[k]), commit_mbps=5.0, cost_per_mbps=float(k))
        for k, nm in enumerate(NAMES)
    ]
    return n, has_route, rng, policy, providers


def _round(n, has_route, rng, now, injections, rules):
    p = len(NAMES)
    return make_input(
        now=now,
        prefixes=prefixes_v4(n),
        providers=NAMES,
        bps=rng.uniform(0, 20e6, n),
        rtt=rng.uniform(5, 200, (n, p)),
        loss=np.where(rng.random((n, p)) < 0.3, rng.uniform(0, 1, (n, p)), 0.0),
        has_route=has_route,
        samples=rng.integers(0, 60, (n, p)),
        consecutive_losses=np.where(rng.random((n, p)) < 0.2, rng.integers(0, 20, (n, p)), 0),
        injections=injections,
        provider_up={nm: bool(rng.random() < 0.9) for nm in NAMES},
        rules=rules,
        origin_as=[ASNS[i % len(ASNS)] for i in range(n)],
    )


def _check(inp, r, rules) -> None:
    up = np.array([inp.routes.provider_up.get(nm, True) for nm in NAMES])
    origin = np.array([ASNS[i % len(ASNS)] for i in range(len(r.prefixes))])
    ev = rules.evaluate(r.prefixes, NAMES, origin)
    for i, prefix in enumerate(r.prefixes):
        k = int(r.exit[i])
        if k < 0 or k == r.default[i]:
            continue  # nothing injected: BGP's own choice
        assert inp.routes.has_route[i, k] and up[k], f"{prefix} to {NAMES[k]} without a route"
        assert ev.inside[i], f"{prefix} injected outside the allowlist {rules.allowlist}"
        assert not ev.hands_off[i], f"{prefix} injected though a rule leaves it to BGP"
        assert ev.allowed[i, k], f"{prefix} injected to {NAMES[k]}, which its rule forbids"
        assert prefix in r.injections and r.injections[prefix] == NAMES[k]


SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(worlds(), policies(), st.integers(1, 4))
def test_no_rule_ever_injects_outside_the_allowlist_or_without_a_route(world, pol, rounds) -> None:
    n, has_route, rng, policy, providers = world
    rules, _ = pol
    state, injections = DecisionState(), None
    # Rounds with the rules and injections left by rounds without them: a configuration
    # change must withdraw what it no longer allows.
    for k in range(rounds):
        current = rules if (rounds - 1 - k) % 2 == 0 else RoundPolicy()  # the last with them
        inp = _round(n, has_route, rng, 10_000.0 + 30 * k, injections, current)
        r = decide(inp, state, policy, providers)
        _check(inp, r, current)
        state, injections = r.state, dict(r.injections)
    event(f"injections under rules: {min(len(injections), 3)}")
