"""Policies in the lab (issue 11): the allowlist, rules by origin AS, static, VIP, and what
edge's BIRD receives. Real BIRD routers, real ExaBGP, real probes and flows."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from routepilot.api.client import ApiError
from routepilot.lab.spec import LabSpec, dest_prefix_v6
from tests.lab.looplab import FAST_EXPORT, LoopLab, three_providers

SPEC = {
    "name": "rplabq",
    "providers": three_providers(announce="0-15"),
    "prefixes": 32,
    "prefixes_v6": 4,
    "export": FAST_EXPORT,  # the traffic's first records come sooner
}
INSIDE = "198.18.0.0/20"  # prefixes 0-15; 16-31 are outside the allowlist
SHRUNK = "198.18.0.0/21"  # prefixes 0-7
V6 = "2001:db8:1000::/36"
VIP = dest_prefix_v6(1)  # carries no traffic: the lab sends IPv4 only here


def k_of(prefix: str) -> int:
    return int(prefix.split(".")[2])


class Roles:
    """Which busy prefix plays which part, chosen once from the lab's traffic shares."""

    def __init__(self, loop: LoopLab) -> None:
        spec = loop.spec
        busy = loop.busiest(32)
        left = list(busy)

        def take(ok) -> str:  # type: ignore[no-untyped-def]
            p = next(p for p in left if ok(k_of(p)))
            left.remove(p)
            return p

        self.a = take(lambda k: 8 <= k < 16)  # inside, then outside the shrunk allowlist
        self.b = take(lambda k: k >= 16)  # outside the allowlist
        self.c = take(lambda k: k < 8)  # inside both
        self.s = take(lambda k: k < 8)  # static
        # The deny rule's origin AS is none of the others' (and not the VIP prefix's).
        taken = {k_of(p) % 16 for p in (self.a, self.b, self.c, self.s)} | {1}
        self.d = take(lambda k: k < 16 and k % 16 not in taken)
        names = [p.name for p in spec.providers]
        self.static_to = next(n for n in names if n != spec.bgp_best(k_of(self.s)))
        d0 = spec.bgp_best(k_of(self.d))
        self.denied, self.third = [n for n in names if n != d0]
        self.d_asn = spec.origin_asn(k_of(self.d))

    def rules(self) -> list[dict]:
        return [
            {"name": "no-" + self.denied, "origin_asn": self.d_asn, "action": "deny",
             "providers": [self.denied]},
            {"name": "pin-s", "prefix": self.s, "action": "static", "provider": self.static_to,
             "max_rtt_ms": 25.0, "max_loss_pct": 5.0},
            {"name": "vip-v6", "prefix": VIP, "action": "vip"},
        ]  # fmt: skip


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopLab]:
    tmp = tmp_path_factory.mktemp("policy")
    ll = LoopLab(LabSpec.model_validate(SPEC), tmp, policy__hold_down_s=10.0)
    roles = Roles(ll)  # from the spec and the traffic shares alone
    ll.roles = roles  # type: ignore[attr-defined]
    ll.overrides.update(
        policy__rules=roles.rules(),
        inject__allowlist=[INSIDE, V6],
        inject__communities_by_reason={"latency": ["65000:3"]},
        inject__large_communities=["65000:1:2"],
        inject__as_path="learned",
        probe__vip_interval_s=0.25,
    )
    # IPv4 traffic only, so that the VIP prefix carries none.
    with ll.running(v6=False):
        yield ll


@pytest.fixture
def clean(loop: LoopLab) -> Iterator[LoopLab]:
    yield loop
    loop.lab.clear_all()


def apply_config(loop: LoopLab, **extra: object) -> None:
    """Applies a configuration change: by reload when the controller has it, else by a
    restart (announcements then come back from the next rounds)."""
    loop.write_config(**extra)
    try:
        loop.api("/control/reload", "POST")
        return
    except ApiError as exc:
        if exc.status not in (404, 405):
            raise
    loop.restart()


def test_allowlist_moves_only_the_allowed_prefixes_with_the_configured_attributes(
    loop: LoopLab,
) -> None:
    r = loop.roles  # type: ignore[attr-defined]
    spec = loop.spec
    for p in (r.a, r.b, r.c):
        loop.lab.impair(spec.bgp_best(k_of(p)), [p], delay_ms=40)
    for p in (r.a, r.c):
        default = spec.bgp_best(k_of(p))
        loop.wait(
            lambda p=p, default=default: loop.exit_of(p) not in (default, None),
            40,
            f"the move of {p}",
            diag=lambda p=p: loop.detail(p),
        )
    # Impaired as long, and as much, B stays with BGP: it is outside the allowlist.
    loop.rounds_later(3)
    assert loop.exit_of(r.b) == spec.bgp_best(k_of(r.b))
    b = loop.api(f"/prefixes/{r.b}")
    assert b["reason"] == "policy"
    assert b["policy"]["inside_allowlist"] is False
    assert "outside the inject allowlist" in b["policy"]["text"]
    a = loop.api(f"/prefixes/{r.a}")
    assert a["reason"] == "latency" and a["policy"]["allowlist"] == INSIDE
    # Edge's BIRD holds the injected route with what the configuration asks for: NO_EXPORT,
    # NO_ADVERTISE, the latency community, the large community and the learned AS path
    # (the chosen provider, its prepends, the destination's origin AS).
    shown = loop.lab.birdc("edge", f"show route for {r.a} protocol ctl all")
    assert "(65535,65281)" in shown and "(65535,65282)" in shown, shown
    assert "(65000,3)" in shown and "(65000, 1, 2)" in shown, shown
    origin = spec.origin_asn(k_of(r.a))
    path = next(line for line in shown.splitlines() if "BGP.as_path" in line)
    assert path.split()[-1] == str(origin) and path.split()[1] == str(
        spec.providers[spec.index(a["exit"]) - 1].asn
    ), path
    assert "BGP.local_pref: 500" in shown


def test_shrinking_the_allowlist_withdraws_what_left_it(loop: LoopLab) -> None:
    r = loop.roles  # type: ignore[attr-defined]
    spec = loop.spec
    a_default, c_default = spec.bgp_best(k_of(r.a)), spec.bgp_best(k_of(r.c))
    # Still impaired from the previous test: A and C are detoured.
    assert loop.exit_of(r.a) != a_default and loop.exit_of(r.c) != c_default
    try:
        apply_config(loop, inject__allowlist=[SHRUNK, V6])
        loop.wait(lambda: loop.exit_of(r.c) not in (c_default, None), 40, "C detoured")
        loop.wait(lambda: loop.exit_of(r.a) == a_default, 30, "A back with BGP")
        loop.rounds_later(3)
        assert loop.exit_of(r.a) == a_default
        assert loop.api(f"/prefixes/{r.a}")["policy"]["inside_allowlist"] is False
        assert loop.exit_of(r.c) != c_default
    finally:
        loop.lab.clear_all()
        apply_config(loop)


def test_deny_by_origin_asn_keeps_prefixes_off_the_fastest_provider(clean: LoopLab) -> None:
    loop = clean
    r = loop.roles  # type: ignore[attr-defined]
    spec = loop.spec
    d0 = spec.bgp_best(k_of(r.d))
    loop.lab.impair(d0, [r.d], delay_ms=40)
    loop.lab.impair(r.third, [r.d], delay_ms=20)
    loop.wait(
        lambda: loop.exit_of(r.d) == r.third, 40, "the move to the allowed provider",
        diag=lambda: loop.detail(r.d),
    )  # fmt: skip
    detail = loop.api(f"/prefixes/{r.d}")
    rtt = {m["provider"]: m["rtt_ms"] for m in detail["measurements"]}
    assert rtt[r.denied] < rtt[r.third] < rtt[d0], rtt  # the denied one is the fastest
    assert detail["policy"]["rule"] == "no-" + r.denied
    # Every prefix of that origin inside the allowlist stays off the denied provider, also
    # those whose BGP default it is.
    same = [p for p in spec.prefixes_v4_list() if k_of(p) < 16
            and spec.origin_asn(k_of(p)) == r.d_asn]  # fmt: skip
    loop.rounds_later(2)
    assert all(loop.exit_of(p) != r.denied for p in same), {p: loop.exit_of(p) for p in same}


def test_static_holds_within_its_ceilings_and_falls_back(clean: LoopLab) -> None:
    loop = clean
    r = loop.roles  # type: ignore[attr-defined]
    default = loop.spec.bgp_best(k_of(r.s))
    loop.wait(lambda: loop.exit_of(r.s) == r.static_to, 30, "the static pin")
    assert loop.api(f"/prefixes/{r.s}")["reason"] == "static"
    loop.lab.impair(r.static_to, [r.s], delay_ms=40)  # above max_rtt_ms 25
    loop.wait(lambda: loop.exit_of(r.s) == default, 30, "the fall back",
              diag=lambda: loop.detail(r.s))  # fmt: skip
    note = loop.api(f"/prefixes/{r.s}")["policy"]["note"]
    assert "not held" in note and "max_rtt_ms 25" in note
    loop.lab.clear(r.static_to)
    loop.wait(lambda: loop.exit_of(r.s) == r.static_to, 45, "the static pin again")


def test_vip_prefix_without_traffic_is_measured_everywhere_and_moved(clean: LoopLab) -> None:
    loop = clean
    default = loop.spec.bgp_best(1, v6=True)

    def measured() -> bool:
        d = loop.api(f"/prefixes/{VIP}")
        return all(m["samples"] > 0 for m in d["measurements"])

    loop.wait(measured, 30, "the VIP prefix measured through every provider")
    d = loop.api(f"/prefixes/{VIP}")
    # The lab sends it nothing; what edge's exporter sees is routepilot's own probes, at
    # most a train every vip_interval_s through each provider (150 bytes a probe, framing
    # included, is generous for an ICMPv6 echo).
    probes_bps = len(loop.spec.providers) * 4 / 0.25 * 150 * 8
    assert d["traffic_bps"] < probes_bps and d["policy"]["action"] == "vip"
    loop.lab.impair(default, [VIP], delay_ms=40)
    loop.wait(lambda: loop.exit_of(VIP) not in (default, None), 40, "the VIP move",
              diag=lambda: loop.detail(VIP))  # fmt: skip
    assert loop.api(f"/decisions?prefix={VIP}")[0]["reason"] == "latency"
