"""What a standby announces the moment it takes the lease: the improvements in force in
the shared state, as the former active last saved them.

They were valid a moment ago, so announcing them at once spares the network the
measurement windows a cold start would wait for; the next rounds re-check them
like any other. Two limits keep that safe: the saved state must be recent
(``max_age_s``), and each route must still have a path through its provider in
the RIB this instance learned (never announce toward a provider without a route).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from routepilot.inject.injector import DesiredRoute
from routepilot.rib.snapshot import RoutesSnapshot


def resumable(injections: Mapping[str, str], routes: RoutesSnapshot) -> list[DesiredRoute]:
    """The saved injections whose provider has a route for the prefix (exact, or the
    longest covering prefix the RIB knows)."""
    if not injections or not routes.prefixes:
        return []
    row = {p: i for i, p in enumerate(routes.prefixes)}
    column = {p: k for k, p in enumerate(routes.providers)}
    out = []
    for prefix, provider in sorted(injections.items()):
        k = column.get(provider)
        i = _covering(prefix, row)
        if k is not None and i is not None and bool(routes.has_route[i, k]):
            out.append(DesiredRoute(prefix, provider))
    return out


def _covering(prefix: str, row: Mapping[str, int]) -> int | None:
    if prefix in row:
        return row[prefix]
    try:
        net = ipaddress.ip_network(prefix, strict=False)
    except ValueError:
        return None
    while net.prefixlen > 0:
        net = net.supernet()
        i = row.get(str(net))
        if i is not None:
            return i
    return None
