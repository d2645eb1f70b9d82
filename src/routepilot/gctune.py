"""The cyclic garbage collector, tuned for a process that holds a table and churns events.

CPython collects its youngest generation every 700 net allocations and the whole heap
when enough objects have survived. A table arriving is millions of short-lived objects
(a speaker event, a block, a prefix's text a path) that are still alive in a queue or a
batch when a collection comes, so they are walked, promoted and walked again: in the
daemon learning a table over BMP the collector was a third of the event loop's time
(py-spy, #18). Our objects rarely form cycles; the few that do (asyncio's futures and
exceptions) are found by a collection that comes less often.
"""

from __future__ import annotations

import gc

THRESHOLDS = (50_000, 20, 100)
"""Youngest generation every 50k net allocations (default 700); the middle one every 20
of those; the whole heap every 100 of the middle one's (and, as always, only when a
quarter of it is new since the last)."""


def tune() -> None:
    """Moves everything alive now (imported modules, configuration, wiring) out of the
    collector's sight for good, and sets :data:`THRESHOLDS`. Called once, at start."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
