"""The closed loop with FRR as the edge router instead of BIRD (issue 5, scenario 9)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from routepilot.lab.spec import LabSpec
from tests.lab.looplab import FAST_EXPORT, LoopLab, three_providers

SPEC = {
    "name": "rplabk",
    "edge_router": "frr",
    "providers": three_providers(announce="0-7"),
    "prefixes": 16,
    "prefixes_v6": 2,
    "export": FAST_EXPORT,  # the traffic's first records come sooner
}


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopLab]:
    tmp = tmp_path_factory.mktemp("frr")
    with LoopLab(LabSpec.model_validate(SPEC), tmp, policy__hold_down_s=10.0).running() as ll:
        yield ll


def _busy(loop: LoopLab, n: int) -> list[tuple[str, str]]:
    return [(p, loop.spec.bgp_best(int(p.split(".")[2]))) for p in loop.busiest(n)]


def test_latency_outage_and_fail_open_with_frr(loop: LoopLab) -> None:
    (slow, slow_default), (dead, dead_default) = _busy(loop, 2)
    assert loop.exit_of(slow) == slow_default
    loop.lab.impair(slow_default, [slow], delay_ms=40)
    loop.wait(
        lambda: loop.exit_of(slow) not in (slow_default, None),
        30,
        "latency move",
        diag=lambda: loop.detail(slow),
    )
    loop.lab.impair(dead_default, [dead], blackhole=True)
    took = loop.wait(lambda: loop.exit_of(dead) not in (dead_default, None), 3, "outage move", 0.02)
    print(f"frr: outage moved in {took:.2f} s")
    assert loop.injected_routes() >= 2
    pid = loop.lab.controller_pid()
    assert pid
    os.kill(pid, signal.SIGKILL)
    took = loop.wait(
        lambda: loop.exit_of(slow) == slow_default and loop.exit_of(dead) == dead_default,
        5,
        "fail open",
        0.01,
    )
    print(f"frr: fail-open in {took * 1000:.0f} ms")
    assert took < 1.0
