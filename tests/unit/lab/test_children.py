"""lab/netns: daemons the benches start as children, waited for and stopped."""

from __future__ import annotations

import subprocess
import sys

import pytest

from routepilot.lab.netns import wait_answering

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


def test_a_daemon_that_never_answers_is_stopped_and_said():
    proc = subprocess.Popen(SLEEPER)
    with pytest.raises(RuntimeError, match="sleeper did not start"):
        wait_answering(proc, lambda: False, "sleeper did not start", timeout=0.3)
    assert proc.poll() is not None  # stopped, not left behind


def test_a_daemon_that_exits_is_said_at_once_and_one_that_answers_is_left_running():
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    with pytest.raises(RuntimeError, match="gone"):
        wait_answering(gone, lambda: False, "gone", timeout=60)
    proc = subprocess.Popen(SLEEPER)
    try:
        calls = []
        wait_answering(proc, lambda: calls.append(1) or len(calls) >= 3, "x", timeout=60)
        assert proc.poll() is None and len(calls) == 3
    finally:
        proc.kill()
        proc.wait()
