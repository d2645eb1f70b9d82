"""Fixtures for the API tests: the app over FakeView, with and without tokens."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from routepilot.api.app import create_app
from routepilot.api.config import ApiConfig
from routepilot.api.fake import FakeView

READ = "read-token-123"
WRITE = "write-token-456"


def make_client(config: ApiConfig, view: FakeView | None = None, **kw) -> TestClient:
    kw.setdefault("static_dir", Path("/nonexistent"))
    return TestClient(create_app(view or FakeView(), config, **kw), raise_server_exceptions=False)


@pytest.fixture
def view() -> FakeView:
    return FakeView()


@pytest.fixture
def client(view: FakeView) -> TestClient:
    """Both tokens configured; sends the write token, which reads too."""
    c = make_client(ApiConfig(write_token=WRITE, read_token=READ), view)
    c.headers["Authorization"] = f"Bearer {WRITE}"
    return c
