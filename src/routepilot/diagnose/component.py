"""The diagnosis stage: each round, the measurements and paths in, incidents out.

``run/wiring.py`` builds it with the RIB's ``learned_path`` (AS paths and the longest
match for traceroute hops), a tracer (probe/trace.py) and the store, and calls
:meth:`Diagnosis.round` with the controller's latest snapshots. Listeners (alerts)
hear every incident that opens or closes; ``Diagnosis.reprobe`` is the set of prefixes
(with traffic, or measured) whose paths cross an AS of an open incident, which the
prober measures through every provider until the incident closes; ``Diagnosis.crossing``
says which provider's path crosses which of those ASes, and decide/ prefers the providers
that avoid them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from routepilot.config.diagnose import DiagnoseConfig
from routepilot.config.models import ProviderConfig
from routepilot.diagnose.correlate import AS, PREFIX, PROVIDER, correlate
from routepilot.diagnose.incidents import Changes, Incident, IncidentBook
from routepilot.diagnose.paths import LearnedPath, crossing, hop_asn, path_states
from routepilot.flows.snapshot import TrafficSnapshot
from routepilot.log import get_logger
from routepilot.metrics import Metric, StageMetrics, counter, gauge
from routepilot.probe.snapshot import MeasurementSnapshot
from routepilot.probe.trace import TRACES_KEPT, PathTrace, Tracer
from routepilot.rib.snapshot import RoutesSnapshot

log = get_logger(__name__)

OPENED = "opened"
CLOSED = "closed"
Listener = Callable[[str, Incident], object]
"""Told ``opened`` or ``closed`` and the incident; what it returns is ignored."""


class Diagnosis:
    """Incidents from the controller's snapshots; see the module docstring."""

    def __init__(
        self,
        config: DiagnoseConfig,
        providers: Sequence[ProviderConfig],
        learned_path: LearnedPath,
        *,
        store: object | None = None,
        tracer: Tracer | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.provider_names = tuple(p.name for p in providers)
        self.provider_asns = {p.name: p.asn for p in providers}
        self.learned_path = learned_path
        self.store = store
        self.tracer = tracer
        self.clock = clock
        self.book = IncidentBook(config.open_rounds, config.close_after_s)
        self.recent_closed: deque[Incident] = deque(maxlen=config.keep_closed)
        self.listeners: list[Listener] = []
        self.crossing: dict[str, dict[str, int]] = {}
        """prefix -> {provider: AS}: the paths that cross an open AS incident's AS, for
        decide/ (``DecisionInput.as_incidents``) to prefer the providers that avoid it."""
        self.rounds = 0
        self.opened_total = 0
        self.closed_total = 0
        self._last_trace: dict[tuple[str, str], float] = {}
        self._last_busiest = -float("inf")
        self._tasks: set[asyncio.Task] = set()
        self.metrics = DiagnosisMetrics(self)

    def asn_of(self, address: str) -> int | None:
        """The AS of a traceroute hop (the RIB's longest match)."""
        return hop_asn(self.learned_path, self.provider_names, address)

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Takes over the incidents the store still has open, and the traceroutes it kept
        (a restart)."""
        if self.store is None:
            return
        await self._restore_traces()
        try:
            rows = await self.store.incidents(None, 10000)  # type: ignore[attr-defined]
        except Exception as exc:
            log.error("incidents read failed", error=repr(exc))
            return
        self.book.adopt(Incident.from_dict(r) for r in rows)
        self.recent_closed.extend(
            sorted((Incident.from_dict(r) for r in rows if r.get("closed")), key=lambda i: i.id)
        )

    async def _restore_traces(self) -> None:
        """The stored traceroutes back into the tracer, for GET /api/v1/traces; a stored
        trace that does not parse is counted in the log and left out."""
        if self.tracer is None:
            return
        try:
            rows = await self.store.traces()  # type: ignore[union-attr]
        except Exception as exc:
            log.error("traces read failed", error=repr(exc))
            return
        kept, bad = [], 0
        for r in rows:
            try:
                kept.append(PathTrace.from_dict(r))
            except (KeyError, TypeError, ValueError):
                bad += 1
        if bad:
            log.warning("stored traces unreadable; left out", count=bad)
        self.tracer.restore(kept)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    # -- a round ----------------------------------------------------------------------------

    def traced_asns(self) -> dict[tuple[str, str], tuple[int, ...]]:
        if self.tracer is None:
            return {}
        return {k: t.asns() for k, t in self.tracer.latest.items()}

    @property
    def reprobe(self) -> frozenset[str]:
        """The prefixes with a path crossing an open incident's AS (``crossing``'s keys)."""
        return frozenset(self.crossing)

    def traces(self, prefix: str, provider: str | None = None) -> list[dict]:
        """The prefix's kept traceroutes (through ``provider`` only, when given), newest
        first, each with its hops mapped to ASNs and the time it ran."""
        if self.tracer is None:
            return []
        return [t.as_dict() for t in self.tracer.traces(prefix, provider)]

    def hops(self) -> dict[tuple[str, str], list[dict]]:
        if self.tracer is None:
            return {}
        return {k: [h.as_dict() for h in t.hops] for k, t in self.tracer.latest.items()}

    async def round(
        self,
        now: float,
        traffic: TrafficSnapshot | None,
        routes: RoutesSnapshot | None,
        meas: MeasurementSnapshot,
    ) -> Changes:
        """Correlates one snapshot; stores and announces what opened and closed."""
        traced = self.traced_asns()
        states = path_states(self.config, meas, routes, self.learned_path, traced)
        await asyncio.sleep(0)  # a turn for the API and flows between the two halves
        findings = correlate(states, self.provider_asns, self.config.min_prefixes)
        changes = self.book.round(now, findings, self.hops())
        self.rounds += 1
        await self._persist(changes)
        for inc in changes.opened:
            self.opened_total += 1
            log.warning("incident opened", id=inc.id, cause=inc.kind, asn=inc.asn,
                        provider=inc.provider, prefixes=len(inc.prefixes))  # fmt: skip
            self._tell(OPENED, inc)
        for inc in changes.closed:
            self.closed_total += 1
            self.recent_closed.append(inc)
            log.info("incident closed", id=inc.id, cause=inc.kind, asn=inc.asn,
                     provider=inc.provider)  # fmt: skip
            self._tell(CLOSED, inc)
        # The prefixes that matter: those with traffic, and those measured (a full table
        # holds far more, and walking it every round would cost more than it tells).
        known = list(dict.fromkeys([*(traffic.prefixes if traffic is not None else ()),
                                    *meas.prefixes]))  # fmt: skip
        self.crossing = crossing(
            known, self.provider_names, self.learned_path, traced, self.book.avoided_asns()
        )
        self._schedule_traces(now, traffic, routes, meas, [s.prefix for s in states if s.degraded])
        return changes

    def _tell(self, what: str, inc: Incident) -> None:
        for listener in self.listeners:
            try:
                listener(what, inc)
            except Exception as exc:  # a listener must never stop the diagnosis
                log.error("incident listener failed", error=repr(exc))

    async def _persist(self, changes: Changes) -> None:
        if self.store is None:
            return
        for inc in [*changes.opened, *changes.updated, *changes.closed]:
            try:
                await self.store.save_incident(inc.as_dict())  # type: ignore[attr-defined]
            except Exception as exc:
                log.error("incident write failed", id=inc.id, error=repr(exc))

    # -- traceroutes ------------------------------------------------------------------------

    def _schedule_traces(
        self,
        now: float,
        traffic: TrafficSnapshot | None,
        routes: RoutesSnapshot | None,
        meas: MeasurementSnapshot,
        degraded: Sequence[str],
    ) -> None:
        if self.tracer is None:
            return
        wanted: list[str] = list(dict.fromkeys(degraded)) if self.config.trace_degraded else []
        if (
            self.config.trace_busiest
            and traffic is not None
            and now - self._last_busiest >= self.config.busiest_every_s
        ):
            self._last_busiest = now
            total = np.asarray(traffic.bps).sum(axis=1) if len(traffic.prefixes) else []
            order = np.argsort(-np.asarray(total))[: self.config.trace_busiest]
            wanted += [traffic.prefixes[int(i)] for i in order if traffic.prefixes[int(i)]]
        for prefix in dict.fromkeys(wanted):
            targets = meas.targets.get(prefix, ())
            if not targets:
                continue
            for provider in self.provider_names:
                key = (prefix, provider)
                if key in self.tracer.running:
                    continue
                if now - self._last_trace.get(key, -float("inf")) < self.config.trace_every_s:
                    continue
                self._last_trace[key] = now
                task = asyncio.create_task(self._trace(prefix, provider, targets[0]))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _trace(self, prefix: str, provider: str, target: str) -> None:
        """One traceroute, kept by the tracer and stored (the newest ``TRACES_KEPT`` per
        path), so that a restart still serves it."""
        assert self.tracer is not None
        trace = await self.tracer.trace(prefix, provider, target)
        if trace is None or self.store is None:
            return
        try:
            await self.store.save_trace(trace.as_dict(), TRACES_KEPT)  # type: ignore[attr-defined]
        except Exception as exc:
            log.error("trace write failed", prefix=prefix, provider=provider, error=repr(exc))

    # -- reading --------------------------------------------------------------------------

    def incidents(self, include_closed: bool = True) -> list[dict]:
        """Open incidents first (newest first), then the recently closed ones."""
        out = sorted(self.book.open.values(), key=lambda i: -i.id)
        if include_closed:
            out += sorted(self.recent_closed, key=lambda i: -i.id)
        return [i.as_dict() for i in out]

    def metrics_dict(self) -> dict:
        return {
            "rounds": self.rounds,
            "open": len(self.book.open),
            "opened_total": self.opened_total,
            "closed_total": self.closed_total,
            "traces_total": self.tracer.traces_total if self.tracer else 0,
            "trace_errors_total": self.tracer.errors_total if self.tracer else 0,
        }


class DiagnosisMetrics(StageMetrics):
    """Incidents open by cause, opened and closed, rounds and traceroutes."""

    def __init__(self, diagnosis: Diagnosis) -> None:
        self.d = diagnosis

    def collect(self) -> Iterator[Metric]:
        d = self.d
        open_by = {k: 0 for k in (AS, PROVIDER, PREFIX)}
        for inc in d.book.open.values():
            open_by[inc.kind] = open_by.get(inc.kind, 0) + 1
        yield gauge(
            "routepilot_incidents_open", "Incidents open now, by cause.",
            labels=("cause",), values=open_by,
        )  # fmt: skip
        yield counter("routepilot_incidents_opened_total", "Incidents opened.", d.opened_total)
        yield counter("routepilot_incidents_closed_total", "Incidents closed.", d.closed_total)
        yield counter("routepilot_diagnosis_rounds_total", "Diagnosis rounds run.", d.rounds)
        tracer = d.tracer
        yield counter(
            "routepilot_traceroutes_total", "Traceroutes run through a provider.",
            tracer.traces_total if tracer else 0,
        )  # fmt: skip
        yield counter(
            "routepilot_traceroute_errors_total", "Traceroutes that could not run.",
            tracer.errors_total if tracer else 0,
        )  # fmt: skip
