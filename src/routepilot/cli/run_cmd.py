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
    family = socket.AF_INET6 if ":" in config.api.listen else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((config.api.listen, config.api.port))
    except OSError as exc:
        fail(f"cannot listen on {config.api.listen}:{config.api.port} for the API: {exc.strerror}")
    sock.listen(128)
    sock.setblocking(False)
    return sock


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


async def _serve_api(controller, config: Config, sock: socket.socket):  # type: ignore[no-untyped-def]
    try:
        import uvicorn

        from routepilot.api.app import create_app
    except ImportError as exc:
        log.warning("api not available", error=str(exc))
        return None
    from routepilot.run.metrics import render_metrics
    from routepilot.run.view import DaemonView

    view = DaemonView(controller, asyncio.get_running_loop())
    app = create_app(view, config.api, metrics=lambda: render_metrics(controller))
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    log.info("api listening", address=config.api.listen, port=config.api.port)
    return server, task


async def _main(config: Config, api_socket: socket.socket | None) -> None:
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
    served = await _serve_api(controller, config, api_socket) if api_socket else None
    await stop.wait()
    log.info("stopping: withdrawing every injected route")
    if served:
        server, task = served
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 5)
    await controller.stop()
