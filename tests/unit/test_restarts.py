"""restarts.py: the pause before a failed child process starts again."""

from __future__ import annotations

from routepilot.restarts import RESTART_DELAYS, STABLE_S, Restarts


def test_the_pause_grows_while_the_child_keeps_failing_and_starts_over_after_a_good_run() -> None:
    r = Restarts()
    assert r.ended(STABLE_S + 1) == RESTART_DELAYS[0]  # ran long: not failing
    assert [r.ended(1.0) for _ in range(6)] == [
        *RESTART_DELAYS[1:],
        RESTART_DELAYS[-1],
        RESTART_DELAYS[-1],
    ]
    assert r.ended(STABLE_S + 1) == RESTART_DELAYS[0]
    assert r.failed() == RESTART_DELAYS[1]  # a start that failed counts too
