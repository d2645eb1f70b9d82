"""When a child process that ended unasked (the BMP station's, the prober's) starts again."""

from __future__ import annotations

RESTART_DELAYS = (0.5, 1.0, 2.0, 5.0, 10.0)
"""Seconds before a child is started again, by how many times in a row it failed."""
STABLE_S = 60.0
"""A child that ran this long before it ended was not failing: the pauses start over."""


class Restarts:
    """The pause before the next start: it grows while the child keeps failing soon after
    its start (or failing to start), and starts over once one ran :data:`STABLE_S`."""

    def __init__(self) -> None:
        self.failures = 0

    def ended(self, ran_s: float) -> float:
        """The child ended after ``ran_s`` seconds: the pause before the next start."""
        self.failures = 0 if ran_s > STABLE_S else self.failures + 1
        return self.delay()

    def failed(self) -> float:
        """A start failed: the pause before the next try."""
        self.failures += 1
        return self.delay()

    def delay(self) -> float:
        return RESTART_DELAYS[min(self.failures, len(RESTART_DELAYS) - 1)]
