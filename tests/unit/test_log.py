"""Logging: key=value lines, and a handler that never writes to a closed stream."""

from __future__ import annotations

import io
import logging
import sys

import pytest

from routepilot.log import get_logger, setup_logging


@pytest.fixture
def restore_logging():
    root = logging.getLogger("routepilot")
    handlers, level, propagate = list(root.handlers), root.level, root.propagate
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    root.propagate = propagate


def test_lines_are_key_value(restore_logging) -> None:
    out = io.StringIO()
    setup_logging("info", out)
    get_logger("routepilot.t").info("moved", prefix="198.18.1.0/24", note="two words")
    line = out.getvalue().strip()
    assert "level=info" in line and "logger=routepilot.t" in line and "msg=moved" in line
    assert "prefix=198.18.1.0/24" in line and 'note="two words"' in line


def test_a_swapped_and_closed_stderr_is_not_written_to(
    restore_logging, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CLI run inside a test runner sets logging up while stderr is a capture that is closed
    afterwards; later records go to the stderr of the moment, with no "Logging error"."""
    first = io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    setup_logging("info")
    get_logger("routepilot.t").info("during")
    first.close()
    second = io.StringIO()
    monkeypatch.setattr(sys, "stderr", second)
    get_logger("routepilot.t").info("after")
    assert "msg=after" in second.getvalue()
    assert "Logging error" not in second.getvalue()
