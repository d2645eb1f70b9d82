"""The path table: every path of every router per prefix, in numpy columns.

A full table (1M prefixes x 4 add-path paths) has to fit comfortably, so paths
are not objects: each prefix gets a row of ``slots`` columns (grown by doubling
when a prefix has more paths), and each column holds one field of one path.
Prefixes are interned once (``str -> row``); attribute sets, which a full table
shares massively, are interned too. A slot is keyed by (router, add-path path id)
as RFC 7911 section 3 says a path is identified.

Best-path selection follows RFC 4271 section 9.1.2.2 over the providers' paths:
highest LOCAL_PREF, shortest AS_PATH, lowest ORIGIN, lowest MED among paths from
the same neighbouring AS, then the lowest next-hop address standing in for the
lowest peer address (the router's own eBGP/iBGP and IGP-cost steps cannot be
seen from an iBGP listener).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np

from routepilot.rib.attributes import AttributeStore
from routepilot.rib.speaker.base import Nlri, PathAttributes

_EMPTY = np.uint64(0)


@dataclass(frozen=True)
class PathLimits:
    """Caps on what the routers can make the table hold (a leak, a broken add-path
    implementation); past them new paths are dropped and counted by reason in
    :attr:`PathTable.dropped`, and what is already held stays."""

    max_prefixes: int = 4_000_000
    """Distinct prefixes ever held (rows are never freed): ``prefix_limit``."""
    max_paths_per_prefix: int = 64
    """Paths of one prefix over every router (the row's width): ``prefix_path_limit``."""
    max_paths_per_router: int = 20_000_000
    """Paths learned from one router: ``router_path_limit``."""


_MAX_U32 = np.uint32(2**32 - 1)
_COMPUTE_BLOCK = 16_384
"""Rows whose best paths are computed together (see :meth:`PathTable.best_paths`)."""


@dataclass(frozen=True, slots=True)
class BestPaths:
    """The result of best-path selection over the rows that have provider paths."""

    rows: np.ndarray
    """Row of each prefix that has at least one provider path."""
    has_route: np.ndarray
    as_path_len: np.ndarray
    """int16: an AS path's length fits (see ``_alloc``)."""
    bgp_best: np.ndarray
    origin_as: np.ndarray
    """(rows, providers) last AS of a path of that provider (0: none); uint32, as an ASN is."""


class PathTable:
    """Paths per prefix; provider index per path is resolved from the next-hop."""

    # The columns, one row per prefix, created and grown by _alloc().
    key: np.ndarray
    """(router + 1) << 32 | add-path id per slot; 0 for a free slot."""
    attr: np.ndarray
    """Interned attribute id per slot; meaningless in a free slot (``key`` 0)."""
    net4: np.ndarray
    net6: np.ndarray
    net6lo: np.ndarray
    plen: np.ndarray
    is6: np.ndarray
    _dirty: np.ndarray
    _has: np.ndarray
    _aslen: np.ndarray
    _best: np.ndarray
    _origin: np.ndarray

    def __init__(
        self,
        provider_of_next_hop: dict[str, int],
        n_providers: int,
        is_own: _OwnMatcher | None = None,
        default_local_pref: int = 100,
        capacity: int = 1024,
        slots: int = 4,
        limits: PathLimits | None = None,
    ) -> None:
        self._provider_of = dict(provider_of_next_hop)
        self.limits = limits or PathLimits()
        self.dropped: dict[str, int] = {}
        """New paths not taken, by reason (the limits above)."""
        self._router_paths: dict[int, int] = {}
        self.n_providers = n_providers
        self._is_own = is_own
        self._default_lp = default_local_pref
        self.prefix_index: dict[str, int] = {}
        self.prefix_list: list[str] = []
        self._cap = 0
        self.slots = slots
        self._alloc(capacity, slots)
        self.attributes = AttributeStore()
        """Every attribute set seen, by id (``attr``), each kept once."""
        self._columns = _AttributeColumns()
        self._next_hops: list[str] = []
        self._nh_index: dict[str, int] = {}
        self._nh_rank = np.zeros(0, dtype=np.int32)
        self.paths = 0
        self._egress: np.ndarray | None = None

    def set_egress(self, allowed: np.ndarray) -> None:
        """(routers x providers): which router's paths count for which provider. A path of
        provider p learned from a router that does not reach p directly (one it relays
        from another router) is not p's route: two routers' views never mix, and a
        provider whose every egress router is gone has no route left."""
        self._egress = np.asarray(allowed, dtype=bool)
        self._dirty[: len(self.prefix_list)] = True

    # Storage.

    def _alloc(self, cap: int, slots: int) -> None:
        old = self._cap
        n = len(self.prefix_list)

        def grow(name: str, dtype: type[np.generic], width: int | None) -> None:
            # Zeros, not a fill value: numpy takes them from calloc, whose pages cost no
            # memory until a row is written, so the capacity not yet used (up to half of
            # it after a doubling) is free. Every column's zero means "nothing there".
            shape = (cap, width) if width is not None else (cap,)
            arr = np.zeros(shape, dtype=dtype)
            if old:
                src = getattr(self, name)
                if width is not None:
                    arr[:n, : src.shape[1]] = src[:n]
                else:
                    arr[:n] = src[:n]
            setattr(self, name, arr)

        grow("key", np.uint64, slots)
        grow("attr", np.int32, slots)
        grow("net4", np.uint32, None)
        grow("net6", np.uint64, None)
        grow("net6lo", np.uint64, None)
        grow("plen", np.uint8, None)
        grow("is6", np.bool_, None)
        # Best-path results per row, recomputed only for rows changed since the
        # last best_paths() call, so a snapshot of a quiet full table is cheap. Read
        # only where ``_has``; stored as narrow as their values allow (an AS path
        # fits 16 bits: an UPDATE of 65,535 bytes holds fewer ASNs; an ASN is 32
        # bits), and widened to the snapshot's types when read.
        grow("_dirty", np.bool_, None)
        grow("_has", np.bool_, self.n_providers)
        grow("_aslen", np.int16, self.n_providers)
        grow("_best", np.int8 if self.n_providers < 127 else np.int32, None)
        grow("_origin", np.uint32, self.n_providers)
        self._cap = cap
        self.slots = slots

    def _intern_prefix(self, prefix: str) -> int:
        row = self.prefix_index.get(prefix)
        if row is not None:
            return row
        addr, _, length = prefix.partition("/")
        row = len(self.prefix_list)
        if row >= self.limits.max_prefixes:
            return -1
        if row >= self._cap:
            self._alloc(self._cap * 2, self.slots)
        # Parse fully before touching the table, so a bad prefix changes nothing.
        try:
            if ":" in addr:
                packed = socket.inet_pton(socket.AF_INET6, addr)
                plen, limit = int(length or 128), 128
            else:
                packed = socket.inet_pton(socket.AF_INET, addr)
                plen, limit = int(length or 32), 32
        except OSError as exc:
            raise ValueError(f"bad prefix {prefix!r}") from exc
        if not 0 <= plen <= limit:
            raise ValueError(f"bad prefix length in {prefix!r}")
        if limit == 128:
            self.net6[row] = int.from_bytes(packed[:8], "big")
            self.net6lo[row] = int.from_bytes(packed[8:], "big")
            self.is6[row] = True
        else:
            self.net4[row] = int.from_bytes(packed, "big")
        self.plen[row] = plen
        self.prefix_index[prefix] = row
        self.prefix_list.append(prefix)
        return row

    def _intern_attributes(self, attrs: PathAttributes) -> int:
        idx = self.attributes.find(attrs)
        if idx is not None:
            return idx
        provider = self._provider_of.get(attrs.next_hop, -1)
        if self._is_own is not None and self._is_own(attrs):
            provider = -2
        nh = self._nh_index.get(attrs.next_hop)
        if nh is None:
            nh = self._nh_index[attrs.next_hop] = len(self._next_hops)
            self._next_hops.append(attrs.next_hop)
            order = sorted(range(len(self._next_hops)), key=lambda i: _ip_sort(self._next_hops[i]))
            rank = np.empty(len(order), dtype=np.int32)
            rank[order] = np.arange(len(order), dtype=np.int32)
            self._nh_rank = rank
        try:
            self._columns.append(
                provider,
                attrs.local_pref if attrs.local_pref is not None else self._default_lp,
                len(attrs.as_path),
                attrs.origin,
                # A missing MED is the best one (RFC 4271 section 9.1.2.2 (c)).
                attrs.med or 0,
                attrs.as_path[0] if attrs.as_path else 0,
                nh,
                attrs.as_path[-1] if attrs.as_path else 0,
            )
        except OverflowError as exc:
            # Columns first, the set after: one whose numbers do not fit is a malformed
            # update (counted), and ids stay in step with the columns' rows.
            raise ValueError(f"attribute out of range: {exc}") from exc
        idx, _ = self.attributes.add(attrs)
        return idx

    def provider_of(self, attrs: PathAttributes) -> int:
        """Provider index of an attribute set; -1 unknown next-hop (or never seen), -2 ours."""
        attr_id = self.attributes.find(attrs)
        return -1 if attr_id is None else self.provider_of_attributes(attr_id)

    def provider_of_attributes(self, attr_id: int) -> int:
        """Provider index; -1 for an unknown next-hop, -2 for one of our own routes."""
        return self._columns.at("provider", attr_id)

    def router_counts(self, n_routers: int) -> tuple[np.ndarray, np.ndarray]:
        """Per router: paths held, and (routers x providers) paths per provider (own and
        unknown next hops are counted in the first, not the second)."""
        n = len(self.prefix_list)
        key, attr = self.key[:n].ravel(), self.attr[:n].ravel()
        used = key != 0
        router = (key[used] >> 32).astype(np.int64) - 1
        paths = np.bincount(router, minlength=n_routers)[:n_routers]
        per_provider = np.zeros((n_routers, self.n_providers), dtype=np.int64)
        if used.any() and len(self._columns.provider):
            provider = self._columns.provider[attr[used]].astype(np.int64)
            ok = provider >= 0
            # One bincount over router x provider cells (np.add.at took ~0.3 s on 5M paths).
            cells = router[ok] * self.n_providers + provider[ok]
            size = n_routers * self.n_providers
            per_provider = np.bincount(cells, minlength=size)[:size].reshape(per_provider.shape)
        return paths, per_provider

    # Updates.

    def add(self, router: int, attrs: PathAttributes, nlri: Sequence[Nlri]) -> int:
        """Adds or replaces paths; returns how many were new."""
        return self.add_batch(router, [(attrs, nlri)])

    def add_batch(
        self, router: int, updates: Sequence[tuple[PathAttributes, Sequence[Nlri]]]
    ) -> int:
        """Applies several updates of one router at once, in order; returns the new paths.

        Numpy's per-call cost is paid once per batch instead of once per
        update, which is what makes a full table load in seconds.
        """
        intern = self._intern_prefix
        row_list: list[int] = []
        key_list: list[int] = []
        attr_list: list[int] = []
        high = (router + 1) << 32
        for attrs, nlri in updates:
            if not nlri:
                continue
            attr_id = self._intern_attributes(attrs)
            rows_of = [intern(n[0]) for n in nlri]
            if min(rows_of) < 0:  # the table holds max_prefixes already
                self._drop("prefix_limit", rows_of.count(-1))
                nlri = [n for n, r in zip(nlri, rows_of, strict=True) if r >= 0]
                rows_of = [r for r in rows_of if r >= 0]
            row_list.extend(rows_of)
            key_list.extend([high | n[1] for n in nlri])
            attr_list.extend([attr_id] * len(nlri))
        if not row_list:
            return 0
        rows = np.array(row_list, dtype=np.int64)
        keys = np.array(key_list, dtype=np.uint64)
        attr_ids = np.array(attr_list, dtype=np.int32)
        if len(rows) > 1:
            # The same path twice in a batch: the last one wins.
            combined = (rows.astype(np.uint64) << np.uint64(40)) | keys
            _, last = np.unique(combined[::-1], return_index=True)
            if len(last) != len(rows):
                keep = np.sort(len(rows) - 1 - last)
                rows, keys, attr_ids = rows[keep], keys[keep], attr_ids[keep]
        slots, found = self._find(rows, keys)
        new = ~found
        added = int(new.sum())
        if added:
            taken = self._admit(router, rows[new])
            if not taken.all():
                keep = np.ones(len(rows), dtype=bool)
                keep[np.flatnonzero(new)[~taken]] = False
                rows, keys, attr_ids, new = rows[keep], keys[keep], attr_ids[keep], new[keep]
                added = int(new.sum())
            self._place(rows[new], keys[new])
            slots, found = self._find(rows, keys)
        self.attr[rows, slots] = attr_ids
        self._dirty[rows] = True
        self.paths += added
        self._router_paths[router] = self._router_paths.get(router, 0) + added
        return added

    def _admit(self, router: int, rows: np.ndarray) -> np.ndarray:
        """Which of these new paths (one per entry of ``rows``, in order) fit the caps on
        paths per prefix and per router."""
        lim = self.limits
        # Each new path's rank among the batch's new paths of the same prefix.
        order = np.argsort(rows, kind="stable")
        ordered = rows[order]
        starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
        sizes = np.diff(np.r_[starts, len(ordered)])
        rank = np.empty(len(rows), dtype=np.int64)
        rank[order] = np.arange(len(rows)) - np.repeat(starts, sizes)
        held = (self.key[rows] != _EMPTY).sum(axis=1)
        taken = held + rank < lim.max_paths_per_prefix
        self._drop("prefix_path_limit", int((~taken).sum()))
        room = lim.max_paths_per_router - self._router_paths.get(router, 0)
        over = taken & (np.cumsum(taken) > room)
        self._drop("router_path_limit", int(over.sum()))
        return taken & ~over

    def _drop(self, reason: str, count: int) -> None:
        if count:
            self.dropped[reason] = self.dropped.get(reason, 0) + count

    def remove(self, router: int, nlri: Sequence[Nlri]) -> int:
        """Removes paths; returns how many existed."""
        get = self.prefix_index.get
        high = (router + 1) << 32
        # Unknown prefixes become row -1 and are dropped in numpy, not in Python:
        # this loop runs once per withdrawn path.
        row_list = [get(n[0], -1) for n in nlri]
        rows = np.array(row_list, dtype=np.int64)
        keys = np.array([high | n[1] for n in nlri], dtype=np.uint64)
        known = rows >= 0
        if not known.all():
            rows, keys = rows[known], keys[known]
        if not len(rows):
            return 0
        if len(rows) > 1:
            # The same path withdrawn twice in one update counts once.
            _, first = np.unique(
                (rows.astype(np.uint64) << np.uint64(40)) | keys, return_index=True
            )
            rows, keys = rows[first], keys[first]
        slots, found = self._find(rows, keys)
        rows, slots = rows[found], slots[found]
        self.key[rows, slots] = _EMPTY
        self.attr[rows, slots] = 0
        self._dirty[rows] = True
        removed = int(found.sum())
        self.paths -= removed
        self._router_paths[router] = self._router_paths.get(router, 0) - removed
        return removed

    def drop_router(self, router: int) -> int:
        """Removes every path learned from a router (its session went down)."""
        n = len(self.prefix_list)
        mask = (self.key[:n] >> np.uint64(32)) == np.uint64(router + 1)
        removed = int(mask.sum())
        self.key[:n][mask] = _EMPTY
        self.attr[:n][mask] = 0
        self._dirty[:n] |= mask.any(axis=1)
        self.paths -= removed
        self._router_paths.pop(router, None)
        return removed

    def _find(self, rows: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        match = self.key[rows] == keys[:, None]
        return match.argmax(axis=1), match.any(axis=1)

    def _place(self, rows: np.ndarray, keys: np.ndarray) -> None:
        # One slot per row per round, so two new paths of the same prefix in one
        # update land in two different slots.
        while len(rows):
            _, first = np.unique(rows, return_index=True)
            r, k = rows[first], keys[first]
            free = self.key[r] == _EMPTY
            if not free.any(axis=1).all():
                self._alloc(self._cap, self.slots * 2)
                free = self.key[r] == _EMPTY
            self.key[r, free.argmax(axis=1)] = k
            rest = np.ones(len(rows), dtype=bool)
            rest[first] = False
            rows, keys = rows[rest], keys[rest]
            if len(rows):
                _, found = self._find(rows, keys)
                rows, keys = rows[~found], keys[~found]

    # Queries.

    def rows_paths(self, row: int) -> list[tuple[int, int, PathAttributes]]:
        """(router index, path id, attributes) of each path of one prefix."""
        out = []
        for slot in range(self.slots):
            key = int(self.key[row, slot])
            if key:
                attrs = self.attributes.get(int(self.attr[row, slot]))
                out.append(((key >> 32) - 1, key & 0xFFFFFFFF, attrs))
        return out

    def best_paths(self) -> BestPaths:
        """Per prefix with a provider path: providers with a route and BGP's choice."""
        n = len(self.prefix_list)
        dirty = np.flatnonzero(self._dirty[:n])
        if len(dirty) and self.attributes:
            # A block at a time: the selection makes a dozen (rows x slots) and
            # (rows x providers) temporaries, which for a whole table at once cost
            # more than the table itself.
            for start in range(0, len(dirty), _COMPUTE_BLOCK):
                block = dirty[start : start + _COMPUTE_BLOCK]
                has, aslen, best, origin = self._compute(block)
                self._has[block], self._aslen[block], self._best[block] = has, aslen, best
                self._origin[block] = origin
        self._dirty[:n] = False
        rows = np.flatnonzero(self._has[:n].any(axis=1))
        return BestPaths(
            rows,
            self._has[rows],
            self._aslen[rows],
            self._best[rows].astype(np.int32),
            self._origin[rows],
        )

    def _compute(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        attr = self.attr[rows]
        table = self._columns
        used = self.key[rows] != _EMPTY
        safe = np.where(used, attr, 0)
        provider = np.where(used, table.provider[safe], -1)
        valid = provider >= 0
        if self._egress is not None:
            router = (self.key[rows] >> np.uint64(32)).astype(np.int64) - 1
            egress = self._egress
            inside = valid & (router >= 0) & (router < egress.shape[0])
            ok = np.zeros_like(valid)
            ok[inside] = egress[router[inside], provider[inside]]
            valid &= ok
        m, k = len(rows), self.n_providers

        aslen = table.aslen[safe]
        has_route = np.zeros((m, k), dtype=bool)
        as_path_len = np.full((m, k), np.iinfo(np.int32).max, dtype=np.int32)
        origin = np.zeros((m, k), dtype=np.int64)
        last_as = table.last_as[safe]
        line = np.arange(m)
        for s in range(valid.shape[1]):
            v = valid[:, s]
            r, p = line[v], provider[v, s]
            has_route[r, p] = True
            np.minimum.at(as_path_len, (r, p), aslen[v, s].astype(np.int32))
            # The origin of the provider's first path found; paths of one provider to
            # one prefix end in the same AS but in a misconfigured corner.
            first = origin[r, p] == 0
            origin[r[first], p[first]] = last_as[v, s][first]
        as_path_len[~has_route] = -1

        cand = valid.copy()
        lp = table.local_pref[safe].astype(np.int64)
        cand &= lp == np.where(cand, lp, -1).max(axis=1, keepdims=True)
        big = np.iinfo(np.int64).max
        for column in (aslen, table.origin[safe]):
            col = column.astype(np.int64)
            cand &= col == np.where(cand, col, big).min(axis=1, keepdims=True)
        med = table.med[safe].astype(np.int64)
        first_as = table.first_as[safe]
        beaten = np.zeros_like(cand)
        for s in range(cand.shape[1]):
            for t in range(cand.shape[1]):
                if s != t:
                    beaten[:, s] |= (
                        cand[:, t] & (first_as[:, t] == first_as[:, s]) & (med[:, t] < med[:, s])
                    )
        cand &= ~beaten
        rank = self._nh_rank[table.next_hop[safe]].astype(np.int64)
        slot = np.where(cand, rank, big).argmin(axis=1)
        bgp_best = np.where(valid.any(axis=1), provider[line, slot], -1).astype(np.int32)
        return has_route, as_path_len, bgp_best, origin

    def memory_bytes(self) -> int:
        """Bytes held by the numpy columns (Python objects not included)."""
        return sum(
            getattr(self, name).nbytes
            for name in (
                "key",
                "attr",
                "net4",
                "net6",
                "net6lo",
                "plen",
                "is6",
                "_dirty",
                "_has",
                "_aslen",
                "_best",
                "_origin",
            )
        )


class _AttributeColumns:
    """Interned attribute sets as growable columns, indexed by attribute id."""

    _FIELDS = (
        ("provider", np.int32),
        ("local_pref", np.int64),
        ("aslen", np.int32),
        ("origin", np.int8),
        ("med", np.int64),
        ("first_as", np.int64),
        ("next_hop", np.int32),
        ("last_as", np.int64),
    )

    def __init__(self) -> None:
        self.n = 0
        self._cap = 256
        for name, dtype in self._FIELDS:
            setattr(self, "_" + name, np.zeros(self._cap, dtype=dtype))

    def append(self, *values: int) -> None:
        if self.n == self._cap:
            self._cap *= 2
            for name, _ in self._FIELDS:
                setattr(self, "_" + name, np.resize(getattr(self, "_" + name), self._cap))
        for (name, _), value in zip(self._FIELDS, values, strict=True):
            getattr(self, "_" + name)[self.n] = value
        self.n += 1

    def at(self, name: str, index: int) -> int:
        """One value of a column (without slicing the column first, as the attribute does)."""
        if not 0 <= index < self.n:
            raise IndexError(index)
        return int(object.__getattribute__(self, "_" + name)[index])

    def __getattr__(self, name: str) -> np.ndarray:
        if name.startswith("_"):
            raise AttributeError(name)
        return object.__getattribute__(self, "_" + name)[: self.n]


class _OwnMatcher:
    """Recognises routes routepilot injected itself, should a router send them back."""

    def __init__(self, local_pref: int | Collection[int], communities: Sequence[str]) -> None:
        """``local_pref``: the LOCAL_PREF, or every LOCAL_PREF, routepilot's routes carry."""
        self.local_prefs = frozenset([local_pref] if isinstance(local_pref, int) else local_pref)
        self.communities = frozenset(communities)

    def __call__(self, attrs: PathAttributes) -> bool:
        return attrs.local_pref in self.local_prefs and self.communities.issubset(attrs.communities)


OwnMatcher = _OwnMatcher


def _ip_sort(address: str) -> tuple[int, int]:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return (9, 0)
    return (ip.version, int(ip))
