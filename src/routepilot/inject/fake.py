"""An in-memory injector for other stages' tests (the controller's, the API's).

:class:`FakeInjector` has the :class:`~routepilot.inject.injector.Injector`'s
surface: what is desired is announced at once, with the same announcement
(next-hop, LOCAL_PREF, communities) the real one builds, but without a speaker.
It records every round it is given and can be told to fail, to test what its
callers do when injection breaks. ``tests/unit/inject/test_fake.py`` runs the
same scenarios against both, so the fake cannot drift from the real thing.
"""

from __future__ import annotations

from collections.abc import Sequence

from routepilot.config.inject import InjectConfig
from routepilot.inject.injector import (
    Allowlist,
    DesiredRoute,
    ReconcileResult,
    announcement,
    attributes_for,
)
from routepilot.inject.metrics import InjectMetrics
from routepilot.rib.speaker.base import InjectedRoute, SpeakerEvent


class FakeInjector:
    """Announces what is desired at once; ``rounds`` and ``events`` say what it was given."""

    def __init__(
        self,
        providers: Sequence[tuple[str, Sequence[str]]],
        config: InjectConfig | None = None,
    ) -> None:
        """``providers`` is ``(name, next_hops)`` per provider, as for the real injector."""
        self.config = config or InjectConfig()
        self._next_hops = {name: tuple(hops) for name, hops in providers}
        self._dry_run = self.config.dry_run
        self.desired: dict[str, InjectedRoute] = {}
        self.announced: dict[str, InjectedRoute] = {}
        self.metrics = InjectMetrics()
        self.rounds: list[tuple[DesiredRoute, ...]] = []
        """Every desired set given to ``set_desired``, in order."""
        self.events: list[SpeakerEvent] = []
        """Every speaker event given to ``handle``."""
        self.running = False
        self.error: Exception | None = None
        """When set, every later call that would reach the routers raises it."""

    @property
    def dry_run(self) -> bool:
        return self._dry_run

    async def start(self) -> None:
        self.running = True

    def announced_count(self, router: str) -> int:
        """Every router gets every route here."""
        return len(self.announced)

    async def stop(self) -> None:
        """Withdraws everything (raises ``error`` instead, when set)."""
        self._check()
        self.desired = {}
        self.announced = {}
        self.running = False

    async def handle(self, event: SpeakerEvent) -> None:
        self.events.append(event)

    async def set_dry_run(self, on: bool) -> None:
        self._check()
        self._dry_run = on

    def route_for(self, want: DesiredRoute) -> InjectedRoute:
        a = attributes_for(self.config, want)
        return announcement(
            want,
            self._next_hops,
            a["local_preference"],  # type: ignore[arg-type]
            a["communities"],  # type: ignore[arg-type]
            a["large_communities"],  # type: ignore[arg-type]
            a["as_path"],  # type: ignore[arg-type]
        )

    async def set_desired(self, routes: Sequence[DesiredRoute]) -> ReconcileResult:
        self._check()
        self.rounds.append(tuple(routes))
        desired: dict[str, InjectedRoute] = {}
        rejected = capped = refused = 0
        allowlist = Allowlist(self.config.allowlist)
        for want in routes:
            if want.prefix not in allowlist:
                refused += 1
                continue
            try:
                route = self.route_for(want)
            except ValueError:
                rejected += 1
                continue
            if route.prefix in desired:
                rejected += 1
            elif len(desired) >= self.config.max_routes:
                capped += 1
            else:
                desired[route.prefix] = route
        announced = sum(1 for p, r in desired.items() if self.announced.get(p) != r)
        withdrawn = sum(1 for p in self.announced if p not in desired)
        self.desired = desired
        self.announced = dict(desired)
        self.metrics.refused_outside_allowlist += refused
        return ReconcileResult(announced, withdrawn, rejected, capped, refused)

    def _check(self) -> None:
        if self.error is not None:
            raise self.error
