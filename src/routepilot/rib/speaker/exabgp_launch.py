"""Runs the ExaBGP installed beside routepilot, with fixes to its announce and receive paths.

Measured on a 10k-route change (bench/inject/run.py, ExaBGP 5.0): ExaBGP spends
about half its CPU on ``copy.deepcopy``, not on BGP. Every route an API command
names is deep-copied, its attribute set included, by ``Neighbor.remove_self``,
which only needs a copy it may change when the next hop is ``self``. And its
scheduler resumes API commands 50 route steps per reactor loop, each loop paying
a fresh asyncio event loop and up to a millisecond's poll.

Measured on a table received (bench/rib/exabgp_modes.py, #18): routepilot takes
received messages as packets (their bytes, exabgp_packets.py), yet ExaBGP still
decodes each UPDATE into its own objects (about three quarters of its CPU a path),
which nothing reads when no API process takes parsed updates and there is no
Adj-RIB-In; and it writes the bytes as hex one Python format call a byte.

This launcher, run as ExaBGP's command (by file path, importing nothing from
routepilot so it starts as fast as ExaBGP itself), changes just these things,
and only on the ExaBGP versions whose code it was checked against:

- ``remove_self`` returns a new ``Change`` with a shallow copy of the NLRI (the
  action and next hop are per-route state, which the outgoing RIB may set later)
  sharing the attribute set, which nothing changes after parsing, when the next
  hop is not ``self``; a ``self`` next hop takes ExaBGP's own path unchanged;
- ``ASYNC.LIMIT`` (route steps per reactor loop) goes from 50 to 2,000;
- ``Message.unpack`` of a received UPDATE returns an empty UPDATE when only the
  API's packets need it (:func:`_bytes_only`): the API process got the bytes
  before the unpack (``Protocol.read_message``), and ExaBGP's own use of the result
  (Adj-RIB-In, route logs) is off. A malformed UPDATE then no longer resets the
  session from ExaBGP's side: routepilot's decoder counts it and skips it, as its
  BMP station does;
- the JSON encoder's ``hexstring`` is the same text made by ``bytes.hex``.

On any other version, or if a name moved, it runs ExaBGP as it is and says so on
its output (which routepilot logs). The wire output is the same either way: the
integration tests compare what BIRD learns, and what routepilot learns.

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
        from exabgp.bgp.message import Message, Update
        from exabgp.bgp.message.direction import Direction
        from exabgp.bgp.message.update.attribute import Attributes
        from exabgp.bgp.neighbor import Neighbor
        from exabgp.environment import getenv
        from exabgp.reactor.api.response import json as api_json
        from exabgp.reactor.asynchronous import ASYNC
        from exabgp.rib.change import Change
        from exabgp.version import version
    except ImportError as exc:
        return f"exabgp layout not recognised ({exc})"
    if not version.startswith(CHECKED):
        return f"exabgp {version} not checked"
    if not hasattr(Neighbor, "remove_self") or not isinstance(getattr(ASYNC, "LIMIT", None), int):
        return f"exabgp {version}: remove_self or ASYNC.LIMIT not found"
    if not callable(getattr(api_json, "hexstring", None)):
        return f"exabgp {version}: the JSON encoder's hexstring not found"
    stock = Neighbor.remove_self

    def remove_self(self: Neighbor, change: Change) -> Change:
        if change.nlri.nexthop.SELF:
            return stock(self, change)
        return Change(copy.copy(change.nlri), change.attributes)

    Neighbor.remove_self = remove_self
    api_json.hexstring = hexstring
    stock_unpack = Message.unpack
    update_id = int(Message.CODE.UPDATE)

    def unpack(cls, message, data, direction, negotiated):
        if message == update_id and direction == Direction.IN:
            neighbor = getattr(negotiated, "neighbor", None)
            if neighbor is not None and _bytes_only(neighbor, getenv().log.routes):
                # Nothing reads this UPDATE's objects: the API got its bytes already.
                return Update([], Attributes())
        return stock_unpack(message, data, direction, negotiated)

    Message.unpack = classmethod(unpack)
    ASYNC.LIMIT = max(ASYNC.LIMIT, STEPS_PER_LOOP)
    return None


def _bytes_only(neighbor, log_routes: bool) -> bool:
    """Does nothing but the API's packets need this neighbor's received UPDATEs? No
    parsed or consolidated API output, no Adj-RIB-In, no route logging."""
    api = neighbor.api
    return bool(
        api["receive-packets"]
        and not api["receive-parsed"]
        and not api["receive-consolidate"]
        and not neighbor["adj-rib-in"]
        and not log_routes
    )


def hexstring(value: bytes) -> str:
    """ExaBGP's ``exabgp.util.hexstring`` (``0x`` and two upper-case digits a byte), in C."""
    return "0x" + value.hex().upper()


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
