"""The engine sends each run of probes through one socket with one sendmmsg (the channel's
``send_run``), on loopback (root: raw sockets): every probe the kernel takes is in flight
under its own token with its own transmit stamp and answered once to its tag, a run ends
where the socket changes, a refusal is counted and the rest still go, a target that is no
address still raises."""

from __future__ import annotations

import socket

import pytest
from tests.fixtures.netns import wait_for

from routepilot.probe import wire
from routepilot.probe.engine import KernelTransport, Probe, ProbeEngine
from routepilot.probe.sockets import SocketOptions, Steering


def _new_engine() -> ProbeEngine:
    return ProbeEngine(KernelTransport(SocketOptions()), [("lo", Steering())], 2.0)


@pytest.fixture
def engine():
    # The kernel turns receive stamping on for everyone a moment after the first socket asks
    # (a deferred static key): until then answers arrive unstamped and the engine times them
    # by its own clock (counted as user-stamp fallbacks). An engine kept open through the
    # test asks first; wait until its answers come stamped.
    warm = _new_engine()

    def stamped() -> bool:
        before, got = warm.metrics.user_stamp_fallbacks, []
        warm.send_many([(0, "icmp", "127.0.0.1", None)], lambda *a: got.append(a))

        def answered() -> bool:
            warm.drain_all()
            return bool(got)

        wait_for(answered, 5.0, "a warm-up probe answered")
        return warm.metrics.user_stamp_fallbacks == before

    eng = _new_engine()
    try:
        wait_for(stamped, 10.0, "kernel receive stamps")
        yield eng
    finally:
        eng.close()
        warm.close()


def test_runs_through_one_socket_go_in_one_call_each_probe_in_flight_and_answered(engine):
    v4 = [f"127.0.{i // 200}.{i % 200 + 1}" for i in range(150)]
    # Runs of IPv4 and IPv6 interleaved (a run ends where the socket changes), one probe
    # the kernel refuses (broadcast without SO_BROADCAST) in the middle of a run.
    targets = v4[:70] + ["::1", "::1"] + v4[70:100] + ["255.255.255.255"] + v4[100:] + ["::1"]
    probes = [(0, "icmp", t, ("tag", i)) for i, t in enumerate(targets)]
    results: dict[object, list] = {}

    def done(probe: Probe, status: int, rtt_ns: int, responder: str, ttl: int) -> None:
        results.setdefault(probe.tag, []).append((probe.target, status, rtt_ns, responder))

    for fam in (socket.AF_INET, socket.AF_INET6):
        engine.socket_for(0, "icmp", fam)
    assert all(s.send_run is not None for s in engine._sockets.values())
    sent = engine.send_many(probes, done)
    assert sent == len(targets) - 1
    assert engine.metrics.send_errors["lo", "icmp"] == 1
    assert engine.metrics.sent["lo", "icmp"] == sent
    # In flight: one token each, in the deadline queue in the order sent.
    assert len(engine.inflight) == sent == len({p.token for p in engine.inflight.values()})
    queued = list(engine._deadlines)
    assert [p.tag for p in queued] == [tag for _, _, t, tag in probes if t != "255.255.255.255"]
    assert [p.tx_user for p in queued] == sorted(p.tx_user for p in queued)

    def answered() -> bool:
        engine.drain_all()
        return len(results) == sent

    wait_for(answered, 10.0, "every probe answered")
    for _, _, target, tag in probes:
        if target == "255.255.255.255":
            assert tag not in results
            continue
        [(got, status, rtt_ns, responder)] = results[tag]
        assert (got, status, responder) == (target, wire.REPLY, target)
        assert 0 < rtt_ns < 2_000_000_000
    # Each probe's transmit stamp was the kernel's: the channel's ring followed sendmmsg.
    assert engine.metrics.tx_kernel_stamps == sent
    assert engine.metrics.user_stamp_fallbacks == 0
    assert engine.metrics.total("unmatched") == 0


def test_a_target_that_is_no_address_still_raises_and_what_went_before_is_in_flight(engine):
    engine.socket_for(0, "icmp", socket.AF_INET)
    probes = [(0, "icmp", "127.0.0.1", "a"), (0, "icmp", "127.0.0.300", "b")]
    with pytest.raises(ValueError, match="not an address"):
        engine.send_many(probes, lambda *a: None)
    assert [p.tag for p in engine.inflight.values()] == ["a"]
