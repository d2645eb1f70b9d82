"""A real uvicorn server on 127.0.0.1 (a free port) over FakeView, in a thread of its own."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from routepilot.api.app import create_app
from routepilot.api.config import ApiConfig
from routepilot.api.fake import FakeView
from routepilot.api.server import ApiServer

READ = "it-read-token"
WRITE = "it-write-token"


class ServerThread:
    def __init__(self, view: FakeView, config: ApiConfig) -> None:
        app = create_app(view, config, static_dir=Path("/nonexistent"))
        self.server = ApiServer(app, "127.0.0.1", 0)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture
def fake_view() -> FakeView:
    return FakeView()


@pytest.fixture
def api_server(fake_view: FakeView) -> Iterator[ServerThread]:
    with ServerThread(fake_view, ApiConfig(write_token=WRITE, read_token=READ)) as server:
        yield server
