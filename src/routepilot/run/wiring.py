"""The composition root: the one place where the stages are built and wired.

Every component is built here from its own configuration section and handed
its collaborators; no stage sees the whole configuration, and no other module
builds a component of another stage. ``routepilot run`` (``cli/run_cmd.py``)
parses its arguments and calls :func:`main`; tests call :func:`build_stages`
with fakes for what they do not want real.

Order of construction: store, speaker, RIB, injector, flows (pipeline and
collector), prober, controller; then the surfaces that read the controller
(view, alerts, API). Start and stop go in that order and its reverse.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import time
from collections.abc import Callable

from routepilot.config.models import Config
from routepilot.flows.collector import FlowCollector
from routepilot.flows.pipeline import FlowPipeline
from routepilot.inject.injector import Injector
from routepilot.log import get_logger, setup_logging
from routepilot.probe.component import Prober
from routepilot.rib.rib import Rib
from routepilot.rib.speaker import Speaker, make_speaker
from routepilot.run.controller import Controller, Stages
from routepilot.run.view import DaemonView
from routepilot.store import AsyncStore, StoreError, ThreadedSink, open_store

log = get_logger("routepilot.run")

ProberFactory = Callable[[ThreadedSink], Prober]
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
        own_local_pref=config.inject.local_preference,
        own_communities=config.inject.communities,
        default_local_pref=config.rib.default_local_pref,
        clock=clock,
        sync_quiet_time=config.rib.sync_quiet_time,
    )


def build_injector(config: Config, speaker: Speaker, clock: Callable[[], float]) -> Injector:
    providers = [(p.name, p.next_hops) for p in config.providers]
    return Injector(config.inject, providers, speaker, clock)


def real_prober(config: Config) -> ProberFactory | None:
    """The in-process prober when probing is enabled."""
    if not config.probe.enabled:
        return None

    def factory(sink: ThreadedSink) -> Prober:
        return Prober(config.probe, config.providers, sink=sink)

    return factory


def build_stages(
    config: Config,
    *,
    store: AsyncStore,
    speaker: Speaker,
    prober_factory: ProberFactory | None = None,
    clock: Callable[[], float] = time.time,
) -> Stages:
    """Every stage the controller drives, each from its own section.

    ``prober_factory`` None means no prober; :func:`real_prober` gives the real one.
    """
    sink = store.sink()
    pipeline = FlowPipeline(
        config.flows, config.providers, config.prefixes, sink=sink, start=clock(), rates=sink
    )
    collector = FlowCollector(config.flows, pipeline, clock) if config.flows.enabled else None
    return Stages(
        speaker=speaker,
        rib=build_rib(config, clock),
        injector=build_injector(config, speaker, clock),
        pipeline=pipeline,
        store=store,
        sink=sink,
        collector=collector,
        prober=prober_factory(sink) if prober_factory else None,
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
        store = AsyncStore(open_store(config.store))
    except StoreError as exc:
        raise StartupError(str(exc)) from None
    speaker = make_speaker(config.rib.speaker, config.routers)
    return build_stages(config, store=store, speaker=speaker, prober_factory=real_prober(config))


# -- the daemon --------------------------------------------------------------------------------


class Daemon:
    """The controller and the surfaces that read it: view, alerts, REST API."""

    def __init__(
        self, config: Config, controller: Controller, api_socket: socket.socket | None = None
    ) -> None:
        from routepilot.api.alerts import Alerting

        self.config = config
        self.controller = controller
        self.api_socket = api_socket
        self.alerting = Alerting(config.alerts)
        self.view: DaemonView | None = None
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
            self.controller, asyncio.get_running_loop(), self.config.model_dump(mode="json")
        )
        self.view = view
        await self.alerting.start()
        self._stack.push_async_callback(self.alerting.stop)
        every_s = min(self.config.controller.cycle_s, 5.0)
        self._tasks.append(asyncio.create_task(self._watch_alerts(view, every_s), name="alerts"))
        if self.api_socket is not None:
            await self._start_api(view)

    async def _start_api(self, view: DaemonView) -> None:
        from routepilot.api.app import create_app
        from routepilot.api.server import ApiServer
        from routepilot.metrics import Registry
        from routepilot.run.metrics import register_daemon

        # One registry for the whole daemon: every stage's collector, the alerts' and
        # (registered by the app) the API's and the view's.
        registry = Registry()
        register_daemon(registry, self.controller, self.alerting.metrics)
        api = self.config.api
        server = ApiServer(create_app(view, api, registry), api.listen, api.port)
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

    async def _watch_alerts(self, view: DaemonView, every_s: float) -> None:
        """Feeds the alert manager the controller's state; it sends on transitions only."""
        while True:
            await asyncio.sleep(every_s)
            try:
                self.alerting.observe(view.status(), view.providers())
            except Exception as exc:  # alerting must never take the controller down
                log.error("alerting failed", error=repr(exc))


async def serve(config: Config, api_socket: socket.socket | None) -> None:
    """Runs the daemon until SIGTERM or SIGINT."""
    daemon = Daemon(config, build_controller(config, open_stages(config)), api_socket)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await daemon.start()
        await stop.wait()
        log.info("stopping: withdrawing every injected route")
    finally:
        await daemon.stop()


def main(config: Config, *, netns: str | None = None, serve_api: bool = True) -> None:
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
    asyncio.run(serve(config, api_socket))
