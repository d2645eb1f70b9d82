"""Which provider each record left through: by (exporter, output ifIndex) or by next-hop.

Configured interfaces win (they are explicit); a record whose interface is not
configured is matched on its BGP (or IP) next-hop against the providers'
next-hops. Everything is a vectorised lookup over the whole batch.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence

import numpy as np

from routepilot.config.models import ProviderConfig
from routepilot.flows.records import FlowBatch

MAX_PROVIDERS = 31
"""Provider slots are 5 bits of the aggregation key (slot 31 is "unattributed")."""


class ProviderMap:
    """Vectorised provider attribution; slot ``len(providers)`` means "none matched"."""

    def __init__(
        self, providers: Sequence[ProviderConfig], exporter_id: Callable[[str], int | None]
    ) -> None:
        if len(providers) > MAX_PROVIDERS:
            raise ValueError(f"at most {MAX_PROVIDERS} providers are supported")
        self.names = tuple(p.name for p in providers)
        self.unattributed = len(providers)
        if_keys: dict[int, int] = {}
        nh4: dict[int, int] = {}
        self.nh6: list[tuple[int, int, int]] = []
        for slot, p in enumerate(providers):
            for fi in p.flow_interfaces:
                eid = exporter_id(fi.exporter)
                if eid is not None:
                    if_keys[(eid << 32) | fi.ifindex] = slot
            for nh in p.next_hops:
                ip = ipaddress.ip_address(nh)
                if ip.version == 4:
                    nh4[int(ip)] = slot
                else:
                    self.nh6.append((int(ip) >> 64, int(ip) & (2**64 - 1), slot))
        self._if_keys = np.array(sorted(if_keys), dtype=np.uint64)
        self._if_slots = np.array([if_keys[k] for k in sorted(if_keys)], dtype=np.int64)
        self._nh4_keys = np.array(sorted(nh4), dtype=np.uint32)
        self._nh4_slots = np.array([nh4[k] for k in sorted(nh4)], dtype=np.int64)

    def attribute(self, batch: FlowBatch) -> np.ndarray:
        """Provider slot per record."""
        n = len(batch)
        slot = np.full(n, self.unattributed, dtype=np.int64)
        if len(self._nh4_keys):
            _match(slot, batch.nh4, self._nh4_keys, self._nh4_slots)
        for hi, lo, s in self.nh6:
            slot[(batch.nh6_hi == np.uint64(hi)) & (batch.nh6_lo == np.uint64(lo))] = s
        if len(self._if_keys):
            keys = (batch.exporter.astype(np.uint64) << np.uint64(32)) | batch.out_if.astype(
                np.uint64
            )
            _match(slot, keys, self._if_keys, self._if_slots)
        return slot


def _match(slot: np.ndarray, values: np.ndarray, keys: np.ndarray, slots: np.ndarray) -> None:
    pos = np.minimum(np.searchsorted(keys, values), len(keys) - 1)
    hit = keys[pos] == values
    slot[hit] = slots[pos[hit]]
