"""inject/: desired exits -> announcements, minimal diffs, resync, caps, dry-run."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest
from tests.samples import series, value

from routepilot.config.models import InjectConfig
from routepilot.inject.injector import DesiredRoute, Injector
from routepilot.rib.speaker.base import InjectedRoute, SessionChanged, SpeakerRestarted
from routepilot.rib.speaker.fake import FakeSpeaker

PROVIDERS = [("isp1", ["100.64.1.1", "2001:db8:ffff:1::1"]), ("isp2", ["100.64.2.1"])]


def make(**cfg) -> tuple[Injector, FakeSpeaker]:
    cfg.setdefault("dry_run", False)
    speaker = FakeSpeaker(["r1", "r2"])
    return Injector(InjectConfig(**cfg), PROVIDERS, speaker, clock=lambda: 7.0), speaker


def run(coro):
    return asyncio.run(coro)


def held(speaker: FakeSpeaker, router: str = "r1") -> dict[str, str]:
    return {p: r.next_hop for p, r in speaker.rib_out[router].items()}


def test_announces_the_providers_next_hop_with_high_local_pref_and_no_export():
    inj, sp = make()
    res = run(inj.set_desired([DesiredRoute("198.18.1.0/24", "isp2")]))
    assert res.announced == 1
    route = sp.rib_out["r1"]["198.18.1.0/24"]
    assert route == InjectedRoute("198.18.1.0/24", "100.64.2.1", 500, ("no-export", "no-advertise"))
    assert held(sp, "r2") == {"198.18.1.0/24": "100.64.2.1"}
    assert value(inj.metrics, "routepilot_inject_routes") == 1


def test_ipv6_prefix_takes_the_ipv6_next_hop():
    inj, sp = make()
    run(inj.set_desired([DesiredRoute("2001:db8:1::/48", "isp1")]))
    assert held(sp) == {"2001:db8:1::/48": "2001:db8:ffff:1::1"}


def test_reconcile_sends_only_the_difference_in_batches():
    inj, sp = make()

    async def scenario():
        await inj.set_desired([DesiredRoute(f"198.18.{i}.0/24", "isp1") for i in range(10)])
        sp.calls.clear()
        await inj.set_desired(
            [DesiredRoute(f"198.18.{i}.0/24", "isp1") for i in range(2, 10) if i != 5]
            + [DesiredRoute("198.18.5.0/24", "isp2"), DesiredRoute("198.18.50.0/24", "isp2")]
        )

    run(scenario())
    assert [(c[0], len(c[2])) for c in sp.calls] == [("withdraw", 2), ("announce", 2)]
    assert held(sp)["198.18.5.0/24"] == "100.64.2.1"
    assert "198.18.0.0/24" not in held(sp)
    assert len(held(sp)) == 9


def test_invalid_desired_routes_are_rejected_not_fatal():
    inj, sp = make()
    res = run(
        inj.set_desired(
            [
                DesiredRoute("198.18.1.0/24", "nobody"),
                DesiredRoute("198.18.1.1/24", "isp1"),
                DesiredRoute("2001:db8:2::/48", "isp2"),
                DesiredRoute("198.18.2.0/24", "isp1", next_hop="100.64.2.1"),
                DesiredRoute("198.18.3.0/24", "isp1", next_hop="100.64.1.1"),
            ]
        )
    )
    assert res.rejected == 4
    assert held(sp) == {"198.18.3.0/24": "100.64.1.1"}


def test_cap_keeps_the_highest_priority_routes():
    inj, sp = make(max_routes=3)
    res = run(inj.set_desired([DesiredRoute(f"198.18.{i}.0/24", "isp1") for i in range(5)]))
    assert res.capped == 2
    assert sorted(held(sp)) == ["198.18.0.0/24", "198.18.1.0/24", "198.18.2.0/24"]
    assert inj.metrics.capped_routes == 2


def test_session_up_resyncs_that_router_to_what_is_desired_now():
    inj, sp = make()

    async def scenario():
        await inj.set_desired([DesiredRoute("198.18.1.0/24", "isp1")])
        # Something stale sits in the speaker's Adj-RIB-Out for r1 (as ExaBGP would
        # re-announce it when the session comes back).
        stale = InjectedRoute("198.18.9.0/24", "100.64.2.1", 500, ())
        await sp.announce([stale], "r1")
        inj.announced[stale.prefix] = stale
        sp.calls.clear()
        await inj.handle(SessionChanged("r1", True))

    run(scenario())
    assert held(sp) == {"198.18.1.0/24": "100.64.1.1"}
    assert [(c[0], c[1]) for c in sp.calls] == [("withdraw", "r1"), ("announce", "r1")]
    assert inj.metrics.resyncs == 1


def test_speaker_restart_forgets_announcements_then_session_up_restores_them():
    inj, sp = make()

    async def scenario():
        await inj.set_desired([DesiredRoute("198.18.1.0/24", "isp1")])
        sp.crash()
        for event in sp.pending_events():
            await inj.handle(event)
        assert inj.announced == {}
        assert held(sp) == {}
        await inj.handle(SessionChanged("r1", True))

    run(scenario())
    assert held(sp) == {"198.18.1.0/24": "100.64.1.1"}


def test_session_down_keeps_state():
    inj, sp = make()

    async def scenario():
        await inj.set_desired([DesiredRoute("198.18.1.0/24", "isp1")])
        await inj.handle(SessionChanged("r1", False, "hold timer"))

    run(scenario())
    assert list(inj.announced) == ["198.18.1.0/24"]


def test_stop_withdraws_everything():
    inj, sp = make()

    async def scenario():
        await inj.set_desired([DesiredRoute(f"198.18.{i}.0/24", "isp1") for i in range(3)])
        await inj.stop()

    run(scenario())
    assert held(sp) == {} and held(sp, "r2") == {}
    assert inj.metrics.withdrawals == 3


def test_dry_run_announces_nothing_and_journals_what_it_would_do():
    inj, sp = make(dry_run=True)

    async def scenario():
        await inj.set_desired([DesiredRoute("198.18.1.0/24", "isp1")])
        await inj.set_desired([DesiredRoute("198.18.1.0/24", "isp2")])
        await inj.handle(SpeakerRestarted())
        await inj.stop()

    run(scenario())
    assert sp.calls == []
    assert [(c.action, c.prefix, c.next_hop) for c in inj.journal] == [
        ("announce", "198.18.1.0/24", "100.64.1.1"),
        ("announce", "198.18.1.0/24", "100.64.2.1"),
    ]
    assert inj.metrics.dry_run_changes == 2
    assert value(inj.metrics, "routepilot_inject_routes") == 0


@pytest.mark.parametrize("name", ["routepilot_inject_announcements_total"])
def test_metric_names_are_prometheus_style(name):
    inj, _ = make()
    names = {n for n, _ in series(inj.metrics)}
    assert name in names
    assert all(n.startswith("routepilot_") for n in names)


@pytest.mark.parametrize("bad", ["65536:1", "1:2:3", "no-such", "a:b"])
def test_bad_communities_are_rejected_by_the_config(bad):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="not a community"):
        InjectConfig(communities=[bad])
    assert InjectConfig(communities=["NO-EXPORT", "64500:7"]).communities == [
        "no-export",
        "64500:7",
    ]


def test_duplicate_prefixes_keep_the_first_exit():
    inj, sp = make()
    res = run(
        inj.set_desired(
            [DesiredRoute("198.18.1.0/24", "isp2"), DesiredRoute("198.18.1.0/24", "isp1")]
        )
    )
    assert res.rejected == 1
    assert held(sp) == {"198.18.1.0/24": "100.64.2.1"}


def test_dry_run_ignores_speaker_events_and_stops_quietly():
    inj, sp = make(dry_run=True)

    async def scenario():
        await inj.set_desired([DesiredRoute("198.18.1.0/24", "isp1")])
        await inj.handle(SessionChanged("r1", True))
        await inj.stop()

    run(scenario())
    assert sp.calls == []
    assert len(inj.journal) == 1
    assert inj.metrics.resyncs == 0
    assert inj.announced == {}


@pytest.mark.parametrize(
    "prefix",
    [
        "198.18.0.0/24",
        "198.18.0.1/24",
        "198.018.0.0/24",
        "1.2.3/24",
        "0.0.0.0/0",
        "255.255.255.255/32",
        "198.18.0.0/33",
        "198.18.0.0/024",
        "2001:db8::/32",
        "2001:db8::1/32",
        "x/24",
        "10.0.0.0",
        "10.0.0.0/",
        "0x0a.0.0.0/8",
    ],
)
def test_a_prefix_is_read_as_ipaddress_reads_it(prefix):
    from routepilot.inject.injector import _network

    try:
        network = ipaddress.ip_network(prefix, strict=True)
        expected: object = (str(network), network.version)
    except ValueError:
        expected = ValueError
    try:
        got: object = _network(prefix)
    except ValueError:
        got = ValueError
    assert got == expected
