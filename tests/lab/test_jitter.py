"""Jitter as a decision criterion in the lab (issue 15): a voice prefix, governed by a rule
with ``jitter_threshold_ms``, leaves a provider whose path jitters by ±15 ms around the
same median as the others; its unruled neighbour, impaired the same way, stays. Real
BIRD, real ExaBGP, real probes through the lab's delayer (uniform jitter per packet)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from routepilot.lab.spec import LabSpec
from tests.lab.looplab import FAST_EXPORT, LoopLab, three_providers

SPEC = {
    "name": "rplabj",
    "providers": three_providers(),
    "prefixes": 16,
    "export": FAST_EXPORT,  # the traffic's first records come sooner
}
DELAY_MS = 15.0
JITTER_MS = 15.0  # uniform ±15 ms around the delay: the median stays at the delay
THRESHOLD_MS = 5.0  # the prober reads about 2/3 of 15 = 10 ms on the jittery path
LATENCY_THRESHOLD_MS = 10.0  # the policy's default


def k_of(prefix: str) -> int:
    return int(prefix.split(".")[2])


class Roles:
    """The voice prefix and its neighbour: two busy prefixes with the same BGP default."""

    def __init__(self, loop: LoopLab) -> None:
        busy = loop.busiest(16)
        self.voice = busy[0]
        self.default = loop.spec.bgp_best(k_of(self.voice))
        self.neighbour = next(p for p in busy[1:] if loop.spec.bgp_best(k_of(p)) == self.default)
        self.others = [p.name for p in loop.spec.providers if p.name != self.default]


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopLab]:
    tmp = tmp_path_factory.mktemp("jitter")
    ll = LoopLab(LabSpec.model_validate(SPEC), tmp, policy__hold_down_s=10.0)
    roles = Roles(ll)  # from the spec and the traffic shares alone
    ll.roles = roles  # type: ignore[attr-defined]
    ll.overrides.update(
        policy__rules=[
            {"name": "voice", "prefix": roles.voice, "action": "vip",
             "jitter_threshold_ms": THRESHOLD_MS},
        ],
    )  # fmt: skip
    with ll.running(v6=False):
        yield ll


def test_voice_prefix_leaves_the_jittery_provider_and_its_neighbour_stays(loop: LoopLab) -> None:
    r = loop.roles  # type: ignore[attr-defined]
    pair = [r.voice, r.neighbour]
    # The same delay on every provider, and on BGP's default a uniform ±15 ms around it.
    for name in r.others:
        loop.lab.impair(name, pair, delay_ms=DELAY_MS)
    loop.lab.impair(r.default, pair, delay_ms=DELAY_MS, jitter_ms=JITTER_MS)
    loop.wait(
        lambda: loop.exit_of(r.voice) in r.others, 60, "the jitter move",
        diag=lambda: loop.detail(r.voice),
    )  # fmt: skip
    detail = loop.api(f"/prefixes/{r.voice}")
    assert detail["reason"] == "jitter", loop.detail(r.voice)
    by = {m["provider"]: m for m in detail["measurements"]}
    new = detail["exit"]
    # What an engineer checks: the medians are about the same, the jitter is not.
    assert abs(by[r.default]["rtt_ms"] - by[new]["rtt_ms"]) < LATENCY_THRESHOLD_MS / 2, by
    assert by[r.default]["jitter_ms"] - by[new]["jitter_ms"] >= THRESHOLD_MS, by
    told = detail["explanation"]["summary"]
    # Read in the round that moved it, or in a later one that holds it there.
    assert told.startswith(
        (f"moved off {r.default}: its jitter was", f"held on {new}, where a jitter move took it")
    ), told
    assert new in told and r.default in told, told
    assert re.search(r"jitter (was )?[\d.]+ ms against", told), told
    assert "jitter threshold 5 ms" in detail["policy"]["text"], detail["policy"]
    assert loop.api(f"/decisions?prefix={r.voice}")[0]["reason"] == "jitter"
    # The neighbour, impaired the same way but under no rule, stays with BGP's default.
    loop.rounds_later(5)
    assert loop.exit_of(r.neighbour) == r.default, loop.detail(r.neighbour)
    n = loop.api(f"/prefixes/{r.neighbour}")
    assert n["reason"] == "default" and n["policy"] is None, loop.detail(r.neighbour)
    jit = {m["provider"]: m["jitter_ms"] for m in n["measurements"]}
    assert jit[r.default] - jit[new] >= THRESHOLD_MS, jit  # it was measured as jittery


def test_voice_prefix_returns_once_the_jitter_is_gone(loop: LoopLab) -> None:
    r = loop.roles  # type: ignore[attr-defined]
    assert loop.exit_of(r.voice) in r.others  # moved by the test before
    loop.lab.impair(r.default, [r.voice, r.neighbour], delay_ms=DELAY_MS)
    # Back after the hold-down (10 s) and revert_rounds (6) rounds without the advantage.
    loop.wait(
        lambda: loop.exit_of(r.voice) == r.default, 90, "the return to BGP's default",
        diag=lambda: loop.detail(r.voice),
    )  # fmt: skip
    assert loop.api(f"/decisions?prefix={r.voice}")[0]["reason"] == "revert"
