"""The contract both injectors keep: the real one (over a fake speaker) and the fake."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from routepilot.config.inject import InjectConfig
from routepilot.inject.fake import FakeInjector
from routepilot.inject.injector import DesiredRoute, Injector
from routepilot.rib.speaker.fake import FakeSpeaker

PROVIDERS = [("isp1", ["100.64.1.1", "2001:db8:ffff:1::1"]), ("isp2", ["100.64.2.1"])]


def real(config: InjectConfig) -> Injector:
    return Injector(config, PROVIDERS, FakeSpeaker(["r1"]), clock=lambda: 7.0)


def fake(config: InjectConfig) -> FakeInjector:
    return FakeInjector(PROVIDERS, config)


BOTH = pytest.mark.parametrize("build", [real, fake], ids=["injector", "fake"])


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


@BOTH
def test_announces_what_is_desired_and_counts_the_difference(build: Callable) -> None:
    async def body() -> None:
        inj = build(InjectConfig(dry_run=False, max_routes=3))
        await inj.start()
        first = await inj.set_desired(
            [
                DesiredRoute("198.18.1.0/24", "isp2"),
                DesiredRoute("2001:db8:1::/48", "isp1"),
                DesiredRoute("198.18.1.0/24", "isp1"),  # duplicate: the first one wins
                DesiredRoute("198.18.2.0/24", "isp9"),  # unknown provider
                DesiredRoute("198.18.3.0/24", "isp1"),
                DesiredRoute("198.18.4.0/24", "isp1"),  # over the cap
            ]
        )
        assert (first.announced, first.withdrawn, first.rejected, first.capped) == (3, 0, 2, 1)
        assert {p: r.next_hop for p, r in inj.announced.items()} == {
            "198.18.1.0/24": "100.64.2.1",
            "2001:db8:1::/48": "2001:db8:ffff:1::1",
            "198.18.3.0/24": "100.64.1.1",
        }
        route = inj.announced["198.18.1.0/24"]
        assert route.local_pref == 500 and route.communities == ("no-export", "no-advertise")
        second = await inj.set_desired([DesiredRoute("198.18.1.0/24", "isp1")])
        assert (second.announced, second.withdrawn) == (1, 2)
        await inj.stop()
        assert inj.announced == {}

    run(body())


@BOTH
def test_dry_run_is_switched_at_run_time_and_keeps_the_configuration(build: Callable) -> None:
    async def body() -> None:
        config = InjectConfig(dry_run=True)
        inj = build(config)
        assert inj.dry_run is True
        await inj.set_dry_run(False)
        assert inj.dry_run is False
        assert config.dry_run is True and inj.config.dry_run is True

    run(body())
