"""An in-memory lease for tests: instances made on one ``MemoryLease`` share it, the
way instances share a database; ``fail`` makes every call of one instance fail."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from routepilot.ha.lease import LeaseState, Peer
from routepilot.store.base import StoreError


@dataclass
class _Shared:
    holder: str | None = None
    epoch: int = 0
    expires_at: float = 0.0
    nodes: dict[str, Peer] = field(default_factory=dict)


class MemoryLease:
    """One instance's view of a shared lease (``peer()`` makes another's)."""

    def __init__(self, clock: Callable[[], float] = time.time, shared: _Shared | None = None):
        self.clock = clock
        self.shared = shared or _Shared()
        self.fail = False
        self.calls = 0

    def peer(self) -> MemoryLease:
        return MemoryLease(self.clock, self.shared)

    def _check(self) -> None:
        self.calls += 1
        if self.fail:
            raise StoreError("memory lease: cut off")

    def _state(self, node: str, api_url: str, held: bool) -> LeaseState:
        s = self.shared
        now = self.clock()
        s.nodes[node] = Peer(node, "active" if held else "standby", s.epoch if held else 0,
                             api_url, now)  # fmt: skip
        peers = tuple(s.nodes[n] for n in sorted(s.nodes))
        return LeaseState(s.holder, s.epoch, s.expires_at, now, held, peers)

    def acquire(self, node: str, lease_s: float, api_url: str) -> LeaseState:
        self._check()
        s, now = self.shared, self.clock()
        took = s.holder is None or s.expires_at < now
        if took:
            s.holder, s.epoch, s.expires_at = node, s.epoch + 1, now + lease_s
        return self._state(node, api_url, took)

    def renew(self, node: str, epoch: int, lease_s: float, api_url: str) -> LeaseState:
        self._check()
        s = self.shared
        held = s.holder == node and s.epoch == epoch
        if held:
            s.expires_at = self.clock() + lease_s
        return self._state(node, api_url, held)

    def release(self, node: str, epoch: int) -> None:
        self._check()
        s = self.shared
        if s.holder == node and s.epoch == epoch:
            s.expires_at = self.clock()

    def close(self) -> None:
        pass
