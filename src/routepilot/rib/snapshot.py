"""The typed value rib/ hands to decide/: which providers have a route, and BGP's choice."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from routepilot.rib.index import PrefixIndex


@dataclass(frozen=True)
class RoutesSnapshot:
    """Per prefix, every provider's path as learned over add-path from the routers.

        ``has_route[i, k]``: provider ``k`` has a path for ``prefixes[i]`` (our own
        injections excluded). ``as_path_len[i, k]``: its AS-path length (-1 when none; int16
    from the RIB, which a path's length always fits).
        ``bgp_best[i]``: index of the provider BGP's best-path rules choose, -1 when
        no provider has a route.
    """

    time: float
    prefixes: tuple[str, ...]
    providers: tuple[str, ...]
    has_route: np.ndarray
    as_path_len: np.ndarray
    bgp_best: np.ndarray
    session_up: dict[str, bool] = field(default_factory=dict)
    """Per router name: is its iBGP session Established."""
    provider_up: dict[str, bool] = field(default_factory=dict)
    """Per provider: does any router currently hold paths from it."""
    origin_as: np.ndarray | None = None
    """(N, P) last AS of each provider's path (its origin AS; 0 when none or unknown), as
    uint32 (an ASN's size, half of int64's memory on a full table); readers widen it
    before arithmetic. None: not known (snapshots built without it)."""
    index: PrefixIndex | None = field(default=None, compare=False, repr=False)
    """Finds rows by prefix; the RIB hands out one kept across rounds (see :meth:`lookup`)."""
    state: str | None = None
    """The routers' tables when these routes were read (``synced``, ``arriving``, ... as
    ``RoutesFeed.state`` says), recorded by the controller in the same turn; None: not
    recorded. Whether a provider missing here is gone depends on it, not on the state
    of the tables by the time someone reads this snapshot."""

    def lookup(self) -> PrefixIndex:
        """The index of :attr:`prefixes`: the one given if it is theirs, else one made on
        first use and kept with this snapshot."""
        index = self.index
        if index is None or index.prefixes is not self.prefixes:
            index = PrefixIndex(self.prefixes)
            object.__setattr__(self, "index", index)  # a cache: the snapshot's value is unchanged
        return index

    @staticmethod
    def empty(time: float = 0.0, providers: tuple[str, ...] = ()) -> RoutesSnapshot:
        shape = (0, len(providers))
        return RoutesSnapshot(
            time,
            (),
            providers,
            np.zeros(shape, dtype=bool),
            np.full(shape, -1, dtype=np.int32),
            np.zeros(0, dtype=np.int32),
        )
