"""The composition root: the one place where the stages are built and wired.

Every component is built here from its own configuration section and handed
its collaborators; no stage sees the whole configuration, and no other module
builds a component of another stage. ``routepilot run`` (``cli/run_cmd.py``)
parses its arguments and calls :func:`main`; tests call :func:`build_stages`
with fakes for what they do not want real.

Order of construction: store, speaker, RIB, injector, flows (pipeline and
collector), prober, telemetry (SNMP, when enabled), controller; then the surfaces
that read the controller (view, alerts, API). Start and stop go in that order and its reverse.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, NoReturn

from routepilot import gctune
from routepilot.config.load import ConfigError, load_file, validate
from routepilot.config.models import Config
from routepilot.diagnose.component import Diagnosis
from routepilot.diagnose.paths import hop_asn
from routepilot.flows.collector import FlowCollector
from routepilot.flows.pipeline import FlowPipeline
from routepilot.ha.leader import Leadership
from routepilot.inject.injector import Injector
from routepilot.inject.routers import plans
from routepilot.log import get_logger, setup_logging
from routepilot.probe.component import Prober
from routepilot.probe.interface import ProberInterface
from routepilot.probe.ondemand import OnDemand
from routepilot.probe.trace import Tracer
from routepilot.probe.worker import ProberProcess
from routepilot.rib.bmp import BmpStation
from routepilot.rib.bmp.process import StationProcess
from routepilot.rib.rib import Rib
from routepilot.rib.speaker import Speaker, make_speaker
from routepilot.rib.speaker.gobgp_api import StubsMissing
from routepilot.rib.table import PathLimits
from routepilot.run.bmp import BmpFeed
from routepilot.run.controller import Controller, Stages
from routepilot.run.maintenance import MaintenanceBook
from routepilot.run.reload import ReloadRefused, changed_keys, restart_only, sections
from routepilot.run.telemetry import TelemetryRunner, TelemetrySource
from routepilot.run.view import DaemonView
from routepilot.store import AsyncStore, ControlEvent, Store, StoreError, ThreadedSink, open_store
from routepilot.telemetry.config import SnmpAgentConfig
from routepilot.telemetry.poller import Telemetry
from routepilot.telemetry.snmp import SnmpClient

log = get_logger("routepilot.run")

ProberFactory = Callable[[ThreadedSink], ProberInterface]
"""Builds the prober, given the sink it writes its rollups to."""


class StartupError(Exception):
    """The daemon cannot start; the message is meant for the operator."""


# -- the stages ------------------------------------------------------------------------------


def build_rib(config: Config, clock: Callable[[], float]) -> Rib:
    """The RIB knows the routers, the providers' next-hops, and what our own injected
    routes look like (so that it never counts them as a provider's path)."""
    return Rib(
        [r.name for r in config.routers],
        [(p.name, p.next_hops) for p in config.providers],
        own_local_pref=config.inject.local_preferences(),
        own_communities=config.inject.route_communities(),
        default_local_pref=config.rib.default_local_pref,
        clock=clock,
        sync_quiet_time=config.rib.sync_quiet_time,
        limits=PathLimits(
            config.rib.max_prefixes,
            config.rib.max_paths_per_prefix,
            config.rib.max_paths_per_router,
        ),
        sync_first_path_wait=config.rib.sync_first_path_wait,
        families=config.rib.speaker.families,
        egress=config.egress() if any(r.providers for r in config.routers) else None,
    )


def build_bmp(config: Config, rib: Rib, clock: Callable[[], float]) -> BmpFeed | None:
    """The BMP station, when a router's ``route_source`` uses BMP (None otherwise)."""
    sources = {r.name: r.route_source for r in config.routers}
    if all(s == "addpath" for s in sources.values()):
        return None
    routers = {
        str(r.bmp_address or r.address): r.name
        for r in config.routers
        if r.route_source != "addpath"
    }
    bmp = config.rib.bmp
    kind = StationProcess if bmp.process else BmpStation
    station = kind(routers, bmp.listen, bmp.port, bmp.max_message)
    return BmpFeed(station, rib, build_rib(config, clock), sources)


def build_injector(config: Config, speaker: Speaker, clock: Callable[[], float]) -> Injector:
    providers = [(p.name, p.next_hops) for p in config.providers]
    routers = plans([(r.name, r.providers, r.next_hops, r.route_reflector) for r in config.routers])
    return Injector(config.inject, providers, speaker, clock, routers)


def real_prober(config: Config) -> ProberFactory | None:
    """The prober when probing is enabled: in a worker process of its own with
    ``probe.process`` (the default), else in the daemon's."""
    if not config.probe.enabled:
        return None
    kind = ProberProcess if config.probe.process else Prober

    def factory(sink: ThreadedSink) -> ProberInterface:
        return kind(config.probe, config.providers, sink=sink)

    return factory


def build_telemetry(
    config: Config,
    store: AsyncStore,
    client_factory: Callable[[SnmpAgentConfig], SnmpClient] | None = None,
) -> TelemetryRunner | None:
    """The SNMP poller when ``telemetry.enabled``, with the providers' commits (billing
    groups bring their own), its ledger kept in ``store``. ``client_factory`` None: pysnmp."""
    if not config.telemetry.enabled:
        return None
    commits = {p.name: p.commit_mbps for p in config.providers}
    poller = Telemetry(config.telemetry, commits_mbps=commits, client_factory=client_factory)
    return TelemetryRunner(poller, store)


def build_leadership(config: Config, store: Store) -> Leadership | None:
    """Leadership on the PostgreSQL store when ``ha.enabled``; the store's writes are then
    fenced by the epoch it holds."""
    if not config.ha.enabled:
        return None
    from routepilot.ha.lease import PgLease

    ha = config.ha
    # A lease call that outlives the time left to the deadline is of no use.
    leadership = Leadership(ha, PgLease(config.store, max(1.0, ha.lease_s - ha.margin_s)))
    store.fence = leadership  # type: ignore[attr-defined]
    return leadership


def build_diagnosis(config: Config, controller: Controller) -> Diagnosis | None:
    """diagnose/ over the controller's RIB and store, with a tracer through every provider,
    when ``diagnose.enabled`` and probing is on (it diagnoses measurements)."""
    if not config.diagnose.enabled or controller.prober is None:
        return None
    d = config.diagnose
    diagnosis = Diagnosis(
        d, config.providers, controller.rib.learned_path, store=controller.store,
        clock=controller.clock,
    )  # fmt: skip
    diagnosis.tracer = Tracer(
        Tracer.of_providers(config.providers),
        diagnosis.asn_of,
        max_hops=d.max_hops,
        timeout_s=d.trace_timeout_s,
        concurrency=d.concurrent_traces,
        clock=controller.clock,
    )
    return diagnosis


def build_ondemand(config: Callable[[], Config], controller: Controller) -> OnDemand | None:
    """On-demand probes and traceroutes (``POST /api/v1/probe``), when probing is enabled:
    in this process, like the prober and the tracer, with the providers' own steering, held
    to the learned RIB's prefixes. ``config`` is read at each request, so a reload applies."""
    if not config().probe.enabled:
        return None
    rib = controller.rib

    def route_of(host: str) -> tuple[str, tuple[str, ...]] | None:
        prefix = rib.covering(host)
        if prefix is None:
            return None
        names = {p["provider"] for p in rib.paths(prefix) if p["provider"] and not p["own"]}
        return prefix, tuple(n for n in rib.providers if n in names)

    def asn_of(address: str) -> int | None:
        return hop_asn(rib.learned_path, rib.providers, address)

    return OnDemand(
        lambda: config().probe,
        lambda: Tracer.of_providers(config().providers),
        route_of,
        asn_of,
    )


def build_stages(
    config: Config,
    *,
    store: AsyncStore,
    speaker: Speaker,
    prober_factory: ProberFactory | None = None,
    clock: Callable[[], float] = time.time,
    snmp_client_factory: Callable[[SnmpAgentConfig], SnmpClient] | None = None,
    telemetry: TelemetrySource | None = None,
    leadership: Leadership | None = None,
) -> Stages:
    """Every stage the controller drives, each from its own section.

    ``prober_factory`` None means no prober; :func:`real_prober` gives the real one.
    ``telemetry`` replaces the SNMP poller (a test's fake); else the poller is built
    when ``telemetry.enabled``, its agents reached through ``snmp_client_factory``
    (pysnmp when None).
    """
    sink = store.sink()
    pipeline = FlowPipeline(
        config.flows, config.providers, config.prefixes, sink=sink, start=clock(), rates=sink
    )
    collector = FlowCollector(config.flows, pipeline, clock) if config.flows.enabled else None
    rib = build_rib(config, clock)
    return Stages(
        speaker=speaker,
        rib=rib,
        injector=build_injector(config, speaker, clock),
        pipeline=pipeline,
        store=store,
        sink=sink,
        collector=collector,
        prober=prober_factory(sink) if prober_factory else None,
        telemetry=TelemetryRunner(telemetry, store)
        if telemetry is not None
        else build_telemetry(config, store, snmp_client_factory),
        maintenance=MaintenanceBook(
            config.maintenance, [p.name for p in config.providers], store, clock
        ),
        leadership=leadership,
        resume_max_age_s=config.ha.resume_max_age_s,
        bmp=build_bmp(config, rib, clock),
    )


def build_controller(
    config: Config, stages: Stages, *, clock: Callable[[], float] = time.time
) -> Controller:
    return Controller(
        config.controller,
        config.policy,
        config.providers,
        [r.name for r in config.routers],
        stages,
        clock=clock,
    )


def open_stages(config: Config) -> Stages:
    """The production stages: the configured database, speaker backend and prober."""
    try:
        raw = open_store(config.store)
    except StoreError as exc:
        raise StartupError(str(exc)) from None
    leadership = build_leadership(config, raw)
    try:
        speaker = make_speaker(config.rib.speaker, config.routers)
    except StubsMissing as exc:
        raise StartupError(str(exc)) from None
    return build_stages(
        config,
        store=AsyncStore(raw),
        speaker=speaker,
        prober_factory=real_prober(config),
        leadership=leadership,
    )


def unmask(data: dict, current: dict) -> dict:
    """A configuration as ``GET /api/v1/config`` shows it has its secrets as ``***``:
    those keep the value in force, so that reading, editing and putting back works."""
    out: dict = {}
    for key, value in data.items():
        mine = current.get(key) if isinstance(current, dict) else None
        if value == "***" and any(w in str(key).lower() for w in ("token", "secret", "password")):
            out[key] = mine
        elif isinstance(value, dict):
            out[key] = unmask(value, mine if isinstance(mine, dict) else {})
        else:
            out[key] = value
    return out


# -- the daemon --------------------------------------------------------------------------------


class Daemon:
    """The controller and the surfaces that read it: view, alerts, REST API."""

    def __init__(
        self,
        config: Config,
        controller: Controller,
        api_socket: socket.socket | None = None,
        config_path: Path | None = None,
    ) -> None:
        from routepilot.alerts.component import Alerting

        self.config = config
        self.controller = controller
        self.api_socket = api_socket
        self.config_path = config_path
        """The file a reload re-reads (None: the daemon was given no file)."""
        self._reload_lock = asyncio.Lock()
        self.alerting = Alerting(config.alerts)
        self.view: DaemonView | None = None
        self.diagnosis: Diagnosis | None = None
        self._tasks: list[asyncio.Task] = []
        self._stack = contextlib.AsyncExitStack()

    async def start(self) -> None:
        """Starts the controller, then the alerts and the API over its view; a failure
        half-way stops what was started."""
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        try:
            await self.controller.start()
        except OSError as exc:
            with contextlib.suppress(Exception):
                await self.controller.stop()
            raise StartupError(f"cannot start: {exc}") from None
        self._stack.push_async_callback(self.controller.stop)
        view = DaemonView(
            self.controller,
            asyncio.get_running_loop(),
            self.config.model_dump(mode="json"),
            reloader=self,
        )
        self.view = view
        await self.alerting.start()
        self._stack.push_async_callback(self.alerting.stop)
        every_s = min(self.config.controller.cycle_s, 5.0)
        self._tasks.append(asyncio.create_task(self._watch_alerts(view, every_s), name="alerts"))
        await self._start_diagnosis(view)
        if self.api_socket is not None:
            await self._start_api(view)

    async def _start_diagnosis(self, view: DaemonView) -> None:
        """Incidents from the controller's rounds: re-probes what crosses an AS an open
        incident names and has decide/ prefer the providers that avoid it, alerts on open
        and close, served through the view."""
        diagnosis = build_diagnosis(self.config, self.controller)
        if diagnosis is None:
            return
        self.diagnosis = diagnosis
        await diagnosis.start()
        self._stack.push_async_callback(diagnosis.stop)
        self.controller.as_incidents = lambda: diagnosis.crossing
        diagnosis.listeners.append(self.alerting.incident)
        view.diagnosis = diagnosis
        every_s = self.config.diagnose.interval_s
        self._tasks.append(asyncio.create_task(self._diagnose(diagnosis, every_s), name="diagnose"))

    async def _diagnose(self, diagnosis: Diagnosis, every_s: float) -> None:
        """Correlates the controller's latest snapshots every ``every_s``."""
        while True:
            await asyncio.sleep(every_s)
            inputs = self.controller.last_inputs
            # A standby's writes are fenced: the active diagnoses, the standby reads its
            # incidents from the shared store (DaemonView.incidents).
            if inputs is None or self.controller.standby:
                continue
            traffic, routes, meas = inputs
            try:
                await diagnosis.round(self.controller.clock(), traffic, routes, meas)
            except Exception as exc:  # the diagnosis must never take the controller down
                log.error("diagnosis failed", error=repr(exc))

    async def _start_api(self, view: DaemonView) -> None:
        from routepilot.api.accounts import Accounts
        from routepilot.api.app import create_app
        from routepilot.api.server import ApiServer
        from routepilot.metrics import Registry, StageMetrics
        from routepilot.run.metrics import register_daemon

        # One registry for the whole daemon: every stage's collector, the alerts' and
        # (registered by the app) the API's and the view's.
        registry = Registry()
        others: list[StageMetrics] = [self.alerting.metrics]
        if self.diagnosis is not None:
            others.append(self.diagnosis.metrics)
        ondemand = build_ondemand(lambda: self.config, self.controller)
        if ondemand is not None:
            others.append(ondemand.metrics)
        register_daemon(registry, self.controller, *others)
        api = self.config.api
        # Users, their tokens and the audit log live in the daemon's store.
        accounts = Accounts(self.controller.store.accounts(), session_ttl_s=api.session_ttl_s)
        app = create_app(view, api, registry, accounts=accounts, measurer=ondemand)
        server = ApiServer(app, api.listen, api.port)
        await server.start(self.api_socket)
        self._stack.push_async_callback(server.stop)

    async def stop(self) -> None:
        """API first, then alerts, then the controller (which withdraws every route)."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self._stack.aclose()

    # -- changes without a restart (run/reload.py) ----------------------------------------

    def _appliers(self) -> dict[str, Callable[[Config], Coroutine[Any, Any, None]]]:
        """Who takes each live section of a reloaded configuration. A section not listed
        here (and not restart-only) is refused: add its applier when a stage grows one."""
        c = self.controller

        async def controller_side(cfg: Config) -> None:
            await c.reconfigure(
                policy=cfg.policy,
                settings=cfg.controller,
                providers=cfg.providers,
                maintenance=cfg.maintenance,
            )

        async def inject(cfg: Config) -> None:
            c.injector.reconfigure(cfg.inject)
            if cfg.inject.dry_run != self.config.inject.dry_run:
                await c.set_dry_run(cfg.inject.dry_run)

        async def probe(cfg: Config) -> None:
            if c.prober is not None:
                c.prober.reconfigure(cfg.probe)

        async def nothing(cfg: Config) -> None:
            """Read from the configuration when used (reports)."""

        return {
            "policy": controller_side,
            "controller": controller_side,
            "providers": controller_side,
            "maintenance": controller_side,
            "inject": inject,
            "probe": probe,
            "sla": nothing,
        }

    async def reload_file(self, source: str = "file") -> dict:
        """Re-reads the configuration file and applies it (SIGHUP, the API's reload)."""
        if self.config_path is None:
            await self._refuse(source, "the daemon was started without a configuration file", 409)
        assert self.config_path is not None
        try:
            new = load_file(self.config_path, Config)
        except ConfigError as exc:
            await self._refuse(source, str(exc), 400)
        return await self.apply_config(new, source)

    async def apply_data(self, data: object, source: str = "api") -> dict:
        """A whole configuration as parsed JSON (``PUT /api/v1/config``)."""
        if isinstance(data, dict):
            data = unmask(data, self.config.model_dump(mode="json"))
        try:
            new = validate(data, Config, "request body")
        except ConfigError as exc:
            await self._refuse(source, str(exc), 400)
        return await self.apply_config(new, source)

    async def apply_config(self, new: Config, source: str) -> dict:
        """Applies what changed between the configuration in force and ``new``, all of
        it or (ReloadRefused) none of it."""
        async with self._reload_lock:
            changed = changed_keys(self.config.model_dump(mode="json"), new.model_dump(mode="json"))
            blocked = restart_only(changed)
            if blocked:
                await self._refuse(
                    source, f"needs a restart: {', '.join(blocked)}; nothing was applied", 409
                )
            appliers = self._appliers()
            orphans = [s for s in sections(changed) if s not in appliers]
            if orphans:
                await self._refuse(
                    source,
                    f"needs a restart (no live applier): {', '.join(orphans)}; nothing was applied",
                    409,
                )
            done: set[int] = set()
            for section in sections(changed):
                fn = appliers[section]
                if id(fn) not in done:  # one call per applier, whatever it covers
                    done.add(id(fn))
                    await fn(new)
            self.config = new
            if self.view is not None:
                self.view.set_settings(new.model_dump(mode="json"))
            what = ", ".join(changed) or "nothing changed"
            log.info("configuration applied", source=source, changed=what)
            await self._journal("config_applied", f"{source}: {what}")
            return {"applied": True, "changed": changed, "source": source,
                    "time": self.controller.clock()}  # fmt: skip

    async def _refuse(self, source: str, why: str, status: int) -> NoReturn:
        log.warning("configuration refused", source=source, error=why.replace("\n", "; "))
        await self._journal("config_refused", f"{source}: {why}")
        raise ReloadRefused(why, status)

    async def _journal(self, kind: str, detail: str) -> None:
        try:
            await self.controller.store.append_event(
                ControlEvent(self.controller.clock(), kind, detail)
            )
        except Exception as exc:
            log.error("control journal write failed", kind=kind, error=repr(exc))

    async def reload_on_signal(self) -> None:
        """SIGHUP: a refusal is logged and journaled; the daemon carries on as it was."""
        try:
            await self.reload_file("sighup")
        except ReloadRefused:
            pass

    async def _watch_alerts(self, view: DaemonView, every_s: float) -> None:
        """Feeds the alert manager the controller's state; it sends on transitions only."""
        while True:
            await asyncio.sleep(every_s)
            try:
                self.alerting.observe(*view.alert_view())
            except Exception as exc:  # alerting must never take the controller down
                log.error("alerting failed", error=repr(exc))


async def serve(
    config: Config, api_socket: socket.socket | None, config_path: Path | None = None
) -> None:
    """Runs the daemon until SIGTERM or SIGINT; SIGHUP re-reads ``config_path``."""
    daemon = Daemon(config, build_controller(config, open_stages(config)), api_socket, config_path)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(
        signal.SIGHUP, lambda: daemon.controller.spawn(daemon.reload_on_signal())
    )
    try:
        await daemon.start()
        await stop.wait()
        log.info("stopping: withdrawing every injected route")
    finally:
        await daemon.stop()


def main(
    config: Config,
    *,
    netns: str | None = None,
    serve_api: bool = True,
    config_path: Path | None = None,
) -> None:
    """``routepilot run``: raises StartupError with a message for the operator.

    The API's socket is opened on the host before the process enters ``netns``,
    so the API stays reachable there while every other socket lives in the lab.
    """
    setup_logging(config.log_level)
    api_socket = None
    if serve_api:
        from routepilot.api.server import bind

        try:
            api_socket = bind(config.api.listen, config.api.port)
        except OSError as exc:
            raise StartupError(str(exc)) from None
    if netns:
        from routepilot.run.netns import enter

        try:
            enter(netns)
        except OSError as exc:
            raise StartupError(str(exc)) from None
    gctune.tune()
    asyncio.run(serve(config, api_socket, config_path))
