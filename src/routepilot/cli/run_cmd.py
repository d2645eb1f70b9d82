"""`routepilot run -c FILE`: the daemon."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from pathlib import Path

import typer

from routepilot.cli.common import fail
from routepilot.config import Config, ConfigError, load_file
from routepilot.log import get_logger, setup_logging

log = get_logger("routepilot.run")


def run(
    config_path: Path = typer.Option(..., "--config", "-c", help="Configuration file (YAML)."),
    netns: str | None = typer.Option(
        None, "--netns", help="Run inside this network namespace; the API stays on the host."
    ),
    api: bool = typer.Option(True, "--api/--no-api", help="Serve the REST API and dashboard."),
) -> None:
    """Run the controller: collect flows, learn routes, probe, decide, inject."""
    try:
        config = load_file(config_path, Config)
    except ConfigError as exc:
        fail(str(exc))
    setup_logging(config.log_level)
    api_socket = _bind_api(config) if api else None
    if netns:
        from routepilot.run.netns import enter

        try:
            enter(netns)
        except OSError as exc:
            fail(str(exc))
    try:
        asyncio.run(_main(config, api_socket))
    except _StartupError as exc:
        fail(str(exc))


class _StartupError(Exception):
    pass


def _bind_api(config: Config) -> socket.socket:
    from routepilot.api.server import bind

    try:
        return bind(config.api.listen, config.api.port)
    except OSError as exc:
        fail(str(exc))


def _build(config: Config):  # type: ignore[no-untyped-def]
    from routepilot.probe.component import Prober
    from routepilot.rib.speaker.exabgp import ExaBGPSpeaker
    from routepilot.run.controller import Controller
    from routepilot.store import AsyncStore, StoreError, open_store

    try:
        store = AsyncStore(open_store(config.store))
    except StoreError as exc:
        raise _StartupError(str(exc)) from None
    speaker = ExaBGPSpeaker(config.rib.speaker, config.routers)
    factory = None
    if config.probe.enabled:

        def factory(sink):  # type: ignore[no-untyped-def]
            return Prober(config.probe, config.providers, sink=sink)

    return Controller(config, speaker, store=store, prober_factory=factory)


async def _watch_alerts(alerting, view, every_s: float) -> None:  # type: ignore[no-untyped-def]
    """Feeds the alert manager the controller's state; it sends on transitions only."""
    while True:
        await asyncio.sleep(every_s)
        try:
            alerting.observe(view.status(), view.providers())
        except Exception as exc:  # alerting must never take the controller down
            log.error("alerting failed", error=repr(exc))


async def _main(config: Config, api_socket: socket.socket | None) -> None:
    from routepilot.api.alerts import Alerting
    from routepilot.metrics import Registry
    from routepilot.run.metrics import register_daemon
    from routepilot.run.view import DaemonView

    controller = _build(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await controller.start()
    except (OSError, PermissionError) as exc:
        with contextlib.suppress(Exception):
            await controller.stop()
        raise _StartupError(f"cannot start: {exc}") from None
    view = DaemonView(controller, loop)
    alerting = Alerting(config.alerts)
    await alerting.start()
    watch = asyncio.create_task(
        _watch_alerts(alerting, view, min(config.controller.cycle_s, 5.0)), name="alerts"
    )
    server = None
    if api_socket is not None:
        from routepilot.api.app import create_app
        from routepilot.api.server import ApiServer

        registry = Registry()
        register_daemon(registry, controller, alerting.metrics)
        app = create_app(view, config.api, registry)
        server = ApiServer(app, config.api.listen, config.api.port)
        await server.start(api_socket)
    await stop.wait()
    log.info("stopping: withdrawing every injected route")
    watch.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watch
    if server is not None:
        await server.stop()
    await alerting.stop()
    await controller.stop()
