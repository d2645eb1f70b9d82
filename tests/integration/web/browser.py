"""Debian's chromium driven by Playwright, for the dashboard tests.

Playwright's own browser download cannot work here (no internet), so the tests
use the system chromium with the flags that keep it off the network.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from routepilot.report.pdf import QUIET

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"
# The report's PDF printer keeps Chromium off the network with the same flags.
FLAGS = ["--no-sandbox", *(f for f in QUIET if f not in ("--headless", "--no-pdf-header-footer"))]


@contextmanager
def chromium_page(width: int = 1500, height: int = 1000) -> Iterator[object]:
    """A fresh page; console errors and page errors collected in ``page.errors``."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    if not shutil.which(CHROMIUM):
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.errors = []  # type: ignore[attr-defined]
            page.on("pageerror", lambda e: page.errors.append(str(e)))
            page.on(
                "console",
                lambda m: (
                    page.errors.append(f"{m.text} {m.location.get('url', '')}")
                    if m.type == "error"
                    else None
                ),
            )
            yield page
        finally:
            browser.close()


def screenshot(page: object, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    return path
