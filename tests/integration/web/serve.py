"""Serves a ControllerView through the real API, with the dashboard, on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

from routepilot.api.accounts import Accounts
from routepilot.api.app import create_app
from routepilot.api.config import ApiConfig
from routepilot.api.ondemand_routes import Measurer
from routepilot.api.view import ControllerView
from routepilot.web import STATIC_DIR


def make_app(
    view: ControllerView,
    config: ApiConfig | None = None,
    accounts: Accounts | None = None,
    measurer: Measurer | None = None,
) -> FastAPI:
    """The real API (by default reads open, no write token, no users) with the dashboard."""
    return create_app(
        view, config or ApiConfig(), static_dir=STATIC_DIR, accounts=accounts, measurer=measurer
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(
    view: ControllerView,
    config: ApiConfig | None = None,
    accounts: Accounts | None = None,
    measurer: Measurer | None = None,
) -> Iterator[str]:
    """Runs the app in a thread; yields its base URL; stops it on exit."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            make_app(view, config, accounts, measurer),
            host="127.0.0.1",
            port=port,
            log_level="warning",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test API server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
