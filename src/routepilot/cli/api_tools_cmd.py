"""`routepilot api …`: the REST API itself, without a controller.

``fake`` serves the API over made-up data (api/fake.py), for trying the
dashboard and the CLI without a network; ``openapi`` prints the spec;
``alert-test`` sends a test alert to every configured receiver.
"""

from __future__ import annotations

import time

import typer

from routepilot.cli.common import fail

api_app = typer.Typer(help="The REST API itself: a fake controller to try it, its spec.")


@api_app.command("fake")
def serve_fake(
    listen: str = typer.Option("127.0.0.1", "--listen", help="Address to listen on."),
    port: int = typer.Option(8080, "--port", min=0, max=65535, help="TCP port (0: any free)."),
    write_token: str | None = typer.Option(None, "--write-token", help="Enables actions."),
    read_token: str | None = typer.Option(None, "--read-token", help="Protects reads."),
) -> None:
    """Serve the API and dashboard over made-up, consistent data (no network needed)."""
    import asyncio

    from routepilot.api.app import create_app
    from routepilot.api.config import ApiConfig
    from routepilot.api.fake import FakeView
    from routepilot.api.server import ApiServer

    config = ApiConfig(
        listen=listen, port=port or 8080, write_token=write_token, read_token=read_token
    )
    from routepilot.api.fake_ondemand import fake_measurer

    view = FakeView()
    server = ApiServer(create_app(view, config, measurer=fake_measurer(view)), listen, port)

    async def serve() -> None:
        await server.start()
        typer.echo(f"fake controller API on {server.url}/api/v1 (Ctrl-C stops)", err=True)
        try:
            await asyncio.Event().wait()
        finally:
            await server.stop()

    try:
        asyncio.run(serve())
    except OSError as exc:
        fail(str(exc.strerror or exc), 1)
    except KeyboardInterrupt:
        pass


@api_app.command("openapi")
def openapi(
    output: str | None = typer.Argument(None, help="File to write (default: standard output)."),
) -> None:
    """Print (or write) the OpenAPI spec, as committed in docs/openapi.json."""
    from routepilot.api.openapi import main

    main([output] if output else [])


@api_app.command("alert-test")
def alert_test(
    config_file: str = typer.Option(..., "-c", "--config", help="routepilot's YAML config."),
) -> None:
    """Send a test alert to every configured receiver (webhooks, email, SNMP traps) and say
    which accepted it."""
    import asyncio

    from routepilot.alerts.component import Alerting
    from routepilot.alerts.manager import Alert
    from routepilot.config import Config, ConfigError, load_file

    try:
        config = load_file(config_file, Config)
    except ConfigError as exc:
        fail(str(exc))
    alerts = config.alerts
    targets = [f"webhook {i} {h.shown}" for i, h in enumerate(alerts.webhooks)]
    targets += [f"email {i} {m.smtp_host}:{m.smtp_port}" for i, m in enumerate(alerts.email)]
    targets += [f"snmp {i} {t.host}:{t.port}" for i, t in enumerate(alerts.snmp_traps)]
    if not targets:
        fail(f"{config_file}: no alerts.webhooks, alerts.email or alerts.snmp_traps configured")
    now = time.time()
    alert = Alert(
        "test",
        "routepilot",
        "firing",
        "info",
        "routepilot test alert: receivers work",
        {},
        now,
        now,
    )
    # One attempt each, and no filter: the point is to see what a receiver answers.
    once = alerts.model_copy(update={"max_attempts": 1})
    timeouts = [h.timeout_s for h in alerts.webhooks] + [m.timeout_s for m in alerts.email]

    async def send() -> Alerting:
        alerting = Alerting(once)
        await alerting.start()
        for receiver in alerting.sender.receivers:
            receiver.queue.put_nowait(alert)
        await alerting.sender.drain(max(timeouts, default=1.0) + 1)
        await alerting.stop()
        return alerting

    alerting = asyncio.run(send())
    sent = alerting.sender.metrics.sent
    ok = 0
    for receiver, target in zip(alerting.sender.receivers, targets, strict=True):
        accepted = sent.get(receiver.id, 0) > 0
        ok += accepted
        typer.echo(f"{target}: {'accepted' if accepted else 'FAILED (see log)'}")
    if ok < len(targets):
        raise typer.Exit(1)
