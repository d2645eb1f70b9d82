"""inject/: the allowlist checked again before the speaker, and what is announced
(LOCAL_PREF, standard and large communities per reason and provider, AS path)."""

from __future__ import annotations

import asyncio
from typing import get_args

import pytest
from pydantic import ValidationError
from tests.samples import value

from routepilot.config.inject import Reason as InjectReason
from routepilot.config.models import InjectConfig
from routepilot.decide.reasons import REASON_LABELS
from routepilot.inject.fake import FakeInjector
from routepilot.inject.injector import DesiredRoute, Injector
from routepilot.rib.speaker.fake import FakeSpeaker

PROVIDERS = [("isp1", ["100.64.1.1", "2001:db8:ffff:1::1"]), ("isp2", ["100.64.2.1"])]


def make(**cfg) -> tuple[Injector, FakeSpeaker]:
    cfg.setdefault("dry_run", False)
    speaker = FakeSpeaker(["r1"])
    return Injector(InjectConfig(**cfg), PROVIDERS, speaker, clock=lambda: 7.0), speaker


def run(coro):
    return asyncio.run(coro)


def test_a_route_outside_the_allowlist_is_refused_and_counted():
    inj, sp = make(allowlist=["198.18.0.0/23", "2001:db8:1000::/36"])
    res = run(
        inj.set_desired(
            [
                DesiredRoute("198.18.1.0/24", "isp1"),
                DesiredRoute("198.18.2.0/24", "isp1"),
                DesiredRoute("198.18.0.0/22", "isp2"),  # covers the list, is not inside it
                DesiredRoute("2001:db8:1001::/48", "isp1"),
            ]
        )
    )
    assert res.refused == 2 and res.announced == 2
    assert sorted(sp.rib_out["r1"]) == ["198.18.1.0/24", "2001:db8:1001::/48"]
    assert value(inj.metrics, "routepilot_inject_refused_outside_allowlist_total") == 2


def test_shrinking_the_allowlist_withdraws_at_the_next_set():
    inj, sp = make(allowlist=["198.18.0.0/16"])
    want = [DesiredRoute("198.18.1.0/24", "isp1"), DesiredRoute("198.18.200.0/24", "isp1")]
    run(inj.set_desired(want))
    inj.config = inj.config.model_copy(update={"allowlist": ["198.18.0.0/17"]})
    res = run(inj.set_desired(want))
    assert res.withdrawn == 1 and sorted(sp.rib_out["r1"]) == ["198.18.1.0/24"]


def test_the_fake_refuses_what_the_real_one_refuses():
    fake = FakeInjector(PROVIDERS, InjectConfig(dry_run=False, allowlist=["198.18.0.0/24"]))
    res = run(fake.set_desired([DesiredRoute("198.19.0.0/24", "isp1")]))
    assert res.refused == 1 and fake.announced == {}


def test_local_pref_and_communities_by_reason_and_provider():
    inj, sp = make(
        local_preference=500,
        local_preference_by_reason={"capacity": 400},
        local_preference_by_provider={"isp2": 450},
        communities=["64500:1"],
        communities_by_reason={"capacity": ["64500:4"]},
        communities_by_provider={"isp2": ["64500:20"]},
        large_communities=["64500:1:1"],
        large_communities_by_reason={"capacity": ["64500:4:4"]},
        large_communities_by_provider={"isp2": ["64500:2:2"]},
    )
    run(
        inj.set_desired(
            [
                DesiredRoute("198.18.1.0/24", "isp1", reason="capacity"),
                DesiredRoute("198.18.2.0/24", "isp2", reason="capacity"),
                DesiredRoute("198.18.3.0/24", "isp1", reason="latency"),
            ]
        )
    )
    out = sp.rib_out["r1"]
    a, b, c = out["198.18.1.0/24"], out["198.18.2.0/24"], out["198.18.3.0/24"]
    assert (a.local_pref, b.local_pref, c.local_pref) == (400, 450, 500)
    # NO_EXPORT is always there (it was not listed); the default list is replaced.
    assert a.communities == ("no-export", "64500:1", "64500:4")
    assert b.communities == ("no-export", "64500:1", "64500:4", "64500:20")
    assert c.large_communities == ("64500:1:1",)
    assert b.large_communities == ("64500:1:1", "64500:4:4", "64500:2:2")


def test_no_advertise_is_on_by_default_and_can_be_switched_off():
    assert InjectConfig().route_communities() == ("no-export", "no-advertise")
    assert InjectConfig(no_advertise=False).route_communities() == ("no-export",)
    assert InjectConfig(communities=["1:2"], no_advertise=True).route_communities() == (
        "no-export",
        "1:2",
        "no-advertise",
    )
    with pytest.raises(ValidationError, match="no_advertise is false"):
        InjectConfig(no_advertise=False, communities=["no-export", "no-advertise"])


@pytest.mark.parametrize("bad", ["1:2", "1:2:3:4", "4294967296:1:1", "a:b:c"])
def test_bad_large_communities_are_rejected(bad):
    with pytest.raises(ValidationError, match="not a large community"):
        InjectConfig(large_communities=[bad])


def test_as_path_is_empty_unless_learned_is_asked():
    want = DesiredRoute("198.18.1.0/24", "isp1", as_path=(65001, 64601))
    inj, sp = make()
    run(inj.set_desired([want]))
    assert sp.rib_out["r1"]["198.18.1.0/24"].as_path == ()
    inj, sp = make(as_path="learned")
    run(inj.set_desired([want]))
    assert sp.rib_out["r1"]["198.18.1.0/24"].as_path == (65001, 64601)


def test_every_reason_a_route_is_injected_for_can_carry_its_own_attributes():
    """A reason missing from the config's list could not be given a community or a
    LOCAL_PREF of its own (as_incident, commit and maintenance were)."""
    never_injected = {"default", "excluded", "uncontrolled", "deferred"}
    assert set(REASON_LABELS) - never_injected <= set(get_args(InjectReason))
    inj, sp = make(
        communities_by_reason={"as_incident": ["64500:16"], "commit": ["64500:14"]},
        local_preference_by_reason={"maintenance": 420},
    )
    run(
        inj.set_desired(
            [
                DesiredRoute("198.18.1.0/24", "isp1", reason="as_incident"),
                DesiredRoute("198.18.2.0/24", "isp2", reason="commit"),
                DesiredRoute("198.18.3.0/24", "isp1", reason="maintenance"),
            ]
        )
    )
    out = sp.rib_out["r1"]
    assert "64500:16" in out["198.18.1.0/24"].communities
    assert "64500:14" in out["198.18.2.0/24"].communities
    assert out["198.18.3.0/24"].local_pref == 420
