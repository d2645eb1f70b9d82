"""Runs the ExaBGP installed beside routepilot, with two fixes to its announce path.

Measured on a 10k-route change (bench/inject/run.py, ExaBGP 5.0): ExaBGP spends
about half its CPU on ``copy.deepcopy``, not on BGP. Every route an API command
names is deep-copied, its attribute set included, by ``Neighbor.remove_self``,
which only needs a copy it may change when the next hop is ``self``. And its
scheduler resumes API commands 50 route steps per reactor loop, each loop paying
a fresh asyncio event loop and up to a millisecond's poll.

This launcher, run as ExaBGP's command (by file path, importing nothing from
routepilot so it starts as fast as ExaBGP itself), changes just those two things,
and only on the ExaBGP versions whose code it was checked against:

- ``remove_self`` returns a new ``Change`` with a shallow copy of the NLRI (the
  action and next hop are per-route state, which the outgoing RIB may set later)
  sharing the attribute set, which nothing changes after parsing, when the next
  hop is not ``self``; a ``self`` next hop takes ExaBGP's own path unchanged;
- ``ASYNC.LIMIT`` (route steps per reactor loop) goes from 50 to 2,000.

On any other version, or if a name moved, it runs ExaBGP as it is and says so on
its output (which routepilot logs). The wire output is the same either way: the
integration tests compare what BIRD learns.

Usage: python exabgp_launch.py EXABGP-ARGUMENTS...
"""

from __future__ import annotations

import copy
import os
import sys

CHECKED = ("5.0.",)
"""ExaBGP versions whose remove_self and ASYNC were read for this (5.0.x)."""
STEPS_PER_LOOP = 2000


def patch() -> str | None:
    """Applies the fixes; returns why not when it cannot (unchecked version, moved names)."""
    try:
        from exabgp.bgp.neighbor import Neighbor
        from exabgp.reactor.asynchronous import ASYNC
        from exabgp.rib.change import Change
        from exabgp.version import version
    except ImportError as exc:
        return f"exabgp layout not recognised ({exc})"
    if not version.startswith(CHECKED):
        return f"exabgp {version} not checked"
    if not hasattr(Neighbor, "remove_self") or not isinstance(getattr(ASYNC, "LIMIT", None), int):
        return f"exabgp {version}: remove_self or ASYNC.LIMIT not found"
    stock = Neighbor.remove_self

    def remove_self(self: Neighbor, change: Change) -> Change:
        if change.nlri.nexthop.SELF:
            return stock(self, change)
        return Change(copy.copy(change.nlri), change.attributes)

    Neighbor.remove_self = remove_self
    ASYNC.LIMIT = max(ASYNC.LIMIT, STEPS_PER_LOOP)
    return None


def main() -> int:
    # Run as a script, this file's folder leads sys.path, and routepilot's exabgp.py there
    # would hide the exabgp package.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    why = patch()
    if why is not None:
        print(f"routepilot: running exabgp unchanged: {why}", flush=True)
    from exabgp.application.main import main as exabgp_main

    sys.argv[0] = "exabgp"
    return exabgp_main()


if __name__ == "__main__":
    sys.exit(main())
