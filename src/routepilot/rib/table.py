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

import array
import ipaddress
import socket
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from itertools import repeat

import numpy as np

from routepilot.rib.attributes import AttributeStore
from routepilot.rib.speaker.base import Attributes, Nlri, PathAttributes, nlri_columns

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
_SHARED_COLUMNS = ("_has", "_aslen", "_origin")
"""The best-path columns a :class:`BestPaths` may read in place (see ``best_paths``)."""
_DROP_BLOCK = 1 << 16
"""Rows searched together for the path ids to drop (see :meth:`PathTable.drop_path_ids`)."""


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
        slots: int = 1,
        limits: PathLimits | None = None,
    ) -> None:
        self._provider_of = dict(provider_of_next_hop)
        self.limits = limits or PathLimits()
        self.dropped: dict[str, int] = {}
        """New paths not taken, by reason (the limits above)."""
        self._router_paths: dict[int, int] = {}
        self._router_providers: dict[int, np.ndarray] = {}
        """Per router, its paths per provider, kept as paths come and go (index provider
        + 2: own routes first, then unknown next hops), so that the API's counts cost no
        pass over the table (a full table's pass held the event loop ~0.2 s)."""
        self.n_providers = n_providers
        self._is_own = is_own
        self._default_lp = default_local_pref
        self.prefix_index: dict[str, int] = {}
        self.prefix_list: list[str] = []
        self._pending_prefixes: list[tuple[int, int, int, int]] = []
        """(is IPv6, high, low, length) of the rows :meth:`_flush_prefixes` has to write."""
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
        self._best_cache: tuple[int, BestPaths] | None = None
        """The last :meth:`best_paths` and the rows it covered, while no row is dirty."""
        self._shared = False
        """A :class:`BestPaths` handed out reads the best-path columns themselves."""

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
        # Rows interned and not yet flushed may lie past the old capacity: nothing of
        # theirs is in the old arrays.
        n = min(len(self.prefix_list), old)

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
        if cap == old:
            # Wider rows only (a prefix with more paths than slots): the other columns
            # stay as they are, so that a late widening does not copy the whole table.
            self.slots = slots
            return
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
        # New arrays: a BestPaths handed out keeps reading the old ones.
        self._shared = False

    def _intern_prefix(self, prefix: str) -> int:
        """The row of a prefix, interned now if new (-1: the table is full)."""
        try:
            return self._new_rows([prefix])[0]
        finally:
            self._flush_prefixes()

    def _new_rows(self, prefixes: list[str]) -> list[int]:
        """The rows of prefixes, new ones interned (-1: the table is full)."""
        get = self.prefix_index.get
        rows = [get(p, -1) for p in prefixes]
        if -1 in rows:
            self._intern_new(prefixes, rows)
        return rows

    def _intern_new(self, prefixes: list[str], rows: list[int]) -> None:
        """Interns the prefixes whose row is -1 and sets their rows (-1 stays where the
        table is full). Their numbers wait in lists until :meth:`_flush_prefixes`: a numpy
        write of one value costs as much as parsing the prefix, so a batch's are written
        together."""
        get = self.prefix_index.get
        pending = self._pending_prefixes
        for i, prefix in enumerate(prefixes):
            if rows[i] >= 0:
                continue
            row = get(prefix, -1)  # the same new prefix twice in one batch
            if row < 0:
                row = len(self.prefix_list)
                if row >= self.limits.max_prefixes:
                    continue
                pending.append(_parse_prefix(prefix))  # raises before the table changes
                self.prefix_index[prefix] = row
                self.prefix_list.append(prefix)
            rows[i] = row

    def _flush_prefixes(self) -> None:
        """Writes the numbers of the prefixes interned since the last flush."""
        pending = self._pending_prefixes
        if not pending:
            return
        n = len(self.prefix_list)
        if n > self._cap:
            cap = self._cap
            while cap < n:
                cap *= 2
            self._alloc(cap, self.slots)
        rows = np.arange(n - len(pending), n)
        is6, high, low, length = zip(*pending, strict=True)
        v6 = np.array(is6, dtype=bool)
        # Explicit types: numpy makes floats of a list of ints past 2**63.
        hi, lo = np.array(high, dtype=np.uint64), np.array(low, dtype=np.uint64)
        self.is6[rows] = v6
        self.plen[rows] = np.array(length, dtype=np.uint8)
        self.net4[rows[~v6]] = hi[~v6]
        self.net6[rows[v6]] = hi[v6]
        self.net6lo[rows[v6]] = lo[v6]
        pending.clear()

    def _intern_attributes(self, attrs: Attributes) -> int:
        return self.attributes.intern(attrs, self._admit_attributes)

    def _admit_attributes(self, attrs: PathAttributes) -> None:
        """Adds a new set's best-path columns (before it gets its id, so that ids stay in
        step with the columns' rows); ValueError when its numbers do not fit them."""
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
            # A set whose numbers do not fit is a malformed update (counted).
            raise ValueError(f"attribute out of range: {exc}") from exc

    def provider_of(self, attrs: Attributes) -> int:
        """Provider index of an attribute set; -1 unknown next-hop (or never seen), -2 ours."""
        attr_id = self.attributes.find(attrs)
        return -1 if attr_id is None else self.provider_of_attributes(attr_id)

    @property
    def provider_list(self) -> Sequence[int]:
        """Provider index per attribute id (see :meth:`provider_of_attributes`), as a list."""
        return self._columns.providers

    def provider_of_attributes(self, attr_id: int) -> int:
        """Provider index; -1 for an unknown next-hop, -2 for one of our own routes."""
        return self._columns.at("provider", attr_id)

    def router_counts(self, n_routers: int) -> tuple[np.ndarray, np.ndarray]:
        """Per router: paths held, and (routers x providers) paths per provider (own and
        unknown next hops are counted in the first, not the second)."""
        paths = np.zeros(n_routers, dtype=np.int64)
        per_provider = np.zeros((n_routers, self.n_providers), dtype=np.int64)
        for router, held in self._router_paths.items():
            if 0 <= router < n_routers:
                paths[router] = held
        for router, counts in self._router_providers.items():
            if 0 <= router < n_routers:
                per_provider[router] = counts[2:]
        return paths, per_provider

    def _count(self, router: int, attr_ids: np.ndarray, sign: int) -> None:
        """Adds (sign 1) or takes away (-1) paths of these attribute ids from the router's
        per-provider counts."""
        if not len(attr_ids):
            return
        # A view of the provider column, made and dropped here: the array cannot grow
        # while a buffer of it is held.
        provider = np.frombuffer(self._columns.providers, dtype=np.int32)[attr_ids]
        counts = np.bincount(provider + 2, minlength=self.n_providers + 2)
        held = self._router_providers.get(router)
        if held is None:
            held = self._router_providers[router] = np.zeros(self.n_providers + 2, np.int64)
        held += sign * counts

    # Updates.

    def add(self, router: int, attrs: Attributes, nlri: Sequence[Nlri]) -> int:
        """Adds or replaces paths; returns how many were new."""
        return self.add_batch(router, [(attrs, nlri)])

    def add_batch(self, router: int, updates: Sequence[tuple[Attributes, Sequence[Nlri]]]) -> int:
        """Applies several updates of one router at once, in order; returns the new paths.

        Numpy's per-call cost is paid once per batch instead of once per
        update, which is what makes a full table load in seconds.
        """
        return self.add_updates(router, updates)[0]

    def add_updates(
        self, router: int, updates: Sequence[tuple[Attributes, Sequence[Nlri]]]
    ) -> tuple[int, list[int]]:
        """:meth:`add_batch`, and the attribute id each update's paths got (-1 for an update
        without NLRI, whose set is not interned): so that the caller can count them by
        provider without looking each set up again."""
        try:
            return self._add_updates(router, updates)
        finally:
            # Even when an update is refused halfway: rows interned before it exist.
            self._flush_prefixes()

    def _add_updates(
        self, router: int, updates: Sequence[tuple[Attributes, Sequence[Nlri]]]
    ) -> tuple[int, list[int]]:
        row_list: list[int] = []
        key_list: list[int] = []
        attr_list: list[int] = []
        ids: list[int] = []
        high = (router + 1) << 32
        intern = self.attributes.intern
        admit = self._admit_attributes
        get = self.prefix_index.get
        for attrs, nlri in updates:
            if not nlri:
                ids.append(-1)
                continue
            attr_id = intern(attrs, admit)
            ids.append(attr_id)
            prefixes, path_ids = nlri_columns(nlri)
            rows_of = list(map(get, prefixes, repeat(-1)))
            if -1 in rows_of:
                self._intern_new(prefixes, rows_of)
                if -1 in rows_of:  # the table holds max_prefixes already
                    self._drop("prefix_limit", rows_of.count(-1))
                    if not isinstance(path_ids, int):
                        path_ids = [i for i, r in zip(path_ids, rows_of, strict=True) if r >= 0]
                    rows_of = [r for r in rows_of if r >= 0]
            row_list += rows_of
            if isinstance(path_ids, int):
                # One path id for the update (BMP without add-path): one key, repeated in C.
                key_list += [high | path_ids] * len(rows_of)
            else:
                key_list += [high | i for i in path_ids]
            attr_list += [attr_id] * len(rows_of)
        if not row_list:
            return 0, ids
        self._flush_prefixes()
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
        old = ~new
        self._count(router, self.attr[rows[old], slots[old]], -1)
        self._count(router, attr_ids, 1)
        self.attr[rows, slots] = attr_ids
        self._dirty[rows] = True
        self.paths += added
        self._router_paths[router] = self._router_paths.get(router, 0) + added
        return added, ids

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
        prefixes, path_ids = nlri_columns(nlri)
        if isinstance(path_ids, int):
            path_ids = [path_ids] * len(prefixes)
        return self.remove_columns(router, prefixes, path_ids)

    def remove_columns(self, router: int, prefixes: Sequence[str], path_ids: Sequence[int]) -> int:
        """Removes the paths ``(prefixes[i], path_ids[i])``; returns how many existed."""
        get = self.prefix_index.get
        # Unknown prefixes become row -1 and are dropped in numpy, not in Python:
        # the lookup runs once per withdrawn path.
        rows = np.fromiter(map(get, prefixes, repeat(-1)), dtype=np.int64, count=len(prefixes))
        keys = np.array(path_ids, dtype=np.uint64) | np.uint64((router + 1) << 32)
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
        self._count(router, self.attr[rows, slots], -1)
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
        self._router_providers.pop(router, None)
        return removed

    def provider_as_path(self, row: int, provider: int) -> tuple[int, ...] | None:
        """The AS path of ``provider``'s first path in ``row``, if it has one there (read by
        the row's attribute ids: no attribute set is looked up again)."""
        for slot in range(self.slots):
            if int(self.key[row, slot]):
                attr_id = int(self.attr[row, slot])
                if self.provider_of_attributes(attr_id) == provider:
                    return tuple(self.attributes.get(attr_id).as_path)
        return None

    def drop_path_ids(self, router: int, path_ids: Collection[int]) -> int:
        """Removes every path learned from a router whose add-path id is one of ``path_ids``,
        whatever its prefix (a BMP peer went down); returns how many existed.

        One pass over the key column, as :meth:`drop_router`, a block of rows at a time so
        that its temporaries stay small beside a full table: each slot's key is looked up
        among the sorted keys wanted, whatever their number."""
        ids = np.fromiter(path_ids, dtype=np.uint64, count=len(path_ids))
        ids = ids[ids <= _MAX_U32]  # a key holds 32 bits of path id: no other one is held
        if not len(ids):
            return 0
        keys = np.unique(ids | np.uint64((router + 1) << 32))
        last = len(keys) - 1
        removed = 0
        n = len(self.prefix_list)
        for start in range(0, n, _DROP_BLOCK):
            end = min(start + _DROP_BLOCK, n)
            block = self.key[start:end]
            found = keys[np.minimum(np.searchsorted(keys, block), last)] == block
            rows = np.flatnonzero(found.any(axis=1))
            if not len(rows):
                continue
            block[found] = _EMPTY
            self._count(router, self.attr[start:end][found], -1)
            self.attr[start:end][found] = 0
            self._dirty[start + rows] = True
            removed += int(found.sum())
        self.paths -= removed
        self._router_paths[router] = self._router_paths.get(router, 0) - removed
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
        cached = self._best_cache
        if not len(dirty) and cached is not None and cached[0] == n:
            # Nothing changed since: every round asks, and on a full table the copies
            # below were a tenth of a second of the event loop each time.
            return cached[1]
        if len(dirty) and self.attributes:
            self._unshare()
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
        if len(rows) == n:
            # Every row has a route (a table as it arrives): the columns themselves, not
            # copies of them. Copies were as large as the columns (54 MiB for 0.5M rows
            # of 14 providers), made at once by the first round on a whole table (#18).
            # The columns are copied before they are written again (_unshare).
            out = BestPaths(
                rows,
                self._has[:n],
                self._aslen[:n],
                self._best[:n].astype(np.int32),
                self._origin[:n],
            )
            self._shared = True
        else:
            out = BestPaths(
                rows,
                self._has[rows],
                self._aslen[rows],
                self._best[rows].astype(np.int32),
                self._origin[rows],
            )
        for column in (out.rows, out.has_route, out.as_path_len, out.bgp_best, out.origin_as):
            # Handed to every round (and to decide() on its thread) until a row changes:
            # nobody may write to it.
            column.flags.writeable = False
        self._best_cache = (n, out)
        return out

    def _unshare(self) -> None:
        """Before the best-path columns are written: a new copy of those a
        :class:`BestPaths` handed out reads, so that what it holds never changes."""
        if not self._shared:
            return
        n = min(len(self.prefix_list), self._cap)
        for name in _SHARED_COLUMNS:
            column = getattr(self, name)
            # Zeros, then the rows in use: the capacity past them stays free (calloc).
            fresh = np.zeros(column.shape, dtype=column.dtype)
            fresh[:n] = column[:n]
            setattr(self, name, fresh)
        self._shared = False

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
    """Interned attribute sets as growable columns, indexed by attribute id.

    New sets wait as tuples until a column is read (:meth:`_flush`): setting eight numpy
    values one at a time cost more than the rest of learning a new set. Their values are
    checked when they come, so a set that does not fit is refused then, not at the flush.
    """

    # LOCAL_PREF, MED (RFC 4271 sections 5.1.4-5) and an ASN (RFC 6793) are 4-octet
    # unsigned numbers on the wire: a set with one that is not is malformed. 29 bytes a
    # set, where int64 columns took 45 (350k sets in a 0.5M-path table).
    _FIELDS = (
        ("provider", np.int32),
        ("local_pref", np.uint32),
        ("aslen", np.int32),
        ("origin", np.int8),
        ("med", np.uint32),
        ("first_as", np.uint32),
        ("next_hop", np.int32),
        ("last_as", np.uint32),
    )

    def __init__(self) -> None:
        self.n = 0
        self._cap = 256
        self._pending: list[tuple[int, ...]] = []
        self.providers = array.array("i")
        """The provider column as a Python array, for questions about one set at a time
        (4 bytes a set, where a list takes 8)."""
        for name, dtype in self._FIELDS:
            setattr(self, "_" + name, np.zeros(self._cap, dtype=dtype))

    def append(self, *values: int) -> None:
        # The provider, AS path length and next-hop index are the table's own ints; the
        # values from the update are checked here, without a loop (this runs for every
        # new attribute set).
        _, local_pref, _, origin, med, first_as, _, last_as = values
        lo, hi = _U32
        if not (
            type(origin) is int
            and -128 <= origin <= 127
            and type(local_pref) is int
            and lo <= local_pref <= hi
            and type(med) is int
            and lo <= med <= hi
            and type(first_as) is int
            and lo <= first_as <= hi
            and type(last_as) is int
            and lo <= last_as <= hi
        ):
            values = self._checked(values)
        self._pending.append(values)
        self.providers.append(values[0])
        self.n += 1
        if len(self._pending) >= _PENDING_SETS:
            self._flush()

    def _checked(self, values: tuple[int, ...]) -> tuple[int, ...]:
        """The values as numpy stores them; OverflowError or TypeError (as numpy raises
        them) when one does not fit its column."""
        out = []
        for (_, dtype), value in zip(self._FIELDS, values, strict=True):
            cell = np.zeros(1, dtype=dtype)
            cell[0] = value
            out.append(int(cell[0]))
        return tuple(out)

    def _flush(self) -> None:
        pending = self._pending
        if not pending:
            return
        start = self.n - len(pending)
        if self.n > self._cap:
            while self._cap < self.n:
                self._cap *= 2
            for name, dtype in self._FIELDS:
                # Zeros (calloc) and the sets held, not np.resize: it fills the new
                # capacity with repeats, making all of it resident at once.
                column = np.zeros(self._cap, dtype=dtype)
                column[:start] = object.__getattribute__(self, "_" + name)[:start]
                setattr(self, "_" + name, column)
        block = np.array(pending, dtype=np.int64)
        for j, (name, _) in enumerate(self._FIELDS):
            object.__getattribute__(self, "_" + name)[start : self.n] = block[:, j]
        pending.clear()

    def at(self, name: str, index: int) -> int:
        """One value of a column (without slicing the column first, as the attribute does)."""
        if not 0 <= index < self.n:
            raise IndexError(index)
        if name == "provider":
            return self.providers[index]
        self._flush()
        return int(object.__getattribute__(self, "_" + name)[index])

    def __getattr__(self, name: str) -> np.ndarray:
        if name.startswith("_"):
            raise AttributeError(name)
        self._flush()
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


def _parse_prefix(prefix: str) -> tuple[int, int, int, int]:
    """(is IPv6, address or its high 64 bits, low 64 bits, length) of a prefix's text;
    ValueError when it is not one."""
    addr, _, length = prefix.partition("/")
    try:
        if ":" in addr:
            value = int.from_bytes(socket.inet_pton(socket.AF_INET6, addr), "big")
            plen = int(length or 128)
            if not 0 <= plen <= 128:
                raise ValueError(f"bad prefix length in {prefix!r}")
            return 1, value >> 64, value & _LOW64, plen
        value = int.from_bytes(socket.inet_pton(socket.AF_INET, addr), "big")
    except OSError as exc:
        raise ValueError(f"bad prefix {prefix!r}") from exc
    plen = int(length or 32)
    if not 0 <= plen <= 32:
        raise ValueError(f"bad prefix length in {prefix!r}")
    return 0, value, 0, plen


_LOW64 = (1 << 64) - 1
_PENDING_SETS = 4096
"""New attribute sets held as tuples before their columns are written: a whole table's
(hundreds of thousands) would cost more memory than the columns themselves."""
_U32 = (0, (1 << 32) - 1)


def _ip_sort(address: str) -> tuple[int, int]:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return (9, 0)
    return (ip.version, int(ip))
