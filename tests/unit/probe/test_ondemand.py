"""On-demand measurements (probe/ondemand.py): the scope that keeps real packets inside
what routepilot may probe, the rate limits, and what a request sends and returns."""

from __future__ import annotations

import asyncio

import pytest

from routepilot.config import ConfigError
from routepilot.config.load import validate
from routepilot.config.probe import OnDemandConfig, ProbeConfig
from routepilot.probe.ondemand import (
    Limiter,
    OnDemand,
    Refused,
    parse_address,
    scope_of,
)
from routepilot.probe.oneshot import Hop, PathResult
from routepilot.probe.sockets import Steering

pytestmark = pytest.mark.unit

LEARNED = {
    "198.18.3.0/24": ("isp1", "isp2"),
    "198.18.0.0/15": ("isp1", "isp2", "isp3"),
    "2001:db8:1003::/48": ("isp2",),
    "100.64.8.0/30": ("isp1",),
}


def route_of(host: str):
    """The longest learned prefix covering ``host``, as the RIB's ``covering`` finds it."""
    import ipaddress

    ip = ipaddress.ip_network(host).network_address
    best = None
    for p, providers in LEARNED.items():
        net = ipaddress.ip_network(p)
        longer = best is None or net.prefixlen > ipaddress.ip_network(best[0]).prefixlen
        if net.version == ip.version and ip in net and longer:
            best = (p, providers)
    return best


def refused(fn, *args) -> Refused:
    with pytest.raises(Refused) as exc:
        fn(*args)
    return exc.value


# -- the address itself ------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw,says",
    [
        ("example.com", "not an IP address"),
        ("localhost", "not an IP address"),
        ("198.18.3", "not an IP address"),
        ("198.18.3.7 ", None),
        ("198.18.3.0/24", "is a prefix"),
        ("198.18.3.7/32", "is a prefix"),
        ("fe80::1%eth0", "has a zone"),
        ("", "expected one IPv4 or IPv6 address"),
        ("1" * 65, "expected one IPv4 or IPv6 address"),
        ("0x0a000001", "not an IP address"),
        ("3323462407", "not an IP address"),
    ],
)
def test_only_one_literal_address_is_taken(raw: str, says: str | None) -> None:
    if says is None:
        assert str(parse_address(raw)) == "198.18.3.7"
        return
    r = refused(parse_address, raw)
    assert r.status == 400 and says in str(r), str(r)


def test_a_name_is_never_resolved(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    def no_dns(*a, **k):
        raise AssertionError("a name was resolved")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    monkeypatch.setattr(socket, "gethostbyname", no_dns)
    assert refused(parse_address, "www.example.net").status == 400


# -- the ranges ----------------------------------------------------------------------------


def scope(address: str, allowed: tuple[str, ...] = ()):
    return scope_of(parse_address(address), route_of, list(allowed))


def test_inside_a_learned_prefix_by_longest_match_with_its_providers() -> None:
    s = scope("198.18.3.7")
    assert (s.prefix, s.source, s.providers) == ("198.18.3.0/24", "learned", ("isp1", "isp2"))
    s = scope("198.19.200.1")
    assert (s.prefix, s.providers) == ("198.18.0.0/15", ("isp1", "isp2", "isp3"))
    s = scope("2001:db8:1003::7")
    assert (s.prefix, s.providers) == ("2001:db8:1003::/48", ("isp2",))


@pytest.mark.parametrize(
    "address,why",
    [
        ("192.0.2.1", "outside what routepilot may probe"),
        ("10.0.0.1", "outside what routepilot may probe"),
        ("2001:db8:2000::1", "outside what routepilot may probe"),
        ("2001:db9::1", "outside what routepilot may probe"),
        ("::ffff:198.18.3.7", "IPv4-mapped IPv6 address (probe 198.18.3.7 itself)"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("ff02::1", "multicast"),
        ("255.255.255.255", "the broadcast address"),
        ("198.18.3.255", "the broadcast address of 198.18.3.0/24"),
        ("100.64.8.3", "the broadcast address of 100.64.8.0/30"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("240.0.0.1", "reserved"),
        ("::198.18.3.7", "reserved"),
    ],
)
def test_outside_the_ranges_or_special_is_refused_with_the_reason(address: str, why: str) -> None:
    r = refused(scope, address)
    assert r.status == 403 and why in str(r), str(r)


def test_special_addresses_stay_refused_even_inside_an_allowed_range() -> None:
    everything = ("0.0.0.0/0", "::/0")
    for address in ("224.0.0.1", "127.0.0.1", "ff02::1", "::ffff:10.0.0.1", "fe80::1"):
        assert refused(scope, address, everything).status == 403
    assert scope("192.0.2.1", everything).source == "allowed"


def test_an_allowed_range_lets_in_what_no_route_covers_through_any_provider() -> None:
    s = scope("192.0.2.9", ("192.0.2.0/24",))
    assert (s.prefix, s.source, s.providers) == ("192.0.2.0/24", "allowed", None)
    assert refused(scope, "192.0.2.255", ("192.0.2.0/24",)).status == 403
    r = refused(scope, "192.0.3.1", ("192.0.2.0/24",))
    assert "the allowed ranges (192.0.2.0/24)" in str(r)
    # The version must match: an IPv4 range never admits an IPv6 address.
    assert refused(scope, "2001:db8:5::1", ("192.0.2.0/24",)).status == 403


def test_a_learned_prefix_with_no_provider_path_is_not_a_scope() -> None:
    assert (
        refused(scope_of, parse_address("192.0.2.1"), lambda h: ("192.0.2.0/24", ()), []).status
        == 403
    )


def test_allowed_ranges_with_host_bits_or_junk_are_refused_in_the_configuration() -> None:
    for bad in ("198.18.3.7/24", "2001:db8::1/32", "example.com", "198.18.0.0/33"):
        with pytest.raises(ConfigError) as exc:
            validate({"probe": {"on_demand": {"allowed": [bad]}}}, type(_config()), "test.yaml")
        assert "allowed" in str(exc.value), str(exc.value)
    ok = OnDemandConfig(allowed=["192.0.2.0/24", "2001:db8:5::/48"])
    assert ok.allowed == ["192.0.2.0/24", "2001:db8:5::/48"]
    assert OnDemandConfig().allowed == []  # by default: the learned RIB only


def _config():
    from routepilot.config import Config

    return Config()


# -- rate --------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_per_caller_and_overall_limits_say_how_long_to_wait() -> None:
    clock = Clock()
    lim = Limiter(clock)
    for _ in range(3):
        lim.release(lim.admit("otto", 3, 5, 2, 1.0))
        clock.t += 10
    r = refused(lim.admit, "otto", 3, 5, 2, 1.0)
    assert r.status == 429 and "otto made 3 on-demand requests" in str(r)
    assert r.retry_after_s == 30  # the first one leaves the minute in 30 s
    lim.release(lim.admit("ada", 3, 5, 2, 1.0))
    lim.release(lim.admit("ada", 3, 5, 2, 1.0))
    r = refused(lim.admit, "nina", 3, 5, 2, 1.0)
    assert "at most 5 for everyone" in str(r) and r.retry_after_s == 30
    clock.t += 40.5  # otto's first two leave the minute
    lim.release(lim.admit("nina", 3, 5, 2, 1.0))
    lim.release(lim.admit("otto", 3, 5, 2, 1.0))


def test_at_most_so_many_at_once() -> None:
    clock = Clock()
    lim = Limiter(clock)
    a = lim.admit("otto", 10, 10, 1, 4.0)
    clock.t += 1
    r = refused(lim.admit, "ada", 10, 10, 1, 4.0)
    assert r.status == 429 and "at most 1 at once" in str(r) and r.retry_after_s == 3
    lim.release(a)
    lim.release(lim.admit("ada", 10, 10, 1, 4.0))


# -- requests ----------------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    async def measure(self, targets, providers, kind, count, interval_s, timeout_s, options):
        self.calls.append(("measure", targets, [n for n, _ in providers], kind, count,
                           interval_s, timeout_s, options))  # fmt: skip
        out = []
        for k, (name, _) in enumerate(providers):
            r = PathResult(targets[0], name, kind, sent=count)
            r.rtts_ms = [10.0 * (k + 1) + i % 3 for i in range(count - 1)]
            r.responders = {targets[0]}
            out.append(r)
        return out

    async def trace(self, target, provider, kind, max_hops, per_hop, timeout_s, options):
        self.calls.append(("trace", target, provider, kind, max_hops, per_hop, timeout_s))
        return [
            Hop(1, "100.64.1.1", [0.1] * per_hop, False),
            Hop(2, None, [], False),
            Hop(3, "100.72.1.1", [5.0, 5.2], False),
            Hop(4, target, [9.0] * per_hop, True),
        ]


STEER = [
    ("isp1", Steering(source="100.67.1.1")),
    ("isp2", Steering(source="100.67.2.1", source6="2001:db8:ff02::1")),
    ("isp3", Steering(mark=3)),
]


def service(rec: Recorder, cfg: ProbeConfig | None = None, clock=None) -> OnDemand:
    cfg = cfg or ProbeConfig(enabled=True, per_target_rate=100)
    asns = {"100.64.1.1": None, "100.72.1.1": 65101}
    return OnDemand(
        lambda: cfg, lambda: STEER, route_of, lambda a: asns.get(a, 64496),
        measure_fn=rec.measure, trace_fn=rec.trace, clock=clock or Clock(),
        wall=lambda: 1_800_000_000.0,
    )  # fmt: skip


def run(coro):
    return asyncio.run(coro)


def test_probe_goes_through_the_providers_with_a_route_and_reports_each() -> None:
    rec = Recorder()
    out = run(service(rec).probe("otto", "198.18.3.7", None, "tcp", 5))
    assert out["address"] == "198.18.3.7" and out["prefix"] == "198.18.3.0/24"
    assert out["scope"] == "learned" and out["kind"] == "tcp" and out["count"] == 5
    assert [r["provider"] for r in out["results"]] == ["isp1", "isp2"]  # isp3 has no route
    first = out["results"][0]
    assert (first["sent"], first["answered"], first["loss"]) == (5, 4, 0.2)
    assert first["rtt_min_ms"] == 10.0 and first["rtt_max_ms"] == 12.0
    assert first["rtt_median_ms"] == 10.5 and first["responders"] == ["198.18.3.7"]
    assert first["jitter_ms"] is not None and first["rtt_p90_ms"] is not None
    (call,) = rec.calls
    assert call[1:5] == (["198.18.3.7"], ["isp1", "isp2"], "tcp", 5)
    # Paced by on_demand.interval_s (per_target_rate 100/s allows 2 providers every 0.02 s).
    assert call[5] == pytest.approx(0.1) and call[6] == 1.0


def test_probe_paces_every_provider_together_within_the_politeness_cap() -> None:
    rec = Recorder()
    out = run(service(rec, ProbeConfig(enabled=True, per_target_rate=5)).probe(
        "otto", "198.19.0.9", None, "icmp", 10))  # fmt: skip
    assert out["interval_s"] == pytest.approx(0.6)  # 3 providers at 5 probes/s to one address
    assert rec.calls[0][5] == pytest.approx(0.6)


def test_probe_count_and_duration_are_bounded() -> None:
    rec = Recorder()
    s = service(rec, ProbeConfig(enabled=True, per_target_rate=5))
    r = refused(lambda: run(s.probe("otto", "198.19.0.9", None, "icmp", 100)))
    assert r.status == 400 and "takes 60 s" in str(r) and "at most 49 fit" in str(r), str(r)
    small = ProbeConfig(enabled=True, on_demand={"max_count": 20})
    r = refused(lambda: run(service(rec, small).probe("otto", "198.18.3.7", None, "icmp", 21)))
    assert r.status == 400 and "between 1 and 20" in str(r)
    assert rec.calls == []


def test_named_providers_must_exist_have_a_route_and_a_source_of_the_family() -> None:
    rec = Recorder()
    s = service(rec)
    r = refused(lambda: run(s.probe("otto", "198.18.3.7", ["isp9"])))
    assert r.status == 404 and "unknown provider 'isp9'" in str(r)
    r = refused(lambda: run(s.probe("otto", "198.18.3.7", ["isp3"])))
    assert r.status == 409 and "isp3 has no route for 198.18.3.7 (198.18.3.0/24)" in str(r)
    # isp1 has no IPv6 source; a mark (isp3) steers both families.
    r = refused(lambda: run(s.probe("otto", "2001:db8:9::1", ["isp1"])))
    assert r.status == 403  # not even in scope: checked first
    learned_v6 = {**LEARNED, "2001:db8:9::/48": ("isp1", "isp2", "isp3")}
    s2 = OnDemand(lambda: ProbeConfig(enabled=True), lambda: STEER,
                  lambda h: _lookup(learned_v6, h), lambda a: None,
                  measure_fn=rec.measure, trace_fn=rec.trace)  # fmt: skip
    r = refused(lambda: run(s2.probe("otto", "2001:db8:9::1", ["isp1"])))
    assert r.status == 409 and "isp1 has no IPv6 source address (probe.source6)" in str(r)
    out = run(s2.probe("otto", "2001:db8:9::1", ["isp2", "isp3"], "udp", 2))
    assert [r["provider"] for r in out["results"]] == ["isp2", "isp3"]
    assert rec.calls[-1][2] == ["isp2", "isp3"]


def _lookup(table, host):
    saved = dict(LEARNED)
    LEARNED.clear()
    LEARNED.update(table)
    try:
        return route_of(host)
    finally:
        LEARNED.clear()
        LEARNED.update(saved)


def test_nothing_is_sent_when_probing_or_on_demand_is_off() -> None:
    rec = Recorder()
    for cfg, says in ((ProbeConfig(), "probe.enabled is false"),
                      (ProbeConfig(enabled=True, on_demand={"enabled": False}),
                       "probe.on_demand.enabled")):  # fmt: skip
        r = refused(lambda cfg=cfg: run(service(rec, cfg).probe("otto", "198.18.3.7")))
        assert r.status == 409 and says in str(r)
        r = refused(lambda cfg=cfg: run(service(rec, cfg).traceroute("otto", "198.18.3.7", "isp1")))
        assert r.status == 409
    assert rec.calls == []


def test_traceroute_maps_each_hop_to_its_as() -> None:
    rec = Recorder()
    out = run(service(rec).traceroute("otto", "198.18.3.7", "isp2", "udp"))
    assert out["provider"] == "isp2" and out["reached"] is True and out["kind"] == "udp"
    assert [(h["ttl"], h["responder"], h["asn"]) for h in out["hops"]] == [
        (1, "100.64.1.1", None), (2, None, None), (3, "100.72.1.1", 65101),
        (4, "198.18.3.7", 64496),
    ]  # fmt: skip
    assert out["hops"][1]["loss"] == 1.0 and out["hops"][2]["loss"] == pytest.approx(1 / 3)
    (call,) = rec.calls
    assert call[:4] == ("trace", "198.18.3.7", STEER[1], "udp") and call[4:6] == (30, 3)
    r = refused(lambda: run(service(rec).traceroute("otto", "198.18.3.7", "isp3")))
    assert r.status == 409
    r = refused(lambda: run(service(rec).traceroute("otto", "8.8.8.8", "isp1")))
    assert r.status == 403


def test_rate_limits_count_requests_not_refusals_and_release_when_done() -> None:
    rec = Recorder()
    clock = Clock()
    cfg = ProbeConfig(enabled=True, on_demand={"per_user_per_minute": 2, "per_minute": 3})
    s = service(rec, cfg, clock)
    for _ in range(3):
        refused(lambda: run(s.probe("otto", "10.1.1.1")))  # out of scope: not counted
    run(s.probe("otto", "198.18.3.7"))
    run(s.traceroute("otto", "198.18.3.7", "isp1"))
    r = refused(lambda: run(s.probe("otto", "198.18.3.7")))
    assert r.status == 429 and r.retry_after_s == 60
    run(s.probe("ada", "198.18.3.7"))
    r = refused(lambda: run(s.probe("nina", "198.18.3.7")))
    assert r.status == 429 and "for everyone" in str(r)
    assert s.limiter.running == {}
    assert s.metrics.requests == {
        ("probe", "refused"): 3, ("probe", "ok"): 2, ("traceroute", "ok"): 1,
        ("probe", "rate_limited"): 2,
    }  # fmt: skip


def test_concurrent_requests_beyond_the_bound_are_refused_while_one_runs() -> None:
    gate = asyncio.Event()

    class Slow(Recorder):
        async def measure(self, *args):
            await gate.wait()
            return await super().measure(*args)

    async def scenario():
        rec = Slow()
        s = service(rec, ProbeConfig(enabled=True, on_demand={"concurrent": 1}))
        first = asyncio.create_task(s.probe("otto", "198.18.3.7"))
        await asyncio.sleep(0)
        with pytest.raises(Refused) as exc:
            await s.probe("ada", "198.18.3.7")
        gate.set()
        await first
        await s.probe("ada", "198.18.3.7")  # free again
        return exc.value

    r = run(scenario())
    assert r.status == 429 and r.retry_after_s >= 1
